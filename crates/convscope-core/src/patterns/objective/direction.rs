//! Direction objective (Olah et al., "Feature Visualization", Distill 2017, "Interaction
//! between neurons": random and chosen directions in activation space): the cosine
//! similarity between a vector over the layer's channels and the activation at every
//! position, averaged over positions.

use burn::tensor::{Tensor, TensorData};

use super::{Goal, Objective, check_batch, on, pick};
use crate::{Error, Graph, LayerId, Result, Value};

/// `-mean_{y,x} cos(d, A[b, :, y, x])`.
#[derive(Debug, Clone)]
pub struct Direction {
    layer: LayerId,
    direction: Vec<f32>,
    batch: Option<usize>,
}

/// Make `layer`'s activation point along `direction` (one value per channel).
pub fn direction(layer: LayerId, direction: Vec<f32>, batch: Option<usize>) -> Objective {
    Objective::new(Direction { layer, direction, batch })
}

impl Goal for Direction {
    fn layer(&self) -> LayerId {
        self.layer
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        let t = pick(a, self.batch);
        let [_, c, _] = t.dims();
        let d = Tensor::<3>::from_data(TensorData::new(self.direction.clone(), [1, 1, c]), &t.device());
        let d = d.clone() / d.powf_scalar(2.0).sum().sqrt().reshape([1, 1, 1]).clamp_min(1e-12);
        let dot = d.matmul(t.clone()); // [n, 1, p]
        let norms = t.powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12); // [n, 1, p]
        Ok(-(dot / norms).mean())
    }

    fn describe(&self, graph: &Graph) -> String {
        format!("direction in {}{}", graph.info(self.layer).id, on(self.batch))
    }

    fn check(&self, graph: &Graph, batch: usize) -> Result<()> {
        let info = graph.info(self.layer);
        if self.direction.len() != info.shape[0] {
            return Err(Error::BadInput(format!("the direction has {} values, layer `{}` has {} channels", self.direction.len(), info.id, info.shape[0])));
        }
        if self.direction.iter().all(|v| *v == 0.0) {
            return Err(Error::BadInput("the direction is all zeros".into()));
        }
        check_batch(self.batch, batch)
    }
}
