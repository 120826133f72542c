//! A model as a graph of named layers, run on whatever burn `Device` it was loaded on.
//!
//! Every node is a layer with an id, a kind and an output shape. The forward pass can keep
//! any layers' activations, stop at a layer ([`Graph::forward_to`]) and resume from a given
//! activation of that layer ([`Graph::forward_from`]): on an autodiff device that gives the
//! gradient of any output with respect to any layer.

mod ops;
mod optimize;
mod spec;
mod value;

use std::collections::HashMap;

use burn::tensor::{
    Device, Tensor, TensorData,
    ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions},
};
use serde::Serialize;

pub use ops::{Op, Redirect, apply_activation, redirected_flat, redirected_spatial};
pub use optimize::{fold_activations, fold_batch_norms};
pub use spec::{Activation, ArithOp, GraphSpec, PadMode, INPUT, LayerShape, NodeSpec, OpSpec, Padding2d};
pub(crate) use spec::node_shape;
pub use value::Value;

use crate::{Error, Result, tensor_data::HostTensor};

/// What the model says about one of its layers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerInfo {
    /// Unique id, e.g. `blocks.5`.
    pub id: String,
    /// Kind of op, e.g. `conv2d`.
    pub kind: String,
    /// Output shape without batch: `[C, H, W]` or `[F]`.
    pub shape: LayerShape,
}

impl LayerInfo {
    /// Whether the layer's values are rectified (it ends in a ReLU, ReLU6 or clip), so a
    /// channel at 0 is switched off rather than merely low.
    pub fn rectified(&self) -> bool {
        ["relu", "clip"].iter().any(|k| self.kind.contains(k))
    }
}

/// Index of a layer in network order; get one from [`Graph::layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Input,
    Node(usize),
}

#[derive(Debug, Clone)]
struct Node {
    op: Op,
    inputs: Vec<Source>,
}

/// A loaded graph: ops with weights on a device.
#[derive(Debug, Clone)]
pub struct Graph {
    input_shape: [usize; 3],
    layers: Vec<LayerInfo>,
    nodes: Vec<Node>,
    /// For each node, the last node that reads it (`usize::MAX` for the output).
    last_use: Vec<usize>,
    input_last_use: usize,
    device: Device,
    /// Per node: how its rectifier passes gradients (see [`Graph::redirected`]); empty when
    /// every one is [`Redirect::Off`].
    redirect: Vec<Redirect>,
}

/// The state of a forward pass stopped at a layer: that layer's activation and every earlier
/// value a later layer still reads (skip connections).
#[derive(Debug, Clone)]
pub struct Trace {
    layer: LayerId,
    input: Option<Tensor<4>>,
    values: Vec<Option<Value>>,
}

impl Trace {
    /// The layer the pass stopped at.
    pub fn layer(&self) -> LayerId {
        self.layer
    }

    /// That layer's activation.
    pub fn activation(&self) -> &Value {
        self.values[self.layer.0].as_ref().expect("a trace keeps its own layer")
    }
}

fn pad_pairs(p: &Padding2d) -> [(usize, usize); 2] {
    [(p[0][0], p[0][1]), (p[1][0], p[1][1])]
}

/// Host weights handed to the device: each is moved, not copied, unless several ops use it.
struct Weights {
    map: HashMap<String, HostTensor>,
    uses: HashMap<String, usize>,
}

impl Weights {
    fn new(map: HashMap<String, HostTensor>, spec: &GraphSpec) -> Self {
        let mut uses = HashMap::new();
        for node in &spec.nodes {
            for name in node.op.weight_names() {
                *uses.entry(name.to_string()).or_insert(0) += 1;
            }
        }
        Self { map, uses }
    }

    /// The weight, validated present by shape inference.
    fn take(&mut self, name: &str) -> HostTensor {
        let left = self.uses.get_mut(name).expect("weight counted");
        *left -= 1;
        if *left == 0 { self.map.remove(name) } else { self.map.get(name).cloned() }.expect("weight present")
    }

    fn upload<const D: usize>(&mut self, name: &str, device: &Device) -> Tensor<D> {
        let t = self.take(name);
        Tensor::from_data(TensorData::new(t.data, t.shape), device)
    }

