//! Matrix product with a constant (`mat_mul`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, broadcast, one, weight};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Matrix product of the input's last two axes with a constant `[..., K, N]` (its leading
/// axes broadcast against the input's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatMul {
    /// The right operand.
    pub weight: String,
}

impl OpDef for MatMul {
    fn kind(&self) -> String {
        "matmul".into()
    }

    fn weights(&self) -> Vec<&str> {
        vec![&self.weight]
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let w = &weight(weights, &self.weight)?.shape;
        let x = ins[0];
        if x.len() < 2 || w.len() < 2 || x[x.len() - 1] != w[w.len() - 2] {
            return Err(format!("cannot multiply {x:?} by {w:?}"));
        }
        let lead = broadcast(&x[..x.len() - 2], &w[..w.len() - 2])?;
        Ok(lead.into_iter().chain([x[x.len() - 2], w[w.len() - 1]]).collect())
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(MatMulKernel { weight: cx.upload5(&self.weight), shape: cx.shape(), out: cx.out.to_vec() })
    }
}

/// The constant as `[1, a, b, K, N]`.
#[derive(Debug, Clone)]
struct MatMulKernel {
    weight: Tensor<5>,
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for MatMulKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.to5(&self.shape);
        let [b, x1, x2, m, _] = x.dims();
        let [_, w1, w2, k, n] = self.weight.dims();
        // The leading axes broadcast (shape inference checked they do).
        let lead = [x1.max(w1), x2.max(w2)];
        let x = x.expand([b, lead[0], lead[1], m, k]);
        Ok(Value::from5(x.matmul(self.weight.clone().expand([b, lead[0], lead[1], k, n])), &self.out))
    }
}
