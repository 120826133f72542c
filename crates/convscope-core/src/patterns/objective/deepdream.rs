//! Layer objective, "DeepDream" (Mordvintsev et al., "Inceptionism", 2015): the mean square
//! of every unit of a layer, so whatever the layer already sees grows.

use burn::tensor::Tensor;

use super::{Goal, Objective, check_batch, on, pick};
use crate::{Graph, LayerId, Result, Value};

/// `-mean(A^2)`.
#[derive(Debug, Clone)]
pub struct DeepDream {
    layer: LayerId,
    batch: Option<usize>,
}

/// Make every unit of `layer` large.
pub fn deepdream(layer: LayerId, batch: Option<usize>) -> Objective {
    Objective::new(DeepDream { layer, batch })
}

impl Goal for DeepDream {
    fn layer(&self) -> LayerId {
        self.layer
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        Ok(-pick(a, self.batch).powf_scalar(2.0).mean())
    }

    fn describe(&self, graph: &Graph) -> String {
        format!("deepdream of {}{}", graph.info(self.layer).id, on(self.batch))
    }

    fn check(&self, _graph: &Graph, batch: usize) -> Result<()> {
        check_batch(self.batch, batch)
    }
}
