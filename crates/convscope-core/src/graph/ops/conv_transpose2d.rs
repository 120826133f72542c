//! 2-D transposed convolution (`conv_transpose2d`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Tensor, module::conv_transpose2d, ops::ConvTransposeOptions};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, check_bias, check_steps, like, one, pad::cut, spatial, weight};
use crate::{
    Result,
    graph::{LayerShape, Value},
    rng::Rng,
    tensor_data::HostTensor,
};

/// 2-D transposed convolution. `weight` is `[in, out / groups, kh, kw]`; the full output
/// (`(in - 1) * stride + dilation * (k - 1) + 1` a side, zero beyond it) is cut to `size`
/// starting at `begin` (negative: zeros before it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvTranspose2d {
    /// Kernel tensor name.
    pub weight: String,
    /// Bias tensor name, `[out]`.
    pub bias: Option<String>,
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// First row and column of the output in the full result.
    pub begin: [i64; 2],
    /// Output height and width.
    pub size: [usize; 2],
}

impl OpDef for ConvTranspose2d {
    fn kind(&self) -> String {
        "conv_transpose2d".into()
    }

    fn weights(&self) -> Vec<&str> {
        std::iter::once(self.weight.as_str()).chain(self.bias.as_deref()).collect()
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let [c, _, _] = spatial(ins[0])?;
        let groups = self.groups;
        let o = match weight(weights, &self.weight)?.shape.as_slice() {
            [i, o, _, _] if *i == c && groups > 0 && c % groups == 0 => o * groups,
            s => return Err(format!("kernel {s:?} with {groups} groups does not fit {c} input channels")),
        };
        check_bias(weights, &self.bias, o)?;
        check_steps(&[1], &self.stride, &self.dilation)?;
        if self.size.contains(&0) {
            return Err(format!("the output would be {}x{}", self.size[0], self.size[1]));
        }
        Ok(vec![o, self.size[0], self.size[1]])
    }

    fn props(&self) -> LayerProps {
        LayerProps { weighted: true, windowed: true, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(ConvTransposeKernel {
            weight: cx.upload(&self.weight),
            bias: self.bias.as_ref().map(|b| cx.upload(b)),
            options: ConvTransposeOptions::new(self.stride, [0, 0], [0, 0], self.dilation, self.groups),
            begin: self.begin,
            size: self.size,
        })
    }
}

/// The full result cut to `size` from `begin`.
#[derive(Debug, Clone)]
struct ConvTransposeKernel {
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
    begin: [i64; 2],
    size: [usize; 2],
}

impl Kernel for ConvTransposeKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.spatial("conv_transpose2d")?;
        let y = conv_transpose2d(x, self.weight.clone(), None, self.options.clone());
        let y = cut(cut(y, 2, self.begin[0], self.size[0]), 3, self.begin[1], self.size[1]);
        Ok(Value::Spatial(match &self.bias {
            Some(b) => {
                let o = b.dims()[0];
                y + b.clone().reshape([1, o, 1, 1])
            }
            None => y,
        }))
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(ConvTransposeKernel { weight: like(&self.weight, rng), bias: self.bias.as_ref().map(|b| like(b, rng)), ..self.clone() }))
    }
}
