//! The end of a conversion: what the output needs, with a final softmax left out.

use super::*;

impl Converter<'_> {
    /// The graph, its weights and notes: the nodes that the output needs, with a final
    /// softmax dropped (convscope takes logits).
    /// `extra`: more outputs to keep (tensor mode).
    pub fn finish(mut self, output: &str, extra: &[String], classifier: bool) -> Result<Finished> {
        for o in extra {
            match self.values.get(o) {
                Some(v) if v.pad.is_none() && v.id != INPUT => self.extra.push(v.id.clone()),
                _ => return Err(Error::Onnx(format!("the output `{o}` is not computed by a node"))),
            }
        }
        let out = self.values.get(output).cloned().ok_or_else(|| Error::Onnx(format!("the output `{output}` is not computed from the image")))?;
        if out.pad.is_some() {
            return Err(Error::Onnx(format!("the output `{output}` is a Pad")));
        }
        if out.id == INPUT {
            // The output is the input itself (through Identity or Dropout).
            let id = if self.ids.contains(output) { format!("{output}#out") } else { output.to_string() };
            self.nodes.push(NodeSpec { id: id.clone(), op: OpSpec::Identity(Identity {}), inputs: vec![INPUT.into()] });
            self.shapes.insert(id.clone(), out.shape.clone());
            self.values.insert(output.to_string(), Runtime { id: id.clone(), ..out.clone() });
            return self.finish_at(id, out, output, classifier);
        }
        let id = out.id.clone();
        self.finish_at(id, out, output, classifier)
    }

    pub(super) fn finish_at(mut self, last: String, out: Runtime, output: &str, classifier: bool) -> Result<Finished> {
        let mut last = last;
        if classifier
            && let Some(node) = self.nodes.iter().find(|n| n.id == last)
            && matches!(node.op, OpSpec::Softmax(_))
        {
            self.notes.push(format!("its final softmax (`{last}`) is left out: convscope reads logits"));
            last = node.inputs[0].clone();
        }
        if classifier && out.shape.len() != 1 {
            return Err(Error::Onnx(format!("the output `{output}` is [N, {}], not class scores [N, classes]", dims(&out.shape))));
        }
        // Keep what the output needs.
        let mut needed: HashSet<String> = HashSet::from([last.clone()]);
        needed.extend(self.extra.iter().cloned());
        for node in self.nodes.iter().rev() {
            if needed.contains(&node.id) {
                needed.extend(node.inputs.iter().cloned());
            }
        }
        let end = self.nodes.iter().rposition(|n| needed.contains(&n.id)).expect("the output node exists");
        let nodes: Vec<NodeSpec> = self.nodes.into_iter().take(end + 1).filter(|n| needed.contains(&n.id)).collect();
        let used: HashSet<&str> = nodes.iter().flat_map(|n| n.op.weight_names()).collect();
        let weights = self.weights.into_iter().filter(|(k, _)| used.contains(k.as_str())).collect();
        let ids: HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        let mut names: Vec<(String, String)> =
            self.values.iter().filter(|(_, v)| v.pad.is_none() && ids.contains(v.id.as_str())).map(|(k, v)| (k.clone(), v.id.clone())).collect();
        names.sort();
        Ok(Finished { graph: GraphSpec { input_shape: self.input_shape, nodes }, weights, notes: self.notes, values: names })
    }
}
