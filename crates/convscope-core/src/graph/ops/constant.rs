//! A constant value (`constant`), repeated over the batch.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, one, weight};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// A constant value, the same for every element of the batch (the input is read only for
/// the batch size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constant {
    /// Tensor name, without batch.
    pub value: String,
}

impl OpDef for Constant {
    fn kind(&self) -> String {
        "constant".into()
    }

    fn weights(&self) -> Vec<&str> {
        vec![&self.value]
    }

    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        Ok(weight(weights, &self.value)?.shape.clone())
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(ConstantKernel { value: cx.upload_row(&self.value), out: cx.out.to_vec() })
    }
}

/// `[1, values]`, repeated over the batch.
#[derive(Debug, Clone)]
struct ConstantKernel {
    value: Tensor<2>,
    out: Vec<usize>,
}

impl Kernel for ConstantKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let b = one(&mut inputs)?.dims()[0];
        Ok(Value::from_rows(self.value.clone().repeat_dim(0, b), &self.out))
    }
}
