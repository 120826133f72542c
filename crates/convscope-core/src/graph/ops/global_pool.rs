//! Global pooling (`global_avg_pool`, `global_max_pool`): `[C, H, W] -> [C]`.

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, one, spatial};
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Mean over all spatial positions: `[C, H, W] -> [C]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalAvgPool {}

/// Max over all spatial positions: `[C, H, W] -> [C]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalMaxPool {}

fn shape(ins: &[&LayerShape]) -> std::result::Result<LayerShape, String> {
    arity(ins, 1)?;
    let [c, _, _] = spatial(ins[0])?;
    Ok(vec![c])
}

impl OpDef for GlobalAvgPool {
    fn kind(&self) -> String {
        "global_avg_pool".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        shape(ins)
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(GlobalPool { max: false })
    }
}

impl OpDef for GlobalMaxPool {
    fn kind(&self) -> String {
        "global_max_pool".into()
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        shape(ins)
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(GlobalPool { max: true })
    }
}

#[derive(Debug, Clone)]
struct GlobalPool {
    max: bool,
}

impl Kernel for GlobalPool {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let x = one(&mut inputs)?.spatial("global pooling")?;
        let [n, c, _, _] = x.dims();
        let x = x.flatten::<3>(2, 3);
        Ok(Value::Flat(if self.max { x.max_dim(2) } else { x.mean_dim(2) }.reshape([n, c])))
    }
}
