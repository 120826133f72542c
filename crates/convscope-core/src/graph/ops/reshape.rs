//! Reshape to a fixed shape (`reshape`).

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, one};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Reshape to `shape` (without batch), same element count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// Target shape without the batch dimension.
    pub shape: Vec<usize>,
}

impl OpDef for Reshape {
    fn kind(&self) -> String {
        "reshape".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let (from, to): (usize, usize) = (ins[0].iter().product(), self.shape.iter().product());
        if from != to {
            return Err(format!("cannot reshape {:?} to {:?}", ins[0], self.shape));
        }
        Ok(self.shape.clone())
    }

    fn props(&self) -> LayerProps {
        LayerProps { flattens: true, ..LayerProps::default() }
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(self.clone())
    }
}

impl Kernel for Reshape {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::from_rows(one(&mut inputs)?.flatten(), &self.shape))
    }
}
