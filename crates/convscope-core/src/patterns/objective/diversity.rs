//! Diversity objective (Olah et al., "Feature Visualization", Distill 2017, "Diversity"):
//! the images of a batch should differ in style, measured as the cosine similarity of their
//! Gram matrices `G_b = A_b A_b^T` at a layer. Its loss is the mean over images of the summed
//! similarity to the others, `sum_{i != j} <G_i, G_j> / (|G_i| |G_j| B)`; add it to a channel
//! objective (Lucid weighs it about 100x against a channel's mean) to see several facets.

use burn::tensor::Tensor;

use super::{Goal, Objective, pick};
use crate::{Error, Graph, LayerId, Result, Value};

/// Mean pairwise cosine similarity of the batch's Gram matrices at a layer.
#[derive(Debug, Clone)]
pub struct Diversity {
    layer: LayerId,
}

/// Make the batch's images unlike each other at `layer`.
pub fn diversity(layer: LayerId) -> Objective {
    Objective::new(Diversity { layer })
}

impl Goal for Diversity {
    fn layer(&self) -> LayerId {
        self.layer
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        let t = pick(a, None);
        let [b, c, _] = t.dims();
        let gram = t.clone().matmul(t.swap_dims(1, 2)).reshape([b, c * c]);
        let norm = gram.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
        let g = gram / norm;
        let sim = g.clone().matmul(g.clone().transpose());
        let self_sim = g.powf_scalar(2.0).sum();
        Ok((sim.sum() - self_sim) / b as f32)
    }

    fn describe(&self, graph: &Graph) -> String {
        format!("diversity of {}", graph.info(self.layer).id)
    }

    fn check(&self, _graph: &Graph, batch: usize) -> Result<()> {
        if batch < 2 {
            return Err(Error::BadInput(format!("diversity compares the images of a batch: it needs 2 or more, got {batch}")));
        }
        Ok(())
    }
}
