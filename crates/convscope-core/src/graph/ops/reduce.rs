//! Reductions over axes (`reduce`): mean, sum, max, min.

use std::{collections::HashMap, rc::Rc};

use serde::{Deserialize, Serialize};

use super::{Kernel, Lowering, OpDef, Redirect, arity, one};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// What a [`Reduce`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// The mean.
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// The largest value.
    Max,
    /// The smallest value.
    Min,
}

/// A reduction over axes (without the batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reduce {
    /// What is computed.
    #[serde(default)]
    pub func: Reduction,
    /// Axes, ascending.
    pub axes: Vec<usize>,
    /// Keep them as size 1.
    pub keep: bool,
}

impl OpDef for Reduce {
    fn kind(&self) -> String {
        match self.func {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
            Reduction::Max => "max",
            Reduction::Min => "min",
        }
        .into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        // Over the channels only, keeping the map.
        if self.axes == [0] && self.keep { Footprint::Same } else { Footprint::Whole }
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        let axes = &self.axes;
        if axes.is_empty() || axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= ins[0].len()) {
            return Err(format!("axes {axes:?} of {:?}", ins[0]));
        }
        Ok(ins[0].iter().enumerate().filter_map(|(k, &d)| if axes.contains(&k) { self.keep.then_some(1) } else { Some(d) }).collect())
    }

    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(ReduceKernel { func: self.func, axes: self.axes.iter().map(|&a| cx.at(a)).collect(), shape: cx.shape(), out: cx.out.to_vec() })
    }
}

/// Over axes of the `[batch, a, b, c, d]` form.
#[derive(Debug, Clone)]
struct ReduceKernel {
    func: Reduction,
    axes: Vec<usize>,
    shape: Vec<usize>,
    out: Vec<usize>,
}

impl Kernel for ReduceKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        let mut t = one(&mut inputs)?.to5(&self.shape);
        for &a in &self.axes {
            t = match self.func {
                Reduction::Mean => t.mean_dim(a),
                Reduction::Sum => t.sum_dim(a),
                Reduction::Max => t.max_dim(a),
                Reduction::Min => t.min_dim(a),
            };
        }
        Ok(Value::from5(t, &self.out))
    }
}
