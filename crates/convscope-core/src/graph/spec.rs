//! The serialisable description of a model graph: nodes, their ops and how they are wired.
//!
//! A spec names its weights; [`crate::graph::Graph`] is the same graph with the weights on a
//! device. Model files store specs, the ONNX importer will produce them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use super::ops::OpSpec;
use crate::{Error, Result, tensor_data::HostTensor};

/// Name under which a node refers to the graph's input image.
pub const INPUT: &str = "input";

/// One node: an op applied to earlier nodes' outputs (or to [`INPUT`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Unique id; also the id of the layer it produces.
    pub id: String,
    /// What the node computes.
    #[serde(flatten, deserialize_with = "OpSpec::deserialize_migrating")]
    pub op: OpSpec,
    /// Ids of the nodes it reads, or [`INPUT`].
    pub inputs: Vec<String>,
}

/// A whole graph, nodes in a topological (network) order, the last one producing the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphSpec {
    /// Input shape without batch: `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// Nodes in network order.
    pub nodes: Vec<NodeSpec>,
}

/// Shape of a node's output without the batch dimension: `[C, H, W]` or `[F]`.
pub type LayerShape = Vec<usize>;

impl GraphSpec {
    /// Checks wiring and weight shapes, and returns every node's output shape (no batch); the
    /// last node must give flat logits.
    pub fn infer_shapes(&self, weights: &HashMap<String, HostTensor>) -> Result<Vec<LayerShape>> {
        let out = self.layer_shapes(weights)?;
        match out.last() {
            Some(s) if s.len() == 1 => Ok(out),
            Some(s) => Err(Error::InvalidGraph(format!("the last node must give flat logits, it gives shape {s:?}"))),
            None => Err(Error::InvalidGraph("the graph has no node".into())),
        }
    }

    /// Checks wiring and weight shapes, and returns every node's output shape (no batch),
    /// whatever the last node gives.
    pub fn layer_shapes(&self, weights: &HashMap<String, HostTensor>) -> Result<Vec<LayerShape>> {
        let mut shapes: HashMap<&str, LayerShape> = HashMap::new();
        shapes.insert(INPUT, self.input_shape.to_vec());
        let mut out = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            if shapes.contains_key(node.id.as_str()) {
                return Err(Error::InvalidGraph(format!("node id `{}` is used twice", node.id)));
            }
            let ins: Vec<&LayerShape> = node
                .inputs
                .iter()
                .map(|i| shapes.get(i.as_str()).ok_or_else(|| Error::InvalidGraph(format!("node `{}` reads `{i}`, which is not an earlier node", node.id))))
                .collect::<Result<_>>()?;
            let shape = node_shape(node, &ins, weights).map_err(|m| Error::InvalidGraph(format!("node `{}` ({}): {m}", node.id, node.op.kind())))?;
            shapes.insert(&node.id, shape.clone());
            out.push(shape);
        }
        if out.is_empty() {
            return Err(Error::InvalidGraph("the graph has no node".into()));
        }
        Ok(out)
    }
}

pub(crate) fn node_shape(node: &NodeSpec, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
    let shape = node.op.def().shape(ins, weights)?;
    // Values have up to four axes without the batch.
    if shape.len() <= 4 { Ok(shape) } else { Err(format!("gives a {shape:?} value; convscope's values have at most 4 axes without the batch")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Activation;
    use crate::graph::ops::{act::Act, flatten::Flatten};

    #[test]
    fn spec_round_trips_through_json() {
        let node = NodeSpec { id: "stem".into(), op: OpSpec::Act(Act(Activation::Clip { min: 0.0, max: 6.0 })), inputs: vec![INPUT.into()] };
        let json = serde_json::to_string(&node).unwrap();
        assert!(json.contains("\"op\":\"act\""), "{json}");
        let back: NodeSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, node);
    }

    #[test]
    fn wiring_errors_name_the_node() {
        let spec = GraphSpec { input_shape: [1, 4, 4], nodes: vec![NodeSpec { id: "a".into(), op: OpSpec::Flatten(Flatten {}), inputs: vec!["nope".into()] }] };
        let err = spec.infer_shapes(&HashMap::new()).unwrap_err().to_string();
        assert!(err.contains("`a` reads `nope`"), "{err}");
    }
}
