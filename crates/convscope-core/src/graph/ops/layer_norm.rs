//! Layer normalisation over the last axes (`layer_norm`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, check_axis, like, one, weight};
use crate::{
    Result,
    graph::{LayerShape, Value},
    rng::Rng,
    tensor_data::HostTensor,
};

/// `(x - mean) / sqrt(var + eps) * scale + bias`, the mean and (biased) variance taken over
/// axes `axis..` (without the batch); `scale` and `bias` have those axes' values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNorm {
    /// First normalised axis.
    pub axis: usize,
    /// Scale tensor name.
    pub scale: String,
    /// Bias tensor name.
    pub bias: Option<String>,
    /// Added to the variance.
    pub eps: f32,
}

impl OpDef for LayerNorm {
    fn kind(&self) -> String {
        "layer_norm".into()
    }

    fn weights(&self) -> Vec<&str> {
        std::iter::once(self.scale.as_str()).chain(self.bias.as_deref()).collect()
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        check_axis(self.axis, ins[0])?;
        let inner: usize = ins[0][self.axis..].iter().product();
        for name in self.weights() {
            let n = weight(weights, name)?.len();
            if n != inner {
                return Err(format!("`{name}` has {n} values; the normalised axes {:?} have {inner}", &ins[0][self.axis..]));
            }
        }
        Ok(ins[0].clone())
    }

    fn props(&self) -> LayerProps {
        LayerProps { weighted: true, ..LayerProps::default() }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let row = |cx: &mut Lowering<'_>, name: &str| {
            let r = cx.upload_row(name);
            let n = r.dims()[1];
            r.reshape([1, 1, n])
        };
        Rc::new(LayerNormKernel {
            scale: row(cx, &self.scale),
            bias: self.bias.as_ref().map(|b| row(cx, b)),
            eps: self.eps,
            from: cx.at(self.axis),
            shape: cx.shape(),
        })
    }
}

/// On `[batch, outer, inner]`, the inner axes from axis `from` of the 5-D form; scale and
/// bias `[1, 1, inner]`.
#[derive(Debug, Clone)]
struct LayerNormKernel {
    scale: Tensor<3>,
    bias: Option<Tensor<3>>,
    eps: f32,
    from: usize,
    shape: Vec<usize>,
}

impl Kernel for LayerNormKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.to5(&self.shape);
        let dims = x.dims();
        let inner: usize = dims[self.from..].iter().product();
        let x: Tensor<3> = x.reshape([dims[0] as i64, -1, inner as i64]);
        let centred = x.clone() - x.mean_dim(2);
        let var = (centred.clone() * centred.clone()).mean_dim(2);
        let mut y = centred / (var + self.eps).sqrt() * self.scale.clone();
        if let Some(bias) = &self.bias {
            y = y + bias.clone();
        }
        Ok(Value::from5(y.reshape(dims), &self.shape))
    }

    fn randomized(&self, rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        Some(Rc::new(LayerNormKernel { scale: like(&self.scale, rng), bias: self.bias.as_ref().map(|b| like(b, rng)), ..self.clone() }))
    }
}
