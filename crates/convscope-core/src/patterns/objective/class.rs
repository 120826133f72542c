//! Class objective: a logit of the output layer (Simonyan et al., "Deep Inside Convolutional
//! Networks", 2014, section 2: class model visualisation). The logit, not the probability,
//! so the image cannot win by making other classes small.

use burn::tensor::Tensor;

use super::{Goal, Objective, check_channel, on, pick};
use crate::{Graph, LayerId, Result, Value};

/// `-logit[b, k]`.
#[derive(Debug, Clone)]
pub struct Class {
    output: LayerId,
    class: usize,
    batch: Option<usize>,
}

/// Make class `class`'s logit large.
pub fn class(graph: &Graph, class: usize, batch: Option<usize>) -> Objective {
    Objective::new(Class { output: graph.output(), class, batch })
}

impl Goal for Class {
    fn layer(&self) -> LayerId {
        self.output
    }

    fn loss(&self, a: &Value) -> Result<Tensor<1>> {
        let t = pick(a, self.batch);
        let [n, _, p] = t.dims();
        Ok(-t.slice([0..n, self.class..self.class + 1, 0..p]).mean())
    }

    fn describe(&self, _graph: &Graph) -> String {
        format!("logit of class {}{}", self.class, on(self.batch))
    }

    fn wants_units_on(&self) -> bool {
        true
    }

    fn check(&self, graph: &Graph, batch: usize) -> Result<()> {
        check_channel(graph, self.output, self.class, self.batch, batch)
    }
}
