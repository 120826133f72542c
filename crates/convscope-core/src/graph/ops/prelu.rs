//! Parametric ReLU (`prelu`): a learned slope below zero.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, broadcast, like, one, weight};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    rng::Rng,
    tensor_data::HostTensor,
};

/// `x` where `x > 0`, else `slope * x`; `slope` broadcasts against the value (numpy's rule,
/// usually one per channel as `[C, 1, 1]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PRelu {
    /// Slope tensor name.
    pub slope: String,
}

impl OpDef for PRelu {
    fn kind(&self) -> String {
        "prelu".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Same
    }

    fn weights(&self) -> Vec<&str> {
        vec![&self.slope]
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let s = &weight(weights, &self.slope)?.shape;
        let out = broadcast(ins[0], s)?;
        if &out != ins[0] {
            return Err(format!("the slope {s:?} does not broadcast to {:?}", ins[0]));
        }
        Ok(out)
    }

    fn props(&self) -> LayerProps {
        LayerProps { weighted: true, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(PReluKernel { slope: cx.upload5(&self.slope), shape: cx.shape() })
    }
}

/// The slope as `[1, a, b, c, d]` (aligned right).
#[derive(Debug, Clone)]
struct PReluKernel {
    slope: Tensor<5>,
    shape: Vec<usize>,
}

impl Kernel for PReluKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.to5(&self.shape);
        let y = x.clone().clamp_min(0.0) + x.clamp_max(0.0) * self.slope.clone();
        Ok(Value::from5(y, &self.shape))
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(PReluKernel { slope: like(&self.slope, rng), ..self.clone() }))
    }
}
