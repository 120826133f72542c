//! Axes permuted (`transpose`).

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, one};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Axes permuted (without the batch): output axis `k` is input axis `perm[k]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transpose {
    /// The permutation.
    pub perm: Vec<usize>,
}

impl OpDef for Transpose {
    fn kind(&self) -> String {
        "transpose".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let mut seen = self.perm.clone();
        seen.sort_unstable();
        if seen != (0..ins[0].len()).collect::<Vec<_>>() {
            return Err(format!("{:?} is not a permutation of the axes of {:?}", self.perm, ins[0]));
        }
        Ok(self.perm.iter().map(|&a| ins[0][a]).collect())
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let mut perm = [0, 1, 2, 3, 4];
        for (k, &a) in self.perm.iter().enumerate() {
            perm[cx.at(k)] = cx.at(a);
        }
        Rc::new(TransposeKernel { perm, shape: cx.shape(), out: cx.out.to_vec() })
    }
}

/// A permutation of the `[batch, a, b, c, d]` form's axes.
#[derive(Debug, Clone)]
struct TransposeKernel {
    perm: [usize; 5],
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for TransposeKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::from5(one(&mut inputs)?.to5(&self.shape).permute(self.perm), &self.out))
    }
}
