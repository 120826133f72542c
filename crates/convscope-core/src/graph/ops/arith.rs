//! Elementwise arithmetic with numpy broadcasting (`arith`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, broadcast, one, weight};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Elementwise arithmetic of [`Arith`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArithOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// a / b rounded toward zero (integer tensors)
    DivTrunc,
    /// a to the power b
    Pow,
    /// the larger of a and b
    Max,
    /// the smaller of a and b
    Min,
}

/// Elementwise `a op b` with numpy broadcasting (shapes aligned right, size-1 axes
/// stretched): of the input and the constant `constant` (`[...]` without batch; first
/// operand when `constant_first`), or of two inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arith {
    /// The operation.
    pub kind: ArithOp,
    /// Constant operand, or `None` for two inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// The constant is the left operand.
    #[serde(default)]
    pub constant_first: bool,
}

impl Arith {
    /// Of two inputs.
    pub fn of_two(kind: ArithOp) -> Self {
        Arith { kind, constant: None, constant_first: false }
    }
}

impl OpDef for Arith {
    fn kind(&self) -> String {
        format!("{:?}", self.kind).to_lowercase()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Same
    }

    fn weights(&self) -> Vec<&str> {
        self.constant.as_deref().into_iter().collect()
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        match &self.constant {
            Some(c) => {
                arity(ins, 1)?;
                let c = weight(weights, c)?;
                if c.shape.len() > ins[0].len() {
                    return Err(format!("the constant {:?} has more axes than the input {:?}", c.shape, ins[0]));
                }
                broadcast(ins[0], &c.shape)
            }
            None => {
                arity(ins, 2)?;
                broadcast(ins[0], ins[1])
            }
        }
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        let scalar = self.constant.as_ref().and_then(|c| cx.weights.peek(c)).filter(|t| t.data.len() == 1).map(|t| t.data[0]);
        Rc::new(ArithKernel {
            kind: self.kind,
            scalar: if self.constant_first { None } else { scalar },
            constant: self.constant.as_ref().map(|c| cx.upload5(c)),
            constant_first: self.constant_first,
            ins: cx.ins.to_vec(),
            out: cx.out.to_vec(),
        })
    }
}

/// The constant is `[1, a, b, c, d]` (aligned right).
#[derive(Debug, Clone)]
struct ArithKernel {
    kind: ArithOp,
    constant: Option<Tensor<5>>,
    /// The constant's one value, when it is the right operand.
    scalar: Option<f32>,
    constant_first: bool,
    ins: Vec<Vec<usize>>,
    out: Vec<usize>,
}

fn arith<const D: usize>(kind: ArithOp, a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    match kind {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::DivTrunc => {
            let q = a / b;
            q.clone().sign() * q.abs().floor()
        }
        ArithOp::Pow => a.powf(b),
        ArithOp::Max => a.max_pair(b),
        ArithOp::Min => a.min_pair(b),
    }
}

impl Kernel for ArithKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let y = match (&self.constant, self.scalar) {
            // Small integer powers as products: exact, and defined for negative bases on
            // every device (WGSL's pow is not).
            (Some(_), Some(p)) if self.kind == ArithOp::Pow && (p == 2.0 || p == 3.0 || p == 1.0) => {
                let x = one(&mut inputs)?.to5(&self.ins[0]);
                match p as i32 {
                    1 => x,
                    2 => x.clone() * x,
                    _ => x.clone() * x.clone() * x,
                }
            }
            (Some(_), Some(p)) if self.kind == ArithOp::Pow && p == 0.5 => one(&mut inputs)?.to5(&self.ins[0]).sqrt(),
            (Some(c), _) => {
                let x = one(&mut inputs)?.to5(&self.ins[0]);
                if self.constant_first { arith(self.kind, c.clone(), x) } else { arith(self.kind, x, c.clone()) }
            }
            (None, _) => {
                let b = one(&mut inputs)?.to5(&self.ins[1]);
                let a = one(&mut inputs)?.to5(&self.ins[0]);
                arith(self.kind, a, b)
            }
        };
        Ok(Value::from5(y, &self.out))
    }
}
