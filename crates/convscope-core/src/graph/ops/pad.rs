//! Padding (`pad`): constant, edge, reflect or wrap.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, one};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// How [`Pad`] fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// With the value.
    #[default]
    Constant,
    /// With the nearest edge's values.
    Edge,
    /// Mirrored, without repeating the edge.
    Reflect,
    /// From the other end.
    Wrap,
}

/// Padding: `pads[k]` values before and after axis `k` (without the batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pad {
    /// `[before, after]` per axis.
    pub pads: Vec<[usize; 2]>,
    /// The value padded with.
    pub value: f32,
    /// How the padding is filled.
    #[serde(default)]
    pub mode: PadMode,
}

impl OpDef for Pad {
    fn kind(&self) -> String {
        "pad".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        // Constant padding of height and width shifts the positions; other modes read
        // mirrored or wrapped pixels.
        match self.pads.as_slice() {
            [[0, 0], top, left] if self.mode == PadMode::Constant => {
                Footprint::Window { kernel: [1, 1], stride: [1, 1], padding: [*top, *left], dilation: [1, 1] }
            }
            _ => Footprint::Whole,
        }
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let (pads, mode) = (&self.pads, self.mode);
        if pads.len() != ins[0].len() {
            return Err(format!("{} pads for {:?}", pads.len(), ins[0]));
        }
        // Edge copies a slice, reflect and wrap need as many slices as they pad.
        let need = |d: usize, p: usize| match mode {
            PadMode::Constant => true,
            PadMode::Edge => d > 0 || p == 0,
            PadMode::Reflect => p < d,
            PadMode::Wrap => p <= d,
        };
        if ins[0].iter().zip(pads).any(|(&d, [a, b])| !need(d, *a) || !need(d, *b)) {
            return Err(format!("{mode:?} padding {pads:?} does not fit {:?}", ins[0]));
        }
        Ok(ins[0].iter().zip(pads).map(|(d, [a, b])| d + a + b).collect())
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let mut pads = [[0, 0]; 5];
        for (k, pad) in self.pads.iter().enumerate() {
            pads[cx.at(k)] = *pad;
        }
        Rc::new(PadKernel { pads, value: self.value, mode: self.mode, shape: cx.shape(), out: cx.out.to_vec() })
    }
}

/// Padding of the `[batch, a, b, c, d]` form's axes.
#[derive(Debug, Clone)]
struct PadKernel {
    pads: [[usize; 2]; 5],
    value: f32,
    mode: PadMode,
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for PadKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let mut t = one(&mut inputs)?.to5(&self.shape);
        for (axis, pad) in self.pads.iter().enumerate() {
            t = pad_axis(t, axis, *pad, self.mode, self.value);
        }
        Ok(Value::from5(t, &self.out))
    }
}

/// `n` slices to put before (`at_end` false) or after axis `axis` of `t`, as `mode` fills.
fn padding<const D: usize>(t: &Tensor<D>, axis: usize, n: usize, at_end: bool, mode: PadMode, value: f32) -> Tensor<D> {
    let len = t.dims()[axis];
    let slice = |i: usize| t.clone().narrow(axis, i, 1);
    match mode {
        PadMode::Constant => {
            let mut dims = t.dims();
            dims[axis] = n;
            Tensor::full(dims, value, &t.device())
        }
        PadMode::Edge => slice(if at_end { len - 1 } else { 0 }).repeat_dim(axis, n),
        PadMode::Wrap => t.clone().narrow(axis, if at_end { 0 } else { len - n }, n),
        PadMode::Reflect => {
            // Before: slices n, n-1, ..., 1; after: len-2, len-3, ..., len-1-n.
            let order: Vec<usize> = if at_end { (1..=n).map(|i| len - 1 - i).collect() } else { (1..=n).rev().collect() };
            Tensor::cat(order.into_iter().map(slice).collect(), axis)
        }
    }
}

/// `t` with `before` and `after` slices added around axis `axis`, as `mode` fills.
pub(crate) fn pad_axis<const D: usize>(t: Tensor<D>, axis: usize, [before, after]: [usize; 2], mode: PadMode, value: f32) -> Tensor<D> {
    if before == 0 && after == 0 {
        return t;
    }
    let (b, a) = ((before > 0).then(|| padding(&t, axis, before, false, mode, value)), (after > 0).then(|| padding(&t, axis, after, true, mode, value)));
    Tensor::cat(b.into_iter().chain([t]).chain(a).collect(), axis)
}

/// Rows `begin..begin + size` of axis `axis`, zeros outside the tensor.
pub(crate) fn cut(t: Tensor<4>, axis: usize, begin: i64, size: usize) -> Tensor<4> {
    let len = t.dims()[axis] as i64;
    let (before, after) = ((-begin).max(0) as usize, (begin + size as i64 - len).max(0) as usize);
    pad_axis(t, axis, [before, after], PadMode::Constant, 0.0).narrow(axis, begin.max(0) as usize, size)
}
