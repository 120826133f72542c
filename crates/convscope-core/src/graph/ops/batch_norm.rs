//! Inference batch normalisation (`batch_norm`), run as a per-channel affine map.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, like, one, weight};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    rng::Rng,
    tensor_data::HostTensor,
};

/// Inference batch normalisation over channels (axis 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Scale, `[C]`.
    pub gamma: String,
    /// Shift, `[C]`.
    pub beta: String,
    /// Running mean, `[C]`.
    pub mean: String,
    /// Running variance, `[C]`.
    pub var: String,
    /// Added to the variance.
    pub eps: f64,
}

/// Inference batch norm as a per-channel affine map `x * scale + shift`, with
/// `scale = g / sqrt(v + eps)` and `shift = beta - m * scale`.
pub fn batch_norm_affine(g: &[f32], beta: &[f32], m: &[f32], v: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = g.iter().zip(v).map(|(g, v)| g / (v + eps as f32).sqrt()).collect();
    let shift = (0..scale.len()).map(|c| beta[c] - m[c] * scale[c]).collect();
    (scale, shift)
}

impl OpDef for BatchNorm {
    fn kind(&self) -> String {
        "batch_norm".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Same
    }

    fn weights(&self) -> Vec<&str> {
        vec![&self.gamma, &self.beta, &self.mean, &self.var]
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        if ins[0].len() != 1 && ins[0].len() != 3 {
            return Err(format!("needs [C, H, W] or [F], got {:?}", ins[0]));
        }
        let c = ins[0][0];
        for n in [&self.gamma, &self.beta, &self.mean, &self.var] {
            let t = weight(weights, n)?;
            if t.shape != [c] {
                return Err(format!("`{n}` must be [{c}], got {:?}", t.shape));
            }
        }
        Ok(ins[0].clone())
    }

    fn props(&self) -> LayerProps {
        LayerProps { weighted: true, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let w = &mut *cx.weights;
        let (g, b, m, v) = (w.take(&self.gamma).data, w.take(&self.beta).data, w.take(&self.mean).data, w.take(&self.var).data);
        let (scale, shift) = batch_norm_affine(&g, &b, &m, &v, self.eps);
        let n = scale.len();
        Rc::new(Affine {
            scale: Tensor::from_data(TensorData::new(scale, [1, n]), cx.device),
            shift: Tensor::from_data(TensorData::new(shift, [1, n]), cx.device),
        })
    }
}

/// `x * scale + shift` per channel; both `[1, C]`.
#[derive(Debug, Clone)]
struct Affine {
    scale: Tensor<2>,
    shift: Tensor<2>,
}

impl Kernel for Affine {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(match one(&mut inputs)? {
            Value::Spatial(x) => {
                let [_, c] = self.scale.dims();
                Value::Spatial(x * self.scale.clone().reshape([1, c, 1, 1]) + self.shift.clone().reshape([1, c, 1, 1]))
            }
            Value::Flat(x) => Value::Flat(x * self.scale.clone() + self.shift.clone()),
        })
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(Affine { scale: like(&self.scale, rng), shift: like(&self.shift, rng) }))
    }
}