    /// The weight as `[1, a, b, c, d]`, its axes aligned right (leading axes of size 1).
    fn upload5(&mut self, name: &str, device: &Device) -> Tensor<5> {
        let t = self.take(name);
        let mut shape = vec![1; 5 - t.shape.len().min(5)];
        shape.extend(&t.shape);
        Tensor::from_data(TensorData::new(t.data, shape), device)
    }

    /// The weight as one row, `[1, values]`.
    fn upload_row(&mut self, name: &str, device: &Device) -> Tensor<2> {
        let t = self.take(name);
        let n = t.data.len();
        Tensor::from_data(TensorData::new(t.data, [1, n]), device)
    }
}

impl Graph {
    /// Check a spec, optimise it (batch norms and activations folded into the convs they
    /// follow) and put its weights on `device`.
    pub fn load(spec: &GraphSpec, tensors: HashMap<String, HostTensor>, device: &Device) -> Result<Self> {
        spec.infer_shapes(&tensors)?;
        Self::load_checked(spec, tensors, device)
    }

    /// [`Graph::load`] for a graph whose last node gives any value, not only logits (the
    /// ONNX importer's op-by-op checks; [`Graph::forward`] needs logits).
    pub fn load_any(spec: &GraphSpec, tensors: HashMap<String, HostTensor>, device: &Device) -> Result<Self> {
        spec.layer_shapes(&tensors)?;
        Self::load_checked(spec, tensors, device)
    }

    /// Folds and loads a spec whose shapes were checked.
    fn load_checked(spec: &GraphSpec, mut tensors: HashMap<String, HostTensor>, device: &Device) -> Result<Self> {
        let spec = fold_activations(&fold_batch_norms(spec, &mut tensors));
        let shapes = spec.layer_shapes(&tensors)?;
        let mut weights = Weights::new(tensors, &spec);
        let index: HashMap<&str, usize> = spec.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        let mut nodes = Vec::with_capacity(spec.nodes.len());
        let mut layers = Vec::with_capacity(spec.nodes.len());
        let mut last_use = vec![usize::MAX; spec.nodes.len()];
        let mut input_last_use = usize::MAX;
        for (at, (node, shape)) in spec.nodes.iter().zip(shapes.iter().cloned()).enumerate() {
            let inputs: Vec<Source> = node
                .inputs
                .iter()
                .map(|i| if i == INPUT { Source::Input } else { Source::Node(index[i.as_str()]) })
                .collect();
            for s in &inputs {
                match s {
                    Source::Input => input_last_use = at,
                    Source::Node(j) => last_use[*j] = at,
                }
            }
            let in_shapes: Vec<Vec<usize>> = inputs
                .iter()
                .map(|s| match s {
                    Source::Node(j) => shapes[*j].clone(),
                    Source::Input => spec.input_shape.to_vec(),
                })
                .collect();
            nodes.push(Node { op: lower(&node.op, &in_shapes, &shape, &mut weights, device), inputs });
            layers.push(LayerInfo { id: node.id.clone(), kind: node.op.kind(), shape });
        }
        // The output is kept until the end.
        if let Some(l) = last_use.last_mut() {
            *l = usize::MAX;
        }
        Ok(Self { input_shape: spec.input_shape, layers, nodes, last_use, input_last_use, device: device.clone(), redirect: Vec::new() })
    }

    /// Every layer, in network order.
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// Input shape without batch, `[C, H, W]`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Look a layer up by id; the error lists the valid ids.
    pub fn layer(&self, id: &str) -> Result<LayerId> {
        self.layers.iter().position(|l| l.id == id).map(LayerId).ok_or_else(|| Error::UnknownLayer {
            id: id.into(),
            valid: self.layers.iter().map(|l| l.id.clone()).collect(),
        })
    }

    /// Info about a layer.
    pub fn info(&self, layer: LayerId) -> &LayerInfo {
        &self.layers[layer.0]
    }

    /// The id of the output layer (logits).
    pub fn output(&self) -> LayerId {
        LayerId(self.layers.len() - 1)
    }

    /// The last layer with feature maps before the network turns them into flat features
    /// (the usual Grad-CAM layer), found from the graph, not from names.
    pub fn last_spatial_layer(&self) -> Option<LayerId> {
        // A global pooling kept as [C, 1, 1] (as ONNX models have it, and squeeze-excitation
        // branches) is not a map to look at.
        let first_flat = self.layers.iter().position(|l| l.shape.len() == 1)?;
        self.layers[..first_flat].iter().rposition(|l| l.shape.len() == 3 && l.shape[1] * l.shape[2] > 1).map(LayerId)
    }

