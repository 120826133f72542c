//! 2-D convolution (`conv2d`), with an activation folded in.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Tensor, module::conv2d, ops::ConvOptions};
use serde::{Deserialize, Serialize};

use super::{
    Activation, Kernel, LayerProps, Lowering, OpDef, Padding2d, Redirect, arity, check_bias, check_steps, is_undilated, like, one, pad_pairs,
    redirected_spatial, spatial, weight, window_out,
};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    kernels::{self, Conv, Geometry},
    rng::Rng,
    tensor_data::HostTensor,
};

/// 2-D convolution. `weight` is `[out, in / groups, kh, kw]`, `bias` is `[out]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Kernel tensor name.
    pub weight: String,
    /// Bias tensor name.
    pub bias: Option<String>,
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Per-side zero padding.
    pub padding: Padding2d,
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Channel groups (`in` channels for depthwise).
    pub groups: usize,
    /// Activation applied to the output (set when a following activation is folded in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Activation>,
}

impl OpDef for Conv2d {
    fn kind(&self) -> String {
        let base = if self.groups > 1 { "conv2d (grouped)" } else { "conv2d" };
        match self.act {
            Some(a) => format!("{base}+{}", a.name()),
            None => base.into(),
        }
    }

    fn weights(&self) -> Vec<&str> {
        std::iter::once(self.weight.as_str()).chain(self.bias.as_deref()).collect()
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let [c, h, wd] = spatial(ins[0])?;
        let w = weight(weights, &self.weight)?;
        let [o, i, kh, kw] = match w.shape.as_slice() {
            [a, b, c, d] => [*a, *b, *c, *d],
            s => return Err(format!("kernel must be [out, in, kh, kw], got {s:?}")),
        };
        let groups = self.groups;
        if groups == 0 || c % groups != 0 || o % groups != 0 || i * groups != c {
            return Err(format!("kernel {:?} with {groups} groups does not fit {c} input channels", w.shape));
        }
        check_bias(weights, &self.bias, o)?;
        check_steps(&[kh, kw], &self.stride, &self.dilation)?;
        let oh = window_out(h, self.padding[0], kh, self.stride[0], self.dilation[0], false);
        let ow = window_out(wd, self.padding[1], kw, self.stride[1], self.dilation[1], false);
        match (oh, ow) {
            (Some(oh), Some(ow)) => Ok(vec![o, oh, ow]),
            _ => Err(format!("kernel {kh}x{kw} does not fit input {h}x{wd}")),
        }
    }

    fn props(&self) -> LayerProps {
        LayerProps { rectified: self.act.is_some_and(|a| a.rectified()), weighted: true, flattens: false, windowed: true }
    }

    fn footprint(&self, weights: &HashMap<String, HostTensor>) -> Footprint {
        match weights.get(&self.weight).map(|w| w.shape.as_slice()) {
            Some([_, _, kh, kw]) => Footprint::Window { kernel: [*kh, *kw], stride: self.stride, padding: self.padding, dilation: self.dilation },
            _ => Footprint::Whole,
        }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let weight = cx.upload(&self.weight);
        let [o, i, kh, kw] = weight.dims();
        // The shapes convscope's own kernels take, where they run.
        let fast = if i == 1 && self.groups == o && o > 1 && is_undilated(&self.dilation) {
            Some(Conv::Depthwise(Geometry { kernel: [kh, kw], stride: self.stride, padding: self.padding }))
        } else if [kh, kw, self.groups] == [1, 1, 1] && self.stride == [1, 1] && self.padding == [[0, 0], [0, 0]] {
            Some(Conv::Pointwise)
        } else if self.groups == 1 && is_undilated(&self.dilation) {
            Conv::direct(i, Geometry { kernel: [kh, kw], stride: self.stride, padding: self.padding })
        } else {
            None
        };
        Rc::new(Conv2dKernel {
            weight,
            fast,
            bias: self.bias.as_ref().map(|b| cx.upload(b)),
            options: ConvOptions::new_with_padding(self.stride, pad_pairs(&self.padding), self.dilation, self.groups),
            act: self.act,
        })
    }
}

#[derive(Debug, Clone)]
struct Conv2dKernel {
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    fast: Option<Conv>,
    act: Option<Activation>,
}

impl Kernel for Conv2dKernel {
    fn apply(&self, mut inputs: Vec<Value>, redirect: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.spatial("conv2d")?;
        if let Some(conv) = self.fast.filter(|_| kernels::runs_on(&x)) {
            // The clamp is fused unless its gradient is redirected.
            let fused = self.act.filter(|_| redirect == Redirect::Off).and_then(|a| a.clamp());
            let y = kernels::conv2d(x, self.weight.clone(), self.bias.clone(), conv, fused);
            return Ok(Value::Spatial(match self.act {
                Some(a) if fused.is_none() => redirected_spatial(y, a, redirect),
                _ => y,
            }));
        }
        let y = conv2d(x, self.weight.clone(), self.bias.clone(), self.options.clone());
        Ok(Value::Spatial(match self.act {
            Some(a) => redirected_spatial(y, a, redirect),
            None => y,
        }))
    }

    fn label(&self) -> Option<&'static str> {
        Some(match self.fast.filter(|_| kernels::enabled()) {
            Some(Conv::Depthwise(_)) => "conv2d, depthwise kernel",
            Some(Conv::Pointwise) => "conv2d 1x1, matrix product",
            Some(Conv::Direct(_)) => "conv2d, direct kernel",
            None => "conv2d, burn's",
        })
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(Conv2dKernel { weight: like(&self.weight, rng), bias: self.bias.as_ref().map(|b| like(b, rng)), ..self.clone() }))
    }
}
