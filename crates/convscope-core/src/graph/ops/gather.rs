//! Elements of one axis picked by constant indices (`gather`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, check_axis, one};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Elements `indices` of axis `axis` (without the batch), in that order; with `drop` the
/// axis itself goes (one scalar index, as ONNX's Gather of a 0-D index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gather {
    /// The axis.
    pub axis: usize,
    /// Which elements, each below the axis' size.
    pub indices: Vec<usize>,
    /// The axis is removed (one index).
    #[serde(default)]
    pub drop: bool,
}

impl OpDef for Gather {
    fn kind(&self) -> String {
        "gather".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        check_axis(self.axis, ins[0])?;
        let size = ins[0][self.axis];
        if self.indices.is_empty() || self.indices.iter().any(|&i| i >= size) || (self.drop && self.indices.len() != 1) {
            return Err(format!("indices {:?} of axis {} (size {size})", self.indices, self.axis));
        }
        let mut out = ins[0].clone();
        if self.drop {
            out.remove(self.axis);
        } else {
            out[self.axis] = self.indices.len();
        }
        if out.is_empty() {
            out.push(1);
        }
        Ok(out)
    }

    fn props(&self) -> LayerProps {
        // Picks along height or width are for one input size.
        LayerProps { flattens: self.axis >= 1, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let idx: Vec<i32> = self.indices.iter().map(|&i| i as i32).collect();
        let n = idx.len();
        Rc::new(GatherKernel {
            axis: cx.at(self.axis),
            indices: Tensor::from_data(TensorData::new(idx, [n]), cx.device),
            shape: cx.shape(),
            out: cx.out.to_vec(),
        })
    }
}

/// Along an axis of the `[batch, a, b, c, d]` form.
#[derive(Debug, Clone)]
struct GatherKernel {
    axis: usize,
    indices: Tensor<1, Int>,
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for GatherKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::from5(one(&mut inputs)?.to5(&self.shape).select(self.axis, self.indices.clone()), &self.out))
    }
}
