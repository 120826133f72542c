//! What a map explains: one class, or one class against another.

use burn::tensor::{Tensor, activation};
use serde::Serialize;

use crate::{Error, Result};

/// The output an attention map explains. Kept apart from the methods: every method explains
/// any target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// The logit of one class (by default the top-1).
    Class {
        /// Class index.
        class: usize,
    },
    /// The logit of `class` minus the logit of `against`: what makes it `class` rather than
    /// `against`.
    Contrast {
        /// The class argued for.
        class: usize,
        /// The class argued against.
        against: usize,
    },
}

impl Target {
    /// What a person asked for: `class`, against `against` when given. A contrast with the
    /// class itself explains the class alone (the page's two menus may name the same class;
    /// the CLI's `--contrast` too).
    pub fn asked(class: usize, against: Option<usize>) -> Target {
        match against {
            Some(a) if a != class => Target::Contrast { class, against: a },
            _ => Target::Class { class },
        }
    }

    /// Check the classes exist among `classes` logits.
    pub fn check(&self, classes: usize) -> Result<()> {
        let bad = |c: usize| Error::BadInput(format!("class {c} does not exist: the model has {classes} classes (0..{})", classes.saturating_sub(1)));
        match *self {
            Target::Class { class } if class >= classes => Err(bad(class)),
            Target::Contrast { class, .. } if class >= classes => Err(bad(class)),
            Target::Contrast { against, .. } if against >= classes => Err(bad(against)),
            Target::Contrast { class, against } if class == against => {
                Err(Error::BadInput(format!("a contrast needs two different classes, got {class} twice")))
            }
            _ => Ok(()),
        }
    }

    /// The score gradients are taken of, per batch element: a logit, or a difference of two.
    ///
    /// # Shapes
    /// `logits`: `[batch, classes]`; returns `[batch]`
    pub fn score(&self, logits: Tensor<2>) -> Tensor<1> {
        let [n, _] = logits.dims();
        let col = |l: &Tensor<2>, c: usize| l.clone().slice([0..n, c..c + 1]).reshape([n]);
        match *self {
            Target::Class { class } => col(&logits, class),
            Target::Contrast { class, against } => col(&logits, class) - col(&logits, against),
        }
    }

    /// The target as a probability, per batch element: the softmax of the class, or for a
    /// contrast the probability of `class` against `against` alone (`sigmoid` of the
    /// difference). What Score-CAM and the faithfulness curves measure.
    ///
    /// # Shapes
    /// `logits`: `[batch, classes]`; returns `[batch]`
    pub fn probability(&self, logits: Tensor<2>) -> Tensor<1> {
        match *self {
            Target::Class { class } => {
                let [n, _] = logits.dims();
                activation::softmax(logits, 1).slice([0..n, class..class + 1]).reshape([n])
            }
            Target::Contrast { .. } => activation::sigmoid(self.score(logits)),
        }
    }

    /// The target in words, with `name` giving a class's name: `tabby`, `tabby vs tiger cat`.
    pub fn label(&self, name: impl Fn(usize) -> String) -> String {
        match *self {
            Target::Class { class } => name(class),
            Target::Contrast { class, against } => format!("{} vs {}", name(class), name(against)),
        }
    }
}
