//! Objectives: what the optimization makes large. Each one sees only the activation of one
//! layer (the class objective sees the logits, the output layer's activation) and returns a
//! loss to minimise, so "channel 3" means "minus the mean of channel 3". Objectives add,
//! subtract, negate and scale (`a + b * 0.5 - c`) and say what they are.
//!
//! One goal per file: [`channel`] (a channel's mean, and the gallery's one channel per image),
//! [`neuron`] (a channel's centre unit), [`class`] (a logit), [`deepdream`] (a whole layer),
//! [`diversity`] (images of a batch unlike each other), [`direction`] (a direction in the
//! layer's channel space).

pub mod channel;
pub mod class;
pub mod deepdream;
pub mod direction;
pub mod diversity;
pub mod neuron;

use std::{
    fmt,
    ops::{Add, Mul, Neg, Sub},
    rc::Rc,
};

use burn::tensor::Tensor;

pub use channel::{channel, channels};
pub use class::class;
pub use deepdream::deepdream;
pub use direction::direction;
pub use diversity::diversity;
pub use neuron::neuron;

use crate::{Error, Graph, LayerId, Result, Value};

/// One term of an objective.
pub trait Goal: fmt::Debug {
    /// The layer whose activation it reads.
    fn layer(&self) -> LayerId;
    /// The loss, `[1]`, from that layer's activation for the whole batch.
    fn loss(&self, activation: &Value) -> Result<Tensor<1>>;
    /// What it asks for, e.g. `channel 3 of blocks.5`.
    fn describe(&self, graph: &Graph) -> String;
    /// Fail with a message when it does not fit the graph or a batch of `batch` images.
    fn check(&self, graph: &Graph, batch: usize) -> Result<()>;
    /// Whether it asks for units to be large, so a unit that is switched off should get the
    /// gradient that would switch it on ([`crate::graph::Redirect::Dead`]).
    fn wants_units_on(&self) -> bool {
        false
    }
}

/// A weighted sum of goals.
#[derive(Debug, Clone)]
pub struct Objective {
    terms: Vec<(f32, Rc<dyn Goal>)>,
}

impl Objective {
    /// An objective of one goal.
    pub fn new(goal: impl Goal + 'static) -> Self {
        Self { terms: vec![(1.0, Rc::new(goal))] }
    }

    /// The layers its goals read, in network order, each once.
    pub fn layers(&self) -> Vec<LayerId> {
        let mut l: Vec<LayerId> = self.terms.iter().map(|(_, g)| g.layer()).collect();
        l.sort();
        l.dedup();
        l
    }

    /// The layers of the goals that want their units on (see [`Goal::wants_units_on`]).
    pub fn unit_layers(&self) -> Vec<LayerId> {
        self.terms.iter().filter(|(w, g)| *w > 0.0 && g.wants_units_on()).map(|(_, g)| g.layer()).collect()
    }

    /// The total loss, `[1]`, given the activations of [`Objective::layers`] in that order.
    pub fn loss(&self, activations: &[Value]) -> Result<Tensor<1>> {
        let layers = self.layers();
        let mut total: Option<Tensor<1>> = None;
        for (w, g) in &self.terms {
            let at = layers.iter().position(|l| *l == g.layer()).expect("layers() lists every goal's layer");
            let a = activations.get(at).ok_or_else(|| Error::BadInput(format!("{} activations given, {} needed", activations.len(), layers.len())))?;
            let term = g.loss(a)? * *w;
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        total.ok_or_else(|| Error::BadInput("an empty objective".into()))
    }

    /// Check every goal against the graph and the batch size.
    pub fn check(&self, graph: &Graph, batch: usize) -> Result<()> {
        self.terms.iter().try_for_each(|(_, g)| g.check(graph, batch))
    }

    /// How it reads, e.g. `channel 3 of blocks.5 - 0.5 x diversity of blocks.5`.
    pub fn describe(&self, graph: &Graph) -> String {
        let mut out = String::new();
        for (i, (w, g)) in self.terms.iter().enumerate() {
            let (sign, w) = if *w < 0.0 { ("-", -w) } else { ("+", *w) };
            if i > 0 {
                out.push_str(&format!(" {sign} "));
            } else if sign == "-" {
                out.push('-');
            }
            if w != 1.0 {
                out.push_str(&format!("{w} x "));
            }
            out.push_str(&g.describe(graph));
        }
        out
    }
}

impl Add for Objective {
    type Output = Objective;
    fn add(mut self, other: Objective) -> Objective {
        self.terms.extend(other.terms);
        self
    }
}

impl Neg for Objective {
    type Output = Objective;
    fn neg(self) -> Objective {
        self * -1.0
    }
}

impl Sub for Objective {
    type Output = Objective;
    fn sub(self, other: Objective) -> Objective {
        self + -other
    }
}

impl Mul<f32> for Objective {
    type Output = Objective;
    fn mul(mut self, k: f32) -> Objective {
        for (w, _) in &mut self.terms {
            *w *= k;
        }
        self
    }
}

/// The batch element `batch` (all of them when `None`) of a spatial or flat activation,
/// flattened to `[n, C, positions]`.
pub(crate) fn pick(a: &Value, batch: Option<usize>) -> Tensor<3> {
    let t = match a {
        Value::Spatial(t) => {
            let [b, c, h, w] = t.dims();
            t.clone().reshape([b, c, h * w])
        }
        Value::Flat(t) => {
            let [b, c] = t.dims();
            t.clone().reshape([b, c, 1])
        }
    };
    match batch {
        Some(i) => {
            let [_, c, p] = t.dims();
            t.slice([i..i + 1, 0..c, 0..p])
        }
        None => t,
    }
}

/// Errors shared by the goals: the channel and the batch element must exist.
pub(crate) fn check_channel(graph: &Graph, layer: LayerId, channel: usize, batch: Option<usize>, images: usize) -> Result<()> {
    let info = graph.info(layer);
    if info.shape.len() != 3 && info.shape.len() != 1 {
        return Err(Error::BadInput(format!(
            "layer `{}` gives a {:?} value, neither feature maps [C, H, W] nor features [F]; choose another layer",
            info.id, info.shape
        )));
    }
    let channels = info.shape[0];
    if channel >= channels {
        return Err(Error::BadInput(format!("layer `{}` has {channels} channels (0..{}); channel {channel} does not exist", info.id, channels - 1)));
    }
    check_batch(batch, images)
}

pub(crate) fn check_batch(batch: Option<usize>, images: usize) -> Result<()> {
    match batch {
        Some(b) if b >= images => Err(Error::BadInput(format!("batch element {b} does not exist: the batch has {images} images"))),
        _ => Ok(()),
    }
}

/// ` (image 2)` for goals on one batch element.
pub(crate) fn on(batch: Option<usize>) -> String {
    batch.map(|b| format!(" (image {b})")).unwrap_or_default()
}
