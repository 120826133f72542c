//! Host-side rewrites applied when a model is loaded.

use std::collections::HashMap;

use super::{
    GraphSpec, NodeSpec, OpSpec,
    ops::{
        batch_norm::{BatchNorm, batch_norm_affine},
        conv2d::Conv2d,
    },
};
use crate::tensor_data::HostTensor;

/// The shared mechanism of the folds: every node whose one input is a convolution that feeds
/// it alone is offered to `fuse` with that convolution's op; when `fuse` returns an op, it
/// replaces both. The fused node keeps the later node's id (so layer ids, which name the
/// later output, are unchanged) and reads the convolution's inputs.
fn fold_into_convs(spec: &GraphSpec, mut fuse: impl FnMut(&Conv2d, &NodeSpec) -> Option<Conv2d>) -> GraphSpec {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for node in &spec.nodes {
        for i in &node.inputs {
            *uses.entry(i.as_str()).or_default() += 1;
        }
    }
    let index: HashMap<&str, usize> = spec.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut nodes = spec.nodes.clone();
    let mut removed = vec![false; nodes.len()];
    for at in 0..spec.nodes.len() {
        let [src] = spec.nodes[at].inputs.as_slice() else { continue };
        let Some(&conv_at) = index.get(src.as_str()) else { continue };
        if uses.get(src.as_str()) != Some(&1) || removed[conv_at] || !matches!(nodes[conv_at].op, OpSpec::Conv2d(_)) {
            continue;
        }
        let OpSpec::Conv2d(conv) = &nodes[conv_at].op else { continue };
        let Some(op) = fuse(conv, &spec.nodes[at]) else { continue };
        nodes[at] = NodeSpec { id: spec.nodes[at].id.clone(), op: OpSpec::Conv2d(op), inputs: nodes[conv_at].inputs.clone() };
        removed[conv_at] = true;
    }
    let nodes = nodes.into_iter().zip(removed).filter(|(_, r)| !r).map(|(n, _)| n).collect();
    GraphSpec { input_shape: spec.input_shape, nodes }
}

/// Fold every batch norm that directly follows a convolution into that convolution's
/// weights and bias: `w' = w * scale`, `b' = b * scale + shift` (see [`batch_norm_affine`]).
///
/// Only when the conv's output feeds the batch norm alone. The raw conv output stops being a
/// layer of its own. Inference results are unchanged up to rounding.
pub fn fold_batch_norms(spec: &GraphSpec, tensors: &mut HashMap<String, HostTensor>) -> GraphSpec {
    fold_into_convs(spec, |conv, bn| {
        let OpSpec::BatchNorm(BatchNorm { gamma, beta, mean, var, eps }) = &bn.op else { return None };
        let Conv2d { weight, bias, act: None, .. } = conv else { return None };
        let (scale, shift) = batch_norm_affine(&tensors[gamma].data, &tensors[beta].data, &tensors[mean].data, &tensors[var].data, *eps);
        let w = &tensors[weight];
        let per_out = w.len() / scale.len();
        let new_w = HostTensor { shape: w.shape.clone(), data: w.data.iter().enumerate().map(|(i, x)| x * scale[i / per_out]).collect() };
        let old_b = bias.as_ref().map(|n| tensors[n].data.clone()).unwrap_or_else(|| vec![0.0; scale.len()]);
        let new_b = HostTensor { shape: vec![scale.len()], data: (0..scale.len()).map(|o| old_b[o] * scale[o] + shift[o]).collect() };
        let (wn, bn_name) = (format!("{}.folded.weight", bn.id), format!("{}.folded.bias", bn.id));
        tensors.insert(wn.clone(), new_w);
        tensors.insert(bn_name.clone(), new_b);
        Some(Conv2d { weight: wn, bias: Some(bn_name), ..conv.clone() })
    })
}

/// Fold an activation that directly follows a convolution (whose output feeds it alone)
/// into the convolution, so a layer such as `stem` (conv, batch norm, ReLU6) is one layer
/// whose output is post-activation.
pub fn fold_activations(spec: &GraphSpec) -> GraphSpec {
    fold_into_convs(spec, |conv, node| {
        let OpSpec::Act(a) = &node.op else { return None };
        if conv.act.is_some() {
            return None;
        }
        Some(Conv2d { act: Some(a.0), ..conv.clone() })
    })
}
