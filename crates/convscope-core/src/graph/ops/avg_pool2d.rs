//! Average pooling over a 2-D window (`avg_pool2d`), dilated windows included.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{
    Tensor, TensorData,
    module::{avg_pool2d, conv2d},
    ops::{AvgPoolOptions, ConvOptions},
};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Padding2d, Redirect, is_undilated, one, pad::cut, pad_pairs, undilated, window_shape};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Average pooling over a 2-D window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvgPool2d {
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Per-side zero padding.
    pub padding: Padding2d,
    /// Count padded cells in the denominator.
    pub count_include_pad: bool,
    /// Round output size up instead of down.
    pub ceil_mode: bool,
    /// Dilation `[dh, dw]`.
    #[serde(default = "undilated", skip_serializing_if = "is_undilated")]
    pub dilation: [usize; 2],
}

impl AvgPool2d {
    /// The mean over a whole `h` x `w` map, kept as `[C, 1, 1]`.
    pub fn global(h: usize, w: usize) -> Self {
        AvgPool2d { kernel: [h, w], stride: [1, 1], padding: [[0, 0], [0, 0]], count_include_pad: false, ceil_mode: false, dilation: [1, 1] }
    }

    /// The pooling, its output `out` (height and width).
    pub(crate) fn kernel_of(&self, out: [usize; 2]) -> Rc<dyn Kernel> {
        let options = AvgPoolOptions {
            kernel_size: self.kernel,
            stride: self.stride,
            padding: pad_pairs(&self.padding),
            count_include_pad: self.count_include_pad,
            ceil_mode: self.ceil_mode,
        };
        if self.dilation == [1, 1] { Rc::new(AvgPoolKernel(options)) } else { Rc::new(DilatedAvgPool { options, dilation: self.dilation, out }) }
    }
}

impl OpDef for AvgPool2d {
    fn kind(&self) -> String {
        "avg_pool2d".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Window { kernel: self.kernel, stride: self.stride, padding: self.padding, dilation: self.dilation }
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        window_shape(ins, self.kernel, self.stride, &self.padding, self.dilation, self.ceil_mode)
    }

    fn props(&self) -> LayerProps {
        LayerProps { windowed: true, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        self.kernel_of([cx.out[1], cx.out[2]])
    }
}

#[derive(Debug, Clone)]
struct AvgPoolKernel(AvgPoolOptions<2>);

impl Kernel for AvgPoolKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::Spatial(avg_pool2d(one(&mut inputs)?.spatial("avg_pool2d")?, self.0.clone())))
    }
}

/// Dilated average pooling: a depthwise convolution with ones, divided by how many of its
/// taps fall on the input (or its padding, with `count_include_pad`).
#[derive(Debug, Clone)]
struct DilatedAvgPool {
    /// Window, stride, padding and what counts (`ceil_mode` is in `out`).
    options: AvgPoolOptions<2>,
    /// Dilation `[dh, dw]`.
    dilation: [usize; 2],
    /// Output height and width.
    out: [usize; 2],
}

impl Kernel for DilatedAvgPool {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.spatial("avg_pool2d")?;
        let (o, dilation, out) = (&self.options, self.dilation, self.out);
        let [_, c, h, w] = x.dims();
        let size = [h, w];
        let device = x.device();
        let mut canvas = x;
        let mut masks = vec![];
        for a in 0..2 {
            // Every window's taps lie in `len` cells from `before` cells ahead of the input.
            let len = (out[a] - 1) * o.stride[a] + dilation[a] * (o.kernel_size[a] - 1) + 1;
            let (before, after) = o.padding[a];
            canvas = cut(canvas, 2 + a, -(before as i64), len);
            let (lo, hi) = if o.count_include_pad { (0, before + size[a] + after) } else { (before, before + size[a]) };
            masks.push((0..len).map(|i| if (lo..hi).contains(&i) { 1.0f32 } else { 0.0 }).collect::<Vec<_>>());
        }
        let mask: Vec<f32> = masks[0].iter().flat_map(|r| masks[1].iter().map(move |q| r * q)).collect();
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [1, 1, masks[0].len(), masks[1].len()]), &device);
        let [kh, kw] = o.kernel_size;
        let sum = conv2d(canvas, Tensor::ones([c, 1, kh, kw], &device), None, ConvOptions::new(o.stride, [0, 0], dilation, c));
        let count = conv2d(mask, Tensor::ones([1, 1, kh, kw], &device), None, ConvOptions::new(o.stride, [0, 0], dilation, 1));
        Ok(Value::Spatial(sum / count))
    }
}
