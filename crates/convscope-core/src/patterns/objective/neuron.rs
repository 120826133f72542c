//! Neuron objective: one unit, by default the centre position of a channel (Olah et al.,
//! "Feature Visualization", Distill 2017, the "neuron" objective). The pattern then shows
//! what that unit's receptive field looks for, surrounded by context that does not matter.

use burn::tensor::{Tensor, TensorData};

use super::{Goal, Objective, check_channel, on, pick};
use crate::{Graph, LayerId, Result, Value};

/// `-A[b, c, h/2, w/2]` (the centre of the activation as it comes, whatever its size).
#[derive(Debug, Clone)]
pub struct Neuron {
    layer: LayerId,
    channel: usize,
    batch: Option<usize>,
}

/// Make the centre unit of channel `channel` of `layer` large.
pub fn neuron(layer: LayerId, channel: usize, batch: Option<usize>) -> Objective {
    Objective::new(Neuron { layer, channel, batch })
}

impl Goal for Neuron {
    fn layer(&self) -> LayerId {
        self.layer
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        let (h, w) = match a {
            Value::Spatial(t) => (t.dims()[2], t.dims()[3]),
            Value::Flat(_) => (1, 1),
        };
        let centre = (h / 2) * w + w / 2;
        let t = pick(a, self.batch);
        let [n, c, p] = t.dims();
        // A one-hot mask rather than a slice: burn-wgpu gave this one-element slice no
        // gradient (the loss did not move on wgpu while it did on the CPU).
        let mut mask = vec![0f32; c * p];
        mask[self.channel * p + centre] = 1.0 / n as f32;
        let mask = Tensor::<3>::from_data(TensorData::new(mask, [1, c, p]), &t.device());
        Ok(-(t * mask).sum())
    }

    fn describe(&self, graph: &Graph) -> String {
        format!("centre unit of channel {} of {}{}", self.channel, graph.info(self.layer).id, on(self.batch))
    }

    fn wants_units_on(&self) -> bool {
        true
    }

    fn check(&self, graph: &Graph, batch: usize) -> Result<()> {
        check_channel(graph, self.layer, self.channel, self.batch, batch)
    }
}
