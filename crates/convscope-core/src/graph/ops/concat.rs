//! Concatenation along one axis (`concat`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Concatenation along one axis (without the batch; 0 is channels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concat {
    /// The axis.
    #[serde(default)]
    pub axis: usize,
}

impl OpDef for Concat {
    fn kind(&self) -> String {
        "concat".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        // Channels side by side; another axis moves positions.
        if self.axis == 0 { Footprint::Same } else { Footprint::Whole }
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        let axis = self.axis;
        let first = ins.first().ok_or("needs at least one input")?;
        if axis >= first.len() {
            return Err(format!("axis {axis} of {first:?}"));
        }
        let mut shape = (*first).clone();
        shape[axis] = 0;
        for s in ins {
            let same = s.len() == first.len() && (0..s.len()).all(|k| k == axis || s[k] == first[k]);
            if !same {
                return Err(format!("shapes {first:?} and {s:?} differ outside axis {axis}"));
            }
            shape[axis] += s[axis];
        }
        Ok(shape)
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(ConcatKernel { axis: cx.at(self.axis), ins: cx.ins.to_vec(), out: cx.out.to_vec() })
    }
}

/// Along an axis of the `[batch, a, b, c, d]` form.
#[derive(Debug, Clone)]
struct ConcatKernel {
    axis: usize,
    ins: Vec<Vec<usize>>,
    out: Vec<usize>,
}

impl Kernel for ConcatKernel {
    fn apply(&self, inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        // Channels of feature maps, or features: the values' own rank.
        if self.axis + self.out.len() == 5 && matches!(self.out.len(), 1 | 3) {
            return Ok(match inputs.first() {
                Some(Value::Spatial(_)) => Value::Spatial(Tensor::cat(inputs.into_iter().map(|v| v.spatial("concat")).collect::<Result<_>>()?, 1)),
                _ => Value::Flat(Tensor::cat(inputs.into_iter().map(|v| v.flat("concat")).collect::<Result<_>>()?, 1)),
            });
        }
        // Constants are nodes repeated over the batch, so every part has the batch.
        let parts = inputs.into_iter().zip(&self.ins).map(|(v, s)| v.to5(s)).collect();
        Ok(Value::from5(Tensor::cat(parts, self.axis), &self.out))
    }
}
