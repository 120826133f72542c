//! `convscope convert`: build the bundled `.csm` models from their source checkpoints.

mod digit;
mod efficientnet;
mod safetensors;
mod torch;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
};

use convscope_core::graph::ops::*;
use convscope_core::{
    format::{Header, ModelFile},
    graph::{Activation, GraphSpec, NodeSpec, OpSpec, Padding2d, fold_batch_norms},
    preprocess::InputSpec,
    tensor_data::{HostTensor, StoredDType},
};

/// Builds a graph node by node, renaming source tensors to the graph's names.
struct Builder {
    nodes: Vec<NodeSpec>,
    tensors: HashMap<String, HostTensor>,
    source: HashMap<String, HostTensor>,
}

impl Builder {
    fn new(source: HashMap<String, HostTensor>) -> Self {
        Self { nodes: Vec::new(), tensors: HashMap::new(), source }
    }

    /// Move source tensor `from` into the model as `to`.
    fn take(&mut self, from: &str, to: &str) -> Result<String, String> {
        let t = self.source.remove(from).ok_or_else(|| format!("the checkpoint has no tensor `{from}`"))?;
        self.tensors.insert(to.to_string(), t);
        Ok(to.to_string())
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>, String> {
        self.source.get(name).map(|t| t.shape.clone()).ok_or_else(|| format!("the checkpoint has no tensor `{name}`"))
    }

    fn node(&mut self, id: &str, op: OpSpec, inputs: &[&str]) -> String {
        self.nodes.push(NodeSpec { id: id.into(), op, inputs: inputs.iter().map(|s| s.to_string()).collect() });
        id.to_string()
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        id: &str,
        input: &str,
        src_weight: &str,
        src_bias: Option<&str>,
        stride: usize,
        padding: Padding2d,
        groups: usize,
    ) -> Result<String, String> {
        let weight = self.take(src_weight, &format!("{id}.weight"))?;
        let bias = src_bias.map(|b| self.take(b, &format!("{id}.bias"))).transpose()?;
        let op = OpSpec::Conv2d(Conv2d { weight, bias, stride: [stride; 2], padding, dilation: [1, 1], groups, act: None });
        Ok(self.node(id, op, &[input]))
    }

    fn batch_norm(&mut self, id: &str, input: &str, src: &str, eps: f64) -> Result<String, String> {
        let gamma = self.take(&format!("{src}.weight"), &format!("{id}.gamma"))?;
        let beta = self.take(&format!("{src}.bias"), &format!("{id}.beta"))?;
        let mean = self.take(&format!("{src}.running_mean"), &format!("{id}.mean"))?;
        let var = self.take(&format!("{src}.running_var"), &format!("{id}.var"))?;
        Ok(self.node(id, OpSpec::BatchNorm(BatchNorm { gamma, beta, mean, var, eps }), &[input]))
    }

    fn act(&mut self, id: &str, input: &str, a: Activation) -> String {
        self.node(id, OpSpec::Act(Act(a)), &[input])
    }

    fn linear(&mut self, id: &str, input: &str, src: &str) -> Result<String, String> {
        let weight = self.take(&format!("{src}.weight"), &format!("{id}.weight"))?;
        let bias = Some(self.take(&format!("{src}.bias"), &format!("{id}.bias"))?);
        Ok(self.node(id, OpSpec::Linear(Linear { weight, bias }), &[input]))
    }

    fn finish(self, header: Header) -> Result<ModelFile, String> {
        let unused: Vec<&String> = self.source.keys().filter(|k| !k.ends_with("num_batches_tracked")).collect();
        if !unused.is_empty() {
            return Err(format!("checkpoint tensors left unused: {unused:?}"));
        }
        // Batch norms folded into their convolutions here, once, rather than by every
        // load (the loader still folds those of older files): the file holds the folded
        // weights and biases and none of the batch norms' tensors.
        let mut tensors = self.tensors;
        let graph = fold_batch_norms(&GraphSpec { nodes: self.nodes, ..header.graph }, &mut tensors);
        let used: HashSet<&str> = graph.nodes.iter().flat_map(|n| n.op.weight_names()).collect();
        tensors.retain(|name, _| used.contains(name.as_str()));
        let header = Header { graph, ..header };
        let file = ModelFile { header, tensors };
        file.header.graph.infer_shapes(&file.tensors).map_err(|e| e.to_string())?;
        Ok(file)
    }
}

/// TensorFlow "same" padding for one spatial dimension: `(before, after)`, extra on the end.
fn tf_same(size: usize, kernel: usize, stride: usize) -> [usize; 2] {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    [total / 2, total - total / 2]
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Convert every bundled model found under `models` (the shared source folder) into `out`.
pub fn run(models: &Path, out: &Path, dtype: StoredDType) -> Result<Vec<(String, usize)>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut written = Vec::new();
    let eff = models.join("efficientnet-lite0");
    let source = safetensors::read(&read(&eff.join("efficientnet_lite0_f32.safetensors"))?)?;
    let labels: Vec<String> = serde_json::from_slice(&read(&eff.join("imagenet_labels.json"))?).map_err(|e| format!("labels: {e}"))?;
    let file = efficientnet::build(source, labels)?;
    written.push(write(&file, out, dtype)?);
    let digit = models.join("digit-cnn");
    let source = torch::read_state_dict(&read(&digit.join("handwriting_model.pth"))?)?;
    let file = digit::build(source)?;
    written.push(write(&file, out, dtype)?);
    Ok(written)
}

fn write(file: &ModelFile, out: &Path, dtype: StoredDType) -> Result<(String, usize), String> {
    let path = out.join(format!("{}.csm", file.header.name));
    let bytes = file.to_bytes(dtype);
    std::fs::write(&path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((path.display().to_string(), bytes.len()))
}

fn header(name: &str, description: &str, input: InputSpec, labels: Vec<String>) -> Header {
    let input_shape = [input.channels, input.height, input.width];
    Header { name: name.into(), description: description.into(), input, labels, graph: GraphSpec { input_shape, nodes: vec![] }, tensors: vec![] }
}

#[cfg(test)]
mod tests {
    use super::tf_same;

    #[test]
    fn tf_same_padding_matches_tensorflow() {
        assert_eq!(tf_same(224, 3, 2), [0, 1]);
        assert_eq!(tf_same(112, 3, 1), [1, 1]);
        assert_eq!(tf_same(56, 5, 2), [1, 2]);
        assert_eq!(tf_same(14, 5, 1), [2, 2]);
        assert_eq!(tf_same(7, 1, 1), [0, 0]);
    }
}
