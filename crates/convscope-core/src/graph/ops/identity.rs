//! The identity (`identity`): dropout at inference, an output that is its input.

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, one};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Passes its input through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {}

impl OpDef for Identity {
    fn kind(&self) -> String {
        "identity".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Same
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        Ok(ins[0].clone())
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(self.clone())
    }
}

impl Kernel for Identity {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        one(&mut inputs)
    }
}
