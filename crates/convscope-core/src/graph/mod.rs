//! A model as a graph of named layers, run on whatever burn `Device` it was loaded on.
//!
//! Every node is a layer with an id, a kind and an output shape. The forward pass can keep
//! any layers' activations, stop at a layer ([`Graph::forward_to`]) and resume from a given
//! activation of that layer ([`Graph::forward_from`]): on an autodiff device that gives the
//! gradient of any output with respect to any layer.

pub mod field;
pub mod ops;
mod optimize;
mod spec;
mod value;

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Device, Tensor};
use serde::Serialize;

pub use ops::{
    Activation, ArithOp, Kernel, LayerProps, OpDef, OpSpec, PadMode, Padding2d, Redirect, Reduction, apply_activation, redirected_flat, redirected_spatial,
};
pub use optimize::{fold_activations, fold_batch_norms};
pub(crate) use spec::node_shape;
pub use spec::{GraphSpec, INPUT, LayerShape, NodeSpec};
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
    /// What the layer is, from its op.
    #[serde(flatten)]
    pub props: LayerProps,
    /// For a layer of feature maps `[C, H, W]` whose positions see part of the input: the
    /// input pixels each position sees (None: each sees the whole input, or it has no map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<field::Field>,
}

impl LayerInfo {
    /// Whether the layer's values are rectified (it ends in a ReLU, ReLU6 or a clip from 0),
    /// so a channel at 0 is switched off rather than merely low.
    pub fn rectified(&self) -> bool {
        self.props.rectified
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
    op: Rc<dyn Kernel>,
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

/// Each node's reach into the input, in network order (see [`field`]).
fn receptive(spec: &GraphSpec, tensors: &HashMap<String, HostTensor>) -> Vec<field::Reach> {
    let index: HashMap<&str, usize> = spec.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let input = if spec.input_shape[1] > 1 || spec.input_shape[2] > 1 { field::Reach::Field(field::Field::INPUT) } else { field::Reach::Whole };
    let mut reach: Vec<field::Reach> = Vec::with_capacity(spec.nodes.len());
    for node in &spec.nodes {
        let ins: Vec<field::Reach> = node.inputs.iter().map(|i| if i == INPUT { input } else { reach[index[i.as_str()]] }).collect();
        reach.push(field::Reach::of(&ins, node.op.def().footprint(tensors)));
    }
    reach
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
        let reach = receptive(&spec, &tensors);
        let mut weights = ops::Weights::new(tensors, &spec.nodes);
        let index: HashMap<&str, usize> = spec.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        let mut nodes = Vec::with_capacity(spec.nodes.len());
        let mut layers = Vec::with_capacity(spec.nodes.len());
        let mut last_use = vec![usize::MAX; spec.nodes.len()];
        let mut input_last_use = usize::MAX;
        for (at, (node, shape)) in spec.nodes.iter().zip(shapes.iter().cloned()).enumerate() {
            let inputs: Vec<Source> = node.inputs.iter().map(|i| if i == INPUT { Source::Input } else { Source::Node(index[i.as_str()]) }).collect();
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
            let op = node.op.def().lower(&mut ops::Lowering { ins: &in_shapes, out: &shape, weights: &mut weights, device });
            nodes.push(Node { op, inputs });
            let field = if shape.len() == 3 { reach[at].field() } else { None };
            layers.push(LayerInfo { id: node.id.clone(), kind: node.op.kind(), shape, props: node.op.props(), field });
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
        self.layers
            .iter()
            .position(|l| l.id == id)
            .map(LayerId)
            .ok_or_else(|| Error::UnknownLayer { id: id.into(), valid: self.layers.iter().map(|l| l.id.clone()).collect() })
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
        // branches) is not a map to look at; nor is a channels-last value ([H, W, C], as
        // ConvNeXt's layer norms see theirs): its last two axes are not a height and width
        // a convolution or pooling gave (or the image's).
        let first_flat = self.layers.iter().position(|l| l.shape.len() == 1)?;
        let mut sizes: Vec<[usize; 2]> = self.layers.iter().filter(|l| l.props.windowed && l.shape.len() == 3).map(|l| [l.shape[1], l.shape[2]]).collect();
        sizes.push([self.input_shape[1], self.input_shape[2]]);
        self.layers[..first_flat]
            .iter()
            .rposition(|l| l.shape.len() == 3 && l.shape[1] * l.shape[2] > 1 && sizes.contains(&[l.shape[1], l.shape[2]]))
            .map(LayerId)
    }

    /// Whether the layers up to and including `layer` run on an input of any height and width
    /// (true when nothing before it flattens feature maps), so an image of another size than
    /// [`Graph::input_shape`] may be fed to [`Graph::activations`].
    pub fn any_size_up_to(&self, layer: LayerId) -> bool {
        self.nodes[..=layer.0]
            .iter()
            .zip(&self.layers)
            .all(|(n, info)| !info.props.flattens || n.inputs.iter().all(|s| matches!(s, Source::Node(j) if self.layers[*j].shape.len() == 1)))
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

    /// The wall time of each layer in one forward pass, in network order: a profile (see
    /// [`Graph::op_label`] to group it by kind). Meaningful on the CPU, whose ops have finished
    /// when they return; a GPU's ops are only queued then. Native only (no clock in wasm).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_timed(&self, input: Tensor<4>) -> Result<Vec<std::time::Duration>> {
        self.check_input(&input)?;
        let mut values = vec![None; self.nodes.len()];
        let mut input = Some(input);
        let mut times = Vec::with_capacity(self.nodes.len());
        for at in 0..self.nodes.len() {
            let start = std::time::Instant::now();
            self.execute(&mut input, &mut values, at..at + 1, &|_| false, false)?;
            times.push(start.elapsed());
        }
        Ok(times)
    }

    /// What runs a layer on the CPU: its kind, or for a convolution which kernel (for a
    /// profile).
    pub fn op_label(&self, layer: LayerId) -> &str {
        self.nodes[layer.0].op.label().unwrap_or(&self.layers[layer.0].kind)
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
        let values = all.iter().enumerate().map(|(j, v)| (j < end && (j == layer.0 || self.last_use[j] >= end)).then(|| v.clone())).collect();
        Ok(Trace { layer, input: None, values })
    }

    /// The layers that have learned parameters (convolutions, affine maps, linear layers), in
    /// network order.
    pub fn weighted_layers(&self) -> Vec<LayerId> {
        (0..self.nodes.len()).filter(|&i| self.layers[i].props.weighted).map(LayerId).collect()
    }

    /// A copy of the graph with the parameters of `layers` re-drawn at random: each weight
    /// and bias tensor becomes Gaussian noise with that tensor's own standard deviation
    /// (the model-parameter randomization of Adebayo et al. 2018). Other layers share their
    /// weights with `self`. The same seed gives the same weights on every device.
    pub fn randomized(&self, layers: &[LayerId], seed: u64) -> Graph {
        let mut rng = crate::rng::Rng::new(seed);
        let mut out = self.clone();
        for l in layers {
            if let Some(op) = self.nodes[l.0].op.randomized(&mut rng) {
                out.nodes[l.0].op = op;
            }
        }
        out
    }
}
