//! Softmax along one axis (`softmax`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::activation;
use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, check_axis, one};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Softmax along one axis of the value (axes counted without the batch; 0 for features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    /// The axis.
    #[serde(default)]
    pub axis: usize,
}

impl OpDef for Softmax {
    fn kind(&self) -> String {
        "softmax".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        if self.axis == 0 { Footprint::Same } else { Footprint::Whole }
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        check_axis(self.axis, ins[0])?;
        Ok(ins[0].clone())
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(SoftmaxKernel { axis: cx.at(self.axis), shape: cx.shape() })
    }
}

/// Along an axis of the `[batch, a, b, c, d]` form.
#[derive(Debug, Clone)]
struct SoftmaxKernel {
    axis: usize,
    shape: Vec<usize>,
}

impl Kernel for SoftmaxKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::from5(activation::softmax(one(&mut inputs)?.to5(&self.shape), self.axis), &self.shape))
    }
}
