//! Max or average pooling over a 3-D window (`pool3d`), as a 2-D pooling then a 1-D one.

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, avg_pool2d::AvgPool2d, check_steps, max_pool2d::MaxPool2d, one, window_out};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Max or average pooling over a 3-D window of `[C, D, H, W]`, separably (height and
/// width, then depth: both poolings are separable, padded cells never win or count).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool3d {
    /// Max (else average) pooling.
    pub max: bool,
    /// Window `[kd, kh, kw]`.
    pub kernel: [usize; 3],
    /// Stride `[sd, sh, sw]`.
    pub stride: [usize; 3],
    /// Per-side padding `[[front, back], [top, bottom], [left, right]]`.
    pub padding: [[usize; 2]; 3],
    /// Dilation `[dd, dh, dw]` (max pooling only).
    pub dilation: [usize; 3],
    /// Round output sizes up.
    pub ceil_mode: bool,
    /// Count padded cells in an average's denominator.
    pub count_include_pad: bool,
}

impl OpDef for Pool3d {
    fn kind(&self) -> String {
        if self.max { "max_pool3d" } else { "avg_pool3d" }.into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let [c, d, h, w] = match ins[0].as_slice() {
            [c, d, h, w] => [*c, *d, *h, *w],
            s => return Err(format!("needs [C, D, H, W], got {s:?}")),
        };
        check_steps(&self.kernel, &self.stride, &self.dilation)?;
        let mut out = vec![c];
        for (a, size) in [d, h, w].into_iter().enumerate() {
            out.push(
                window_out(size, self.padding[a], self.kernel[a], self.stride[a], self.dilation[a], self.ceil_mode)
                    .ok_or_else(|| format!("window {:?} does not fit {:?}", self.kernel, ins[0]))?,
            );
        }
        Ok(out)
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let (k, s, p, d) = (self.kernel, self.stride, self.padding, self.dilation);
        let out = cx.out.to_vec();
        let (hw, depth) = if self.max {
            let pool = |kernel, stride, padding, dilation| MaxPool2d { kernel, stride, padding, dilation, ceil_mode: self.ceil_mode }.kernel_of();
            (pool([k[1], k[2]], [s[1], s[2]], [p[1], p[2]], [d[1], d[2]]), pool([k[0], 1], [s[0], 1], [p[0], [0, 0]], [d[0], 1]))
        } else {
            let pool = |kernel, stride, padding, dilation, out| {
                AvgPool2d { kernel, stride, padding, dilation, ceil_mode: self.ceil_mode, count_include_pad: self.count_include_pad }.kernel_of(out)
            };
            (
                pool([k[1], k[2]], [s[1], s[2]], [p[1], p[2]], [d[1], d[2]], [out[2], out[3]]),
                pool([k[0], 1], [s[0], 1], [p[0], [0, 0]], [d[0], 1], [out[1], out[2] * out[3]]),
            )
        };
        Rc::new(Pool3dKernel { hw, depth, shape: cx.shape(), out })
    }
}

/// 3-D pooling of `[C, D, H, W]` as a pooling of height and width, then one of depth (of
/// `[batch * C, 1, D, H * W]`).
#[derive(Debug, Clone)]
struct Pool3dKernel {
    hw: Rc<dyn Kernel>,
    depth: Rc<dyn Kernel>,
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for Pool3dKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.to5(&self.shape);
        let [b, c, d, h, w] = x.dims();
        let y = self.hw.apply(vec![Value::Spatial(x.reshape([b, c * d, h, w]))], Redirect::Off)?.spatial("pool3d")?;
        let [_, _, h2, w2] = y.dims();
        let z = self.depth.apply(vec![Value::Spatial(y.reshape([b * c, 1, d, h2 * w2]))], Redirect::Off)?.spatial("pool3d")?;
        Ok(Value::from_rows(z.reshape([b as i64, -1]), &self.out))
    }
}
