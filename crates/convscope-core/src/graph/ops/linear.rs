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
        let (o, i) = (w.shape[0], w.shape[1]);
        let mut wt = vec![0f32; o * i];
        for r in 0..o {
            for c in 0..i {
                wt[c * o + r] = w.data[r * i + c];
            }
        }
        Rc::new(LinearKernel { weight: Tensor::from_data(TensorData::new(wt, [i, o]), cx.device), bias: self.bias.as_ref().map(|b| cx.upload(b)) })
    }
}

/// Weight `[in, out]`, bias `[out]`.
#[derive(Debug, Clone)]
struct LinearKernel {
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
}

impl Kernel for LinearKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::Flat(linear(one(&mut inputs)?.flat("linear")?, self.weight.clone(), self.bias.clone())))
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(LinearKernel { weight: like(&self.weight, rng), bias: self.bias.as_ref().map(|b| like(b, rng)) }))
    }
}
