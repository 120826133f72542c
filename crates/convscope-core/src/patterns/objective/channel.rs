//! Channel objective: the mean of one channel over every position (Olah et al., "Feature
//! Visualization", Distill 2017, the "channel" objective, Lucid's `channel`). For a flat
//! layer the channel is one feature.

use burn::tensor::{Tensor, TensorData};

use super::{Goal, Objective, check_batch, check_channel, on, pick};
use crate::{Error, Graph, LayerId, Result, Value};

/// `-mean_{y,x} A[b, c, y, x]`, over one batch element or the mean over all.
#[derive(Debug, Clone)]
pub struct Channel {
    layer: LayerId,
    channel: usize,
    batch: Option<usize>,
}

/// Make channel `channel` of `layer` large (on batch element `batch`, or on every image).
pub fn channel(layer: LayerId, channel: usize, batch: Option<usize>) -> Objective {
    Objective::new(Channel { layer, channel, batch })
}

impl Goal for Channel {
    fn layer(&self) -> LayerId {
        self.layer
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        let t = pick(a, self.batch);
        let [n, _, p] = t.dims();
        Ok(-t.slice([0..n, self.channel..self.channel + 1, 0..p]).mean())
    }

    fn describe(&self, graph: &Graph) -> String {
        format!("channel {} of {}{}", self.channel, graph.info(self.layer).id, on(self.batch))
    }

    fn wants_units_on(&self) -> bool {
        true
    }

    fn check(&self, graph: &Graph, batch: usize) -> Result<()> {
        check_channel(graph, self.layer, self.channel, self.batch, batch)
    }
}

/// A layer's gallery as one objective: image `i` of the batch makes channel `channels[i]`
/// large, `-sum_i mean_{y,x} A[i, channels[i], y, x]`. One masked sum, so a whole page of
/// channels is one optimization whose images do not interact.
#[derive(Debug, Clone)]
pub struct Channels {
    layer: LayerId,
    channels: Vec<usize>,
}

/// One channel per batch element: image `i` shows `channels[i]` of `layer`.
pub fn channels(layer: LayerId, channels: &[usize]) -> Objective {
    Objective::new(Channels { layer, channels: channels.to_vec() })
}

impl Goal for Channels {
    fn layer(&self) -> LayerId {
        self.layer
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        let t = pick(a, None);
        let [n, c, _] = t.dims();
        if n != self.channels.len() {
            return Err(Error::BadInput(format!("{} channels asked for a batch of {n} images", self.channels.len())));
        }
        let mut mask = vec![0f32; n * c];
        for (i, &ch) in self.channels.iter().enumerate() {
            mask[i * c + ch] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, c]), &t.device());
        Ok(-(t.mean_dim(2).reshape([n, c]) * mask).sum())
    }

    fn describe(&self, graph: &Graph) -> String {
        let id = &graph.info(self.layer).id;
        match (self.channels.first(), self.channels.last()) {
            (Some(a), Some(b)) if self.channels.len() > 1 && self.channels.windows(2).all(|w| w[1] == w[0] + 1) => {
                format!("channels {a}-{b} of {id}, one per image")
            }
            _ => format!("channels {:?} of {id}, one per image", self.channels),
        }
    }

    fn wants_units_on(&self) -> bool {
        true
    }

    fn check(&self, graph: &Graph, batch: usize) -> Result<()> {
        if self.channels.len() != batch {
            return Err(Error::BadInput(format!("{} channels for a batch of {batch} images: give one per image", self.channels.len())));
        }
        for (i, &c) in self.channels.iter().enumerate() {
            check_channel(graph, self.layer, c, Some(i), batch)?;
        }
        check_batch(None, batch)
    }
}
