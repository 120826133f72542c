//! Fully connected layer (`linear`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Tensor, TensorData, module::linear};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, check_bias, like, one, weight};
use crate::{
    Result,
    graph::{LayerShape, Value},
    rng::Rng,
    tensor_data::HostTensor,
};

/// Fully connected layer. `weight` is `[out, in]` (PyTorch / ONNX Gemm with transB=1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Weight tensor name, `[out, in]`.
    pub weight: String,
    /// Bias tensor name, `[out]`.
    pub bias: Option<String>,
}

impl OpDef for Linear {
    fn kind(&self) -> String {
        "linear".into()
    }

    fn weights(&self) -> Vec<&str> {
        std::iter::once(self.weight.as_str()).chain(self.bias.as_deref()).collect()
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let f = match ins[0].as_slice() {
            [f] => *f,
            s => return Err(format!("needs a flat input, got {s:?} (add a flatten node)")),
        };
        let o = match weight(weights, &self.weight)?.shape.as_slice() {
            [o, i] if *i == f => *o,
            s => return Err(format!("weight must be [out, {f}], got {s:?}")),
        };
        check_bias(weights, &self.bias, o)?;
        Ok(vec![o])
    }

    fn props(&self) -> LayerProps {
        LayerProps { weighted: true, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let w = cx.weights.take(&self.weight);
        let b = self.bias.as_ref().map(|b| cx.weights.take(b).data);
        let (o, i) = (w.shape[0], w.shape[1]);
        // Outputs in blocks of at most CHUNK values of weight, each its own buffer.
        let per = (CHUNK / i.max(1)).clamp(1, o);
        let parts = (0..o)
            .step_by(per)
            .map(|r0| {
                let r1 = (r0 + per).min(o);
                let n = r1 - r0;
                let mut wt = vec![0f32; n * i];
                for r in r0..r1 {
                    for c in 0..i {
                        wt[c * n + r - r0] = w.data[r * i + c];
                    }
                }
                let weight = Tensor::from_data(TensorData::new(wt, [i, n]), cx.device);
                let bias = b.as_ref().map(|b| Tensor::from_data(TensorData::new(b[r0..r1].to_vec(), [n]), cx.device));
                (weight, bias)
            })
            .collect();
        Rc::new(LinearKernel { parts })
    }
}

/// The most weight values one buffer holds (32 Mi, 128 MiB of f32: WebGPU's default
/// largest storage binding; AlexNet's and VGG's first classifier layers are larger).
const CHUNK: usize = 32 << 20;

/// Per block of outputs: weight `[in, outs]`, bias `[outs]`.
#[derive(Debug, Clone)]
struct LinearKernel {
    parts: Vec<(Tensor<2>, Option<Tensor<1>>)>,
}

impl Kernel for LinearKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.flat("linear")?;
        let mut outs: Vec<Tensor<2>> = self.parts.iter().map(|(w, b)| linear(x.clone(), w.clone(), b.clone())).collect();
        Ok(Value::Flat(if outs.len() == 1 { outs.pop().expect("one part") } else { Tensor::cat(outs, 1) }))
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(LinearKernel { parts: self.parts.iter().map(|(w, b)| (like(w, rng), b.as_ref().map(|b| like(b, rng)))).collect() }))
    }
}
