//! Host-side rewrites applied when a model is loaded.

use std::collections::HashMap;

use super::{GraphSpec, NodeSpec, OpSpec};
use crate::tensor_data::HostTensor;

/// Fold every batch norm that directly follows a convolution into that convolution's
/// weights and bias: `w' = w * g / sqrt(v + eps)`, `b' = (b - m) * g / sqrt(v + eps) + beta`.
///
/// Only when the conv's output feeds the batch norm alone. The fused node keeps the batch
/// norm's id, so layer ids (which name the normalised output) are unchanged; the raw conv
/// output stops being a layer of its own. Inference results are unchanged up to rounding.
pub fn fold_batch_norms(spec: &GraphSpec, tensors: &mut HashMap<String, HostTensor>) -> GraphSpec {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for node in &spec.nodes {
        for i in &node.inputs {
            *uses.entry(i.as_str()).or_default() += 1;
        }
    }
    let index: HashMap<&str, usize> = spec.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut nodes = spec.nodes.clone();
    let mut removed = vec![false; nodes.len()];
    for bn_at in 0..spec.nodes.len() {
        let bn = &spec.nodes[bn_at];
        let OpSpec::BatchNorm { gamma, beta, mean, var, eps } = &bn.op else { continue };
        let [src] = bn.inputs.as_slice() else { continue };
        let Some(&conv_at) = index.get(src.as_str()) else { continue };
        if uses.get(src.as_str()) != Some(&1) || removed[conv_at] {
            continue;
        }
        let OpSpec::Conv2d { weight, bias, stride, padding, dilation, groups, act: None } = &nodes[conv_at].op else {
            continue;
        };
        let (g, b, m, v) = (&tensors[gamma], &tensors[beta], &tensors[mean], &tensors[var]);
        let scale: Vec<f32> = g.data.iter().zip(&v.data).map(|(g, v)| g / (v + *eps as f32).sqrt()).collect();
        let w = &tensors[weight];
        let per_out = w.len() / scale.len();
        let new_w: Vec<f32> = w.data.iter().enumerate().map(|(i, x)| x * scale[i / per_out]).collect();
        let old_b: Vec<f32> = bias.as_ref().map(|n| tensors[n].data.clone()).unwrap_or_else(|| vec![0.0; scale.len()]);
        let new_b: Vec<f32> = (0..scale.len()).map(|o| (old_b[o] - m.data[o]) * scale[o] + b.data[o]).collect();
        let (wn, bn_name) = (format!("{}.folded.weight", bn.id), format!("{}.folded.bias", bn.id));
        let w_shape = w.shape.clone();
        tensors.insert(wn.clone(), HostTensor { shape: w_shape, data: new_w });
        tensors.insert(bn_name.clone(), HostTensor { shape: vec![scale.len()], data: new_b });
        let fused = OpSpec::Conv2d {
            weight: wn,
            bias: Some(bn_name),
            stride: *stride,
            padding: *padding,
            dilation: *dilation,
            groups: *groups,
            act: None,
        };
        let inputs = nodes[conv_at].inputs.clone();
        nodes[bn_at].op = fused;
        nodes[bn_at].inputs = inputs;
        removed[conv_at] = true;
    }
    let nodes = nodes.into_iter().zip(removed).filter(|(_, r)| !r).map(|(n, _)| n).collect();
    GraphSpec { input_shape: spec.input_shape, nodes }
}

/// Fold an activation that directly follows a convolution (whose output feeds it alone)
/// into the convolution. The fused node keeps the activation's id, so a layer such as
/// `stem` (conv, batch norm, ReLU6) is one layer whose output is post-activation.
pub fn fold_activations(spec: &GraphSpec) -> GraphSpec {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for node in &spec.nodes {
        for i in &node.inputs {
            *uses.entry(i.as_str()).or_default() += 1;
        }
    }
    let index: HashMap<&str, usize> = spec.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut nodes: Vec<NodeSpec> = spec.nodes.clone();
    let mut removed = vec![false; nodes.len()];
    for at in 0..spec.nodes.len() {
        let OpSpec::Act(a) = spec.nodes[at].op else { continue };
        let [src] = spec.nodes[at].inputs.as_slice() else { continue };
        let Some(&conv_at) = index.get(src.as_str()) else { continue };
        if uses.get(src.as_str()) != Some(&1) || removed[conv_at] {
            continue;
        }
        let OpSpec::Conv2d { act: act @ None, .. } = &mut nodes[conv_at].op else { continue };
        *act = Some(a);
        let fused = nodes[conv_at].clone();
        nodes[at] = NodeSpec { id: spec.nodes[at].id.clone(), ..fused };
        removed[conv_at] = true;
    }
    let nodes = nodes.into_iter().zip(removed).filter(|(_, r)| !r).map(|(n, _)| n).collect();
    GraphSpec { input_shape: spec.input_shape, nodes }
}
