//! `[C, H, W] -> [C * H * W]` (`flatten`).

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Redirect, arity, one};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// `[C, H, W] -> [C * H * W]`, C outermost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flatten {}

impl OpDef for Flatten {
    fn kind(&self) -> String {
        "flatten".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        Ok(vec![ins[0].iter().product()])
    }

    fn props(&self) -> LayerProps {
        LayerProps { flattens: true, ..LayerProps::default() }
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(self.clone())
    }
}

impl Kernel for Flatten {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::Flat(one(&mut inputs)?.flatten()))
    }
}
