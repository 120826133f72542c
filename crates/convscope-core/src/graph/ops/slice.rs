//! Ranges of axes (`slice`): ONNX's Slice, Split's parts, channel halves.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, check_axis, one};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Elements `start, start + step, ...` below `end` of one axis (without the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// The axis.
    pub axis: usize,
    /// First element.
    pub start: usize,
    /// One past the last element considered.
    pub end: usize,
    /// Distance between elements kept (at least 1).
    pub step: usize,
}

/// The value cut to a range of some of its axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// One range per axis cut.
    pub ranges: Vec<Range>,
}

impl OpDef for Slice {
    fn kind(&self) -> String {
        "slice".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let mut out = ins[0].clone();
        for r in &self.ranges {
            check_axis(r.axis, ins[0])?;
            if r.step == 0 || r.start >= r.end || r.end > ins[0][r.axis] {
                return Err(format!("range {}..{} step {} of axis {} (size {})", r.start, r.end, r.step, r.axis, ins[0][r.axis]));
            }
            out[r.axis] = (r.end - r.start).div_ceil(r.step);
        }
        Ok(out)
    }

    fn props(&self) -> LayerProps {
        // A cut of height or width is for one input size.
        let spatial_cut = |r: &Range| r.axis >= 1;
        LayerProps { flattens: self.ranges.iter().any(spatial_cut), ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let device = cx.device.clone();
        let ranges = self
            .ranges
            .iter()
            .map(|r| {
                let picks = (r.step > 1).then(|| {
                    let idx: Vec<i32> = (0..(r.end - r.start).div_ceil(r.step)).map(|k| (k * r.step) as i32).collect();
                    let n = idx.len();
                    Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &device)
                });
                (cx.at(r.axis), r.start, r.end - r.start, picks)
            })
            .collect();
        Rc::new(SliceKernel { ranges, shape: cx.shape(), out: cx.out.to_vec() })
    }
}

/// Per range: the axis of the `[batch, a, b, c, d]` form, start, length, and the picks
/// within it when the step is over 1.
#[derive(Debug, Clone)]
struct SliceKernel {
    ranges: Vec<(usize, usize, usize, Option<Tensor<1, Int>>)>,
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for SliceKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let mut t = one(&mut inputs)?.to5(&self.shape);
        for (axis, start, len, picks) in &self.ranges {
            t = t.narrow(*axis, *start, *len);
            if let Some(p) = picks {
                t = t.select(*axis, p.clone());
            }
        }
        Ok(Value::from5(t, &self.out))
    }
}
