//! Pooling: MaxPool, AveragePool (2-D and 3-D), the global poolings.

use super::conv::{add_pads, window_pads};
use super::*;

pub(super) const OPS: &[(&str, Convert)] = &[
    ("MaxPool", |c, n| c.pool(n)),
    ("AveragePool", |c, n| c.pool(n)),
    ("GlobalAveragePool", |c, n| c.global_pool(n)),
    ("GlobalMaxPool", |c, n| c.global_pool(n)),
];

impl Converter<'_> {
    /// 3-D max or average pooling of `[C, D, H, W]`.
    pub(super) fn pool3d(&mut self, n: &NodeProto, x: Runtime) -> Result<()> {
        let size = [x.shape[1], x.shape[2], x.shape[3]];
        let three = |name: &str, default: usize| -> Result<[usize; 3]> {
            match ints(n, name).as_deref() {
                None => Ok([default; 3]),
                Some([a, b, c]) if [a, b, c].iter().all(|v| **v >= 1) => Ok([*a as usize, *b as usize, *c as usize]),
                Some(v) => Err(err(n, format!("`{name}` must be three positive numbers (3-D), got {}", short(v)))),
            }
        };
        let kernel = three("kernel_shape", 0)?;
        if kernel.contains(&0) {
            return Err(err(n, "`kernel_shape` is missing"));
        }
        let (stride, dilation) = (three("strides", 1)?, three("dilations", 1)?);
        let p = window_pads(n, &size, &kernel, &stride, &dilation)?;
        let padding = [p[0], p[1], p[2]];
        let max = n.op_type == "MaxPool";
        let op = OpSpec::Pool3d(Pool3d {
            max,
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode: int(n, "ceil_mode", 0) != 0,
            count_include_pad: int(n, "count_include_pad", 0) != 0,
        });
        let id = self.fresh_id(n);
        self.push(n, id, op, vec![x.id])
    }

    pub(super) fn pool(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.value(n, 0)?;
        if self.batched && x.shape.len() == 4 && x.pad.is_none() {
            return self.pool3d(n, x);
        }
        let [_, h, w] = self.spatial(n, &x)?;
        let kernel = match ints(n, "kernel_shape").as_deref() {
            Some([a, b]) if *a >= 1 && *b >= 1 => [*a as usize, *b as usize],
            k => return Err(err(n, format!("`kernel_shape` must be two positive numbers (2-D pooling), got {}", k.map_or("none".to_string(), short)))),
        };
        let stride = pair(n, "strides", ints(n, "strides"), 1)?;
        let dilation = pair(n, "dilations", ints(n, "dilations"), 1)?;
        let ceil_mode = int(n, "ceil_mode", 0) != 0;
        let mut padding = self.window_padding(n, [h, w], kernel, stride, dilation)?;
        let max = n.op_type == "MaxPool";
        if let Some(p) = x.pad {
            if max {
                return Err(err(n, "a zero Pad before MaxPool is not supported (max pooling pads with -inf)"));
            }
            if int(n, "count_include_pad", 0) == 0 && padding != [[0, 0], [0, 0]] {
                return Err(err(n, "a Pad before an AveragePool that pads itself without counting the padding is not supported"));
            }
            padding = add_pads(padding, p);
        }
        let id = self.fresh_id(n);
        let op = if max {
            OpSpec::MaxPool2d(MaxPool2d { kernel, stride, padding, dilation, ceil_mode })
        } else {
            let count_include_pad = int(n, "count_include_pad", 0) != 0 || x.pad.is_some();
            OpSpec::AvgPool2d(AvgPool2d { kernel, stride, padding, count_include_pad, ceil_mode, dilation })
        };
        self.push(n, id, op, vec![x.id])
    }

    /// Global pooling keeps ONNX's `[N, C, 1, 1]`: a window over the whole map.
    pub(super) fn global_pool(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let [_, h, w] = self.spatial(n, &x)?;
        let id = self.fresh_id(n);
        let op = if n.op_type == "GlobalMaxPool" {
            OpSpec::MaxPool2d(MaxPool2d { kernel: [h, w], stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], ceil_mode: false })
        } else {
            OpSpec::AvgPool2d(AvgPool2d::global(h, w))
        };
        self.push(n, id, op, vec![x.id])
    }
}