    /// Whether the layers up to and including `layer` run on an input of any height and width
    /// (true when nothing before it flattens feature maps), so an image of another size than
    /// [`Graph::input_shape`] may be fed to [`Graph::activations`].
    pub fn any_size_up_to(&self, layer: LayerId) -> bool {
        self.nodes[..=layer.0].iter().all(|n| {
            !matches!(n.op, Op::Flatten | Op::Reshape(_))
                || n.inputs.iter().all(|s| matches!(s, Source::Node(j) if self.layers[*j].shape.len() == 1))
        })
    }

    fn check_input(&self, input: &Tensor<4>) -> Result<()> {
        self.check_input_to(input, self.output())
    }

    fn check_input_to(&self, input: &Tensor<4>, layer: LayerId) -> Result<()> {
        let [_, c, h, w] = input.dims();
        let free = c == self.input_shape[0] && h > 0 && w > 0 && self.any_size_up_to(layer);
        if [c, h, w] != self.input_shape && !free {
            return Err(Error::BadInput(format!(
                "the model takes [batch, {}, {}, {}], got {:?}",
                self.input_shape[0],
                self.input_shape[1],
                self.input_shape[2],
                input.dims()
            )));
        }
        Ok(())
    }

    /// Run nodes `range`, dropping values once no later node (nor `keep`) needs them.
    fn execute(
        &self,
        input: &mut Option<Tensor<4>>,
        values: &mut [Option<Value>],
        range: std::ops::Range<usize>,
        keep: &dyn Fn(usize) -> bool,
        keep_input: bool,
    ) -> Result<()> {
        for at in range {
            let node = &self.nodes[at];
            let args = node
                .inputs
                .iter()
                .map(|s| match s {
                    Source::Input => input.clone().map(Value::Spatial),
                    Source::Node(j) => values[*j].clone(),
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::InvalidGraph(format!("layer `{}` ran before its inputs", self.layers[at].id)))?;
            values[at] = Some(node.op.apply(args, self.redirect.get(at).copied().unwrap_or_default())?);
            for s in &node.inputs {
                match s {
                    Source::Input if self.input_last_use == at && !keep_input => *input = None,
                    Source::Node(j) if self.last_use[*j] == at && !keep(*j) => values[*j] = None,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The logits, plus the activations of the `capture` layers in the order asked.
    ///
    /// # Shapes
    /// `input`: `[batch, C, H, W]`; returns `[batch, classes]`
    pub fn forward(&self, input: Tensor<4>, capture: &[LayerId]) -> Result<(Tensor<2>, Vec<Value>)> {
        self.check_input(&input)?;
        let mut values = vec![None; self.nodes.len()];
        let mut input = Some(input);
        self.execute(&mut input, &mut values, 0..self.nodes.len(), &|j| capture.contains(&LayerId(j)), false)?;
        let captured = capture.iter().map(|l| values[l.0].clone().expect("captured values are kept")).collect();
        let logits = values.pop().flatten().expect("the output is kept").flat("the output")?;
        Ok((logits, captured))
    }

    /// The activations of `layers` (any order), running the network only as far as the
    /// deepest of them. The input may have any height and width when the network up to that
    /// layer allows it ([`Graph::any_size_up_to`]).
    ///
    /// # Shapes
    /// `input`: `[batch, C, H, W]`; each value with the same batch
    pub fn activations(&self, input: Tensor<4>, layers: &[LayerId]) -> Result<Vec<Value>> {
        let Some(last) = layers.iter().max().copied() else { return Ok(Vec::new()) };
        if last.0 >= self.nodes.len() {
            return Err(Error::BadInput(format!("layer index {} out of range ({} layers)", last.0, self.nodes.len())));
        }
        self.check_input_to(&input, last)?;
        let mut values = vec![None; self.nodes.len()];
        let mut input = Some(input);
        self.execute(&mut input, &mut values, 0..last.0 + 1, &|j| layers.contains(&LayerId(j)), false)?;
        Ok(layers.iter().map(|l| values[l.0].clone().expect("asked-for values are kept")).collect())
    }

    /// The same graph with every ReLU-like rectifier (ReLU, ReLU6, clip) passing its gradient
    /// straight through below zero (above a cap, its own), while computing the same values
    /// ([`Redirect::All`]). Feature visualisation falls back on it in its first steps, for an
    /// image whose unit no pixel switches on, so that it still gets a gradient (Lucid's
    /// "redirected ReLU", here without its sign test: the objective decides the direction).
    pub fn redirected(&self) -> Graph {
        Graph { redirect: vec![Redirect::All; self.nodes.len()], ..self.clone() }
    }

    /// The same graph with the rectifiers of `layers` passing gradients to the channels
    /// that are switched off everywhere ([`Redirect::Dead`]), the others unchanged.
    pub fn redirected_at(&self, layers: &[LayerId]) -> Graph {
        let redirect = (0..self.nodes.len()).map(|i| if layers.contains(&LayerId(i)) { Redirect::Dead } else { Redirect::Off }).collect();
        Graph { redirect, ..self.clone() }
    }

    /// Run up to and including `layer`, keeping what the rest of the network will need.
    pub fn forward_to(&self, input: Tensor<4>, layer: LayerId) -> Result<Trace> {
        self.check_input(&input)?;
        let end = layer.0 + 1;
        let keep = |j: usize| j == layer.0 || (self.last_use[j] >= end);
        let mut values = vec![None; self.nodes.len()];
        let keep_input = self.input_last_use >= end && self.input_last_use != usize::MAX;
        let mut input = Some(input);
        self.execute(&mut input, &mut values, 0..end, &keep, keep_input)?;
        for (j, v) in values.iter_mut().enumerate().take(end) {
            if !keep(j) {
                *v = None;
            }
        }
        Ok(Trace { layer, input: if keep_input { input } else { None }, values })
    }

    /// Resume a pass from `activation` standing in for the trace's layer; returns the logits.
    /// Earlier values the rest reads (skip connections) come from the trace, so on an
    /// autodiff device the gradient with respect to `activation` is the layer's gradient.
    ///
    /// # Shapes
    /// `activation` as the layer's output with batch; returns `[batch, classes]`
    pub fn forward_from(&self, trace: &Trace, activation: Value) -> Result<Tensor<2>> {
        let at = trace.layer.0;
        if activation.dims()[1..] != self.layers[at].shape[..] {
            return Err(Error::BadInput(format!(
                "layer `{}` has shape {:?}, the activation given is {:?}",
                self.layers[at].id,
                self.layers[at].shape,
                activation.dims()
            )));
        }
        let mut values = trace.values.clone();
        values[at] = Some(activation);
        let mut input = trace.input.clone();
        self.execute(&mut input, &mut values, at + 1..self.nodes.len(), &|_| false, false)?;
        values.pop().flatten().expect("the output is kept").flat("the output")
    }
}

impl Graph {
    /// The trace [`Graph::forward_to`] would give for `layer`, made from the outputs of every
    /// layer of an earlier pass (`all`, in network order, batch 1 or any batch), so a view that
    /// kept them can differentiate from `layer` without running the network again. Fails when
    /// a layer after `layer` reads the input image itself.
    pub fn trace_of(&self, layer: LayerId, all: &[Value]) -> Result<Trace> {
        if all.len() != self.nodes.len() {
            return Err(Error::BadInput(format!("{} layer values given, the model has {} layers", all.len(), self.nodes.len())));
        }
        let end = layer.0 + 1;
        if self.input_last_use >= end && self.input_last_use != usize::MAX {
            return Err(Error::BadInput(format!("a layer after `{}` reads the input image; run forward_to instead", self.layers[layer.0].id)));
        }
        let values = all
            .iter()
            .enumerate()
            .map(|(j, v)| (j < end && (j == layer.0 || self.last_use[j] >= end)).then(|| v.clone()))
            .collect();
        Ok(Trace { layer, input: None, values })
    }

    /// The layers that have learned parameters (convolutions, affine maps, linear layers), in
    /// network order.
    pub fn weighted_layers(&self) -> Vec<LayerId> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].op, Op::Conv2d { .. } | Op::Affine { .. } | Op::Linear { .. }))
            .map(LayerId)
            .collect()
    }

    /// A copy of the graph with the parameters of `layers` re-drawn at random: each weight
    /// and bias tensor becomes Gaussian noise with that tensor's own standard deviation
    /// (the model-parameter randomization of Adebayo et al. 2018). Other layers share their
    /// weights with `self`. The same seed gives the same weights on every device.
    pub fn randomized(&self, layers: &[LayerId], seed: u64) -> Graph {
        let mut rng = crate::rng::Rng::new(seed);
        let mut out = self.clone();
        for l in layers {
            out.nodes[l.0].op = match &self.nodes[l.0].op {
                Op::Conv2d { weight, bias, options, act } => Op::Conv2d {
                    weight: like(weight, &mut rng),
                    bias: bias.as_ref().map(|b| like(b, &mut rng)),
                    options: options.clone(),
                    act: *act,
                },
                Op::Affine { scale, shift } => Op::Affine { scale: like(scale, &mut rng), shift: like(shift, &mut rng) },
                Op::Linear { weight, bias } => Op::Linear { weight: like(weight, &mut rng), bias: bias.as_ref().map(|b| like(b, &mut rng)) },
                op => op.clone(),
            };
        }
        out
    }
}

/// Gaussian noise shaped like `t`, scaled on the device to `t`'s standard deviation.
fn like<const D: usize>(t: &Tensor<D>, rng: &mut crate::rng::Rng) -> Tensor<D> {
    let dims = t.dims();
    let n: usize = dims.iter().product();
    let flat = t.clone().reshape([n]);
    let centred = flat.clone() - flat.mean().reshape([1]);
    let std = (centred.clone() * centred).mean().sqrt();
    let noise = Tensor::<1>::from_data(TensorData::new(rng.normals(n), [n]), &t.device());
    (noise * std).reshape(dims)
}

/// Average pooling: burn's, or the dilated one (output `out`, height and width).
fn avg_pool(options: AvgPoolOptions<2>, dilation: [usize; 2], out: [usize; 2]) -> Op {
    if dilation == [1, 1] { Op::AvgPool(options) } else { Op::AvgPoolDilated { options, dilation, out } }
}

fn lower(op: &OpSpec, in_shapes: &[Vec<usize>], out_shape: &[usize], t: &mut Weights, device: &Device) -> Op {
    let in_shape: &[usize] = in_shapes.first().map_or(&[], Vec::as_slice);
    // A value's axis k is axis k + 5 - rank of its `[batch, a, b, c, d]` form.
    let at = |k: usize| k + 5 - in_shape.len();
    let out = out_shape.to_vec();
    let shape = in_shape.to_vec();
    match op {
        OpSpec::Conv2d { weight, bias, stride, padding, dilation, groups, act } => Op::Conv2d {
            weight: t.upload(weight, device),
            bias: bias.as_ref().map(|b| t.upload(b, device)),
            options: ConvOptions::new_with_padding(*stride, pad_pairs(padding), *dilation, *groups),
            act: *act,
        },
        OpSpec::BatchNorm { gamma, beta, mean, var, eps } => {
            let (g, b, m, v) = (t.take(gamma).data, t.take(beta).data, t.take(mean).data, t.take(var).data);
            let (scale, shift) = optimize::batch_norm_affine(&g, &b, &m, &v, *eps);
            let n = scale.len();
            Op::Affine {
                scale: Tensor::from_data(TensorData::new(scale, [1, n]), device),
                shift: Tensor::from_data(TensorData::new(shift, [1, n]), device),
            }
        }
        OpSpec::Act(a) => Op::Act(*a),
        OpSpec::MaxPool2d { kernel, stride, padding, dilation, ceil_mode } => Op::MaxPool(MaxPoolOptions {
            kernel_size: *kernel,
            stride: *stride,
            padding: pad_pairs(padding),
            dilation: *dilation,
            ceil_mode: *ceil_mode,
        }),
        OpSpec::AvgPool2d { kernel, stride, padding, count_include_pad, ceil_mode, dilation } => {
            let options = AvgPoolOptions { kernel_size: *kernel, stride: *stride, padding: pad_pairs(padding), count_include_pad: *count_include_pad, ceil_mode: *ceil_mode };
            avg_pool(options, *dilation, [out[1], out[2]])
        }
        OpSpec::Pool3d { max, kernel, stride, padding, dilation, ceil_mode, count_include_pad } => {
            let (hw, depth) = if *max {
                (
                    Op::MaxPool(MaxPoolOptions { kernel_size: [kernel[1], kernel[2]], stride: [stride[1], stride[2]], padding: pad_pairs(&[padding[1], padding[2]]), dilation: [dilation[1], dilation[2]], ceil_mode: *ceil_mode }),
                    Op::MaxPool(MaxPoolOptions { kernel_size: [kernel[0], 1], stride: [stride[0], 1], padding: pad_pairs(&[padding[0], [0, 0]]), dilation: [dilation[0], 1], ceil_mode: *ceil_mode }),
                )
            } else {
                let avg = |kernel_size, stride, padding, dilation, out| {
                    avg_pool(AvgPoolOptions { kernel_size, stride, padding, count_include_pad: *count_include_pad, ceil_mode: *ceil_mode }, dilation, out)
                };
                (
                    avg([kernel[1], kernel[2]], [stride[1], stride[2]], pad_pairs(&[padding[1], padding[2]]), [dilation[1], dilation[2]], [out[2], out[3]]),
                    avg([kernel[0], 1], [stride[0], 1], pad_pairs(&[padding[0], [0, 0]]), [dilation[0], 1], [out[1], out[2] * out[3]]),
                )
            };
            Op::Pool3d { hw: Box::new(hw), depth: Box::new(depth), shape, out }
        }
        OpSpec::GlobalAvgPool => Op::GlobalAvgPool,
        OpSpec::GlobalMaxPool => Op::GlobalMaxPool,
        OpSpec::Linear { weight, bias } => {
            let w = t.take(weight);
            let (o, i) = (w.shape[0], w.shape[1]);
            let mut wt = vec![0f32; o * i];
            for r in 0..o {
                for c in 0..i {
                    wt[c * o + r] = w.data[r * i + c];
                }
            }
            Op::Linear {
                weight: Tensor::from_data(TensorData::new(wt, [i, o]), device),
                bias: bias.as_ref().map(|b| t.upload(b, device)),
            }
        }
        OpSpec::Add => Op::Add,
        OpSpec::Mul => Op::Mul,
        OpSpec::Concat => Op::Concat,
        OpSpec::Flatten => Op::Flatten,
        OpSpec::Reshape { shape } => Op::Reshape(shape.clone()),
        OpSpec::Softmax => Op::Softmax,
        OpSpec::Identity => Op::Identity,
        OpSpec::Arith { kind, constant, constant_first } => Op::Arith {
            kind: *kind,
            constant: constant.as_ref().map(|c| t.upload5(c, device)),
            constant_first: *constant_first,
            ins: in_shapes.to_vec(),
            out,
        },
        OpSpec::SoftmaxAxis { axis } => Op::SoftmaxAxis { axis: at(*axis), shape },
        OpSpec::Pad { pads, value, mode } => {
            let mut p = [[0, 0]; 5];
            for (k, pad) in pads.iter().enumerate() {
                p[at(k)] = *pad;
            }
            Op::Pad { pads: p, value: *value, mode: *mode, shape, out }
        }
        OpSpec::Transpose { perm } => {
            let mut p = [0, 1, 2, 3, 4];
            for (k, &a) in perm.iter().enumerate() {
                p[at(k)] = at(a);
            }
            Op::Transpose { perm: p, shape, out }
        }
        OpSpec::ConcatAxis { axis } => Op::ConcatAxis { axis: at(*axis), ins: in_shapes.to_vec(), out },
        OpSpec::Constant { value } => Op::Constant { value: t.upload_row(value, device), out },
        OpSpec::Mean { axes, .. } => Op::Mean { axes: axes.iter().map(|&a| at(a)).collect(), shape, out },
        OpSpec::MatMul { weight } => Op::MatMul { weight: t.upload5(weight, device), shape, out },
        OpSpec::ConvTranspose2d { weight, bias, stride, dilation, groups, begin, size } => Op::ConvTranspose2d {
            weight: t.upload(weight, device),
            bias: bias.as_ref().map(|b| t.upload(b, device)),
            options: burn::tensor::ops::ConvTransposeOptions::new(*stride, [0, 0], [0, 0], *dilation, *groups),
            begin: *begin,
            size: *size,
        },
    }
}
