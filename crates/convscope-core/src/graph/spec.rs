//! The serialisable description of a model graph: nodes, their ops and how they are wired.
//!
//! A spec names its weights; [`crate::graph::Graph`] is the same graph with the weights on a
//! device. Model files store specs, the ONNX importer will produce them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, tensor_data::HostTensor};

/// Name under which a node refers to the graph's input image.
pub const INPUT: &str = "input";

/// Per-side padding of a 2-D window: `[[top, bottom], [left, right]]`.
pub type Padding2d = [[usize; 2]; 2];

/// Elementwise activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// min(max(x, 0), 6)
    Relu6,
    /// min(max(x, min), max)
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// x if x > 0 else alpha * x
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// clamp(alpha * x + beta, 0, 1)
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// x * clamp(x / 6 + 1/2, 0, 1)
    HardSwish,
    /// tanh(x)
    Tanh,
    /// x * sigmoid(x) (also called swish)
    Silu,
}

impl Activation {
    /// The function's name, as shown to users.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::Clip { .. } => "clip",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::HardSigmoid { .. } => "hard_sigmoid",
            Activation::HardSwish => "hard_swish",
            Activation::Tanh => "tanh",
            Activation::Silu => "silu",
        }
    }
}

/// How [`OpSpec::Pad`] fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// With the value.
    #[default]
    Constant,
    /// With the nearest edge's values.
    Edge,
    /// Mirrored, without repeating the edge.
    Reflect,
    /// From the other end.
    Wrap,
}

/// Elementwise arithmetic of [`OpSpec::Arith`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArithOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// a / b rounded toward zero (integer tensors)
    DivTrunc,
}

/// One operation of the graph. Weights are named; their data lives beside the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpSpec {
    /// 2-D convolution. `weight` is `[out, in / groups, kh, kw]`, `bias` is `[out]`.
    Conv2d {
        /// Kernel tensor name.
        weight: String,
        /// Bias tensor name.
        bias: Option<String>,
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
        /// Per-side zero padding.
        padding: Padding2d,
        /// Dilation `[dh, dw]`.
        dilation: [usize; 2],
        /// Channel groups (`in` channels for depthwise).
        groups: usize,
        /// Activation applied to the output (set when a following activation is folded in).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        act: Option<Activation>,
    },
    /// Inference batch normalisation over channels (axis 1).
    BatchNorm {
        /// Scale, `[C]`.
        gamma: String,
        /// Shift, `[C]`.
        beta: String,
        /// Running mean, `[C]`.
        mean: String,
        /// Running variance, `[C]`.
        var: String,
        /// Added to the variance.
        eps: f64,
    },
    /// Elementwise activation.
    Act(Activation),
    /// Max pooling over a 2-D window.
    MaxPool2d {
        /// Window `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
        /// Per-side padding (padded cells never win).
        padding: Padding2d,
        /// Dilation `[dh, dw]`.
        dilation: [usize; 2],
        /// Round output size up instead of down.
        ceil_mode: bool,
    },
    /// Average pooling over a 2-D window.
    AvgPool2d {
        /// Window `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
        /// Per-side zero padding.
        padding: Padding2d,
        /// Count padded cells in the denominator.
        count_include_pad: bool,
        /// Round output size up instead of down.
        ceil_mode: bool,
        /// Dilation `[dh, dw]`.
        #[serde(default = "undilated", skip_serializing_if = "is_undilated")]
        dilation: [usize; 2],
    },
    /// Max or average pooling over a 3-D window of `[C, D, H, W]`, separably (height and
    /// width, then depth: both poolings are separable, padded cells never win or count).
    Pool3d {
        /// Max (else average) pooling.
        max: bool,
        /// Window `[kd, kh, kw]`.
        kernel: [usize; 3],
        /// Stride `[sd, sh, sw]`.
        stride: [usize; 3],
        /// Per-side padding `[[front, back], [top, bottom], [left, right]]`.
        padding: [[usize; 2]; 3],
        /// Dilation `[dd, dh, dw]` (max pooling only).
        dilation: [usize; 3],
        /// Round output sizes up.
        ceil_mode: bool,
        /// Count padded cells in an average's denominator.
        count_include_pad: bool,
    },
    /// Mean over all spatial positions: `[C, H, W] -> [C]`.
    GlobalAvgPool,
    /// Max over all spatial positions: `[C, H, W] -> [C]`.
    GlobalMaxPool,
    /// Fully connected layer. `weight` is `[out, in]` (PyTorch / ONNX Gemm with transB=1).
    Linear {
        /// Weight tensor name, `[out, in]`.
        weight: String,
        /// Bias tensor name, `[out]`.
        bias: Option<String>,
    },
    /// Elementwise sum of two inputs of the same shape.
    Add,
    /// Elementwise product of two inputs (the second may broadcast over space).
    Mul,
    /// Concatenation along channels.
    Concat,
    /// `[C, H, W] -> [C * H * W]`, C outermost.
    Flatten,
    /// Reshape to `shape` (without batch): `[C, H, W]` or `[F]`, same element count.
    Reshape {
        /// Target shape without the batch dimension.
        shape: Vec<usize>,
    },
    /// Softmax over the features of a flat input.
    Softmax,
    /// Passes its input through (dropout at inference).
    Identity,
    /// Constant padding: `pads[k]` values before and after axis `k` (without the batch).
    Pad {
        /// `[before, after]` per axis.
        pads: Vec<[usize; 2]>,
        /// The value padded with.
        value: f32,
        /// How the padding is filled.
        #[serde(default)]
        mode: PadMode,
    },
    /// Elementwise `a op b` with numpy broadcasting (shapes aligned right, size-1 axes
    /// stretched): of the input and the constant `constant` (`[...]` without batch; first
    /// operand when `constant_first`), or of two inputs.
    Arith {
        /// The operation.
        kind: ArithOp,
        /// Constant operand, or `None` for two inputs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        constant: Option<String>,
        /// The constant is the left operand.
        #[serde(default)]
        constant_first: bool,
    },
    /// Softmax along one axis of the value (axes counted without the batch).
    SoftmaxAxis {
        /// The axis.
        axis: usize,
    },
    /// Axes permuted (without the batch): output axis `k` is input axis `perm[k]`.
    Transpose {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// Concatenation along one axis (without the batch).
    ConcatAxis {
        /// The axis.
        axis: usize,
    },
    /// A constant value, the same for every element of the batch (the input is read only for
    /// the batch size).
    Constant {
        /// Tensor name, without batch.
        value: String,
    },
    /// Mean over axes (without the batch).
    Mean {
        /// Axes, ascending.
        axes: Vec<usize>,
        /// Keep them as size 1.
        keep: bool,
    },
    /// Matrix product of the input's last two axes with a constant `[..., K, N]` (its leading
    /// axes broadcast against the input's).
    MatMul {
        /// The right operand.
        weight: String,
    },
    /// 2-D transposed convolution. `weight` is `[in, out / groups, kh, kw]`; the full output
    /// (`(in - 1) * stride + dilation * (k - 1) + 1` a side, zero beyond it) is cut to `size`
    /// starting at `begin` (negative: zeros before it).
    ConvTranspose2d {
        /// Kernel tensor name.
        weight: String,
        /// Bias tensor name, `[out]`.
        bias: Option<String>,
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
        /// Dilation `[dh, dw]`.
        dilation: [usize; 2],
        /// Channel groups.
        groups: usize,
        /// First row and column of the output in the full result.
        begin: [i64; 2],
        /// Output height and width.
        size: [usize; 2],
    },
}

impl OpSpec {
    /// A short name for the kind of layer, as shown to users.
    pub fn kind(&self) -> String {
        match self {
            OpSpec::Conv2d { groups, act, weight, .. } => {
                let _ = weight;
                let base = if *groups > 1 { "conv2d (grouped)" } else { "conv2d" };
                match act {
                    Some(a) => format!("{base}+{}", a.name()),
                    None => base.into(),
                }
            }
            OpSpec::BatchNorm { .. } => "batch_norm".into(),
            OpSpec::Act(a) => a.name().into(),
            OpSpec::MaxPool2d { .. } => "max_pool2d".into(),
            OpSpec::AvgPool2d { .. } => "avg_pool2d".into(),
            OpSpec::GlobalAvgPool => "global_avg_pool".into(),
            OpSpec::GlobalMaxPool => "global_max_pool".into(),
            OpSpec::Linear { .. } => "linear".into(),
            OpSpec::Add => "add".into(),
            OpSpec::Mul => "mul".into(),
            OpSpec::Concat => "concat".into(),
            OpSpec::Flatten => "flatten".into(),
            OpSpec::Reshape { .. } => "reshape".into(),
            OpSpec::Softmax | OpSpec::SoftmaxAxis { .. } => "softmax".into(),
            OpSpec::Identity => "identity".into(),
            OpSpec::Arith { kind, .. } => format!("{kind:?}").to_lowercase(),
            OpSpec::Transpose { .. } => "transpose".into(),
            OpSpec::Pad { .. } => "pad".into(),
            OpSpec::Pool3d { max: true, .. } => "max_pool3d".into(),
            OpSpec::Pool3d { max: false, .. } => "avg_pool3d".into(),
            OpSpec::ConcatAxis { .. } => "concat".into(),
            OpSpec::Constant { .. } => "constant".into(),
            OpSpec::Mean { .. } => "mean".into(),
            OpSpec::MatMul { .. } => "matmul".into(),
            OpSpec::ConvTranspose2d { .. } => "conv_transpose2d".into(),
        }
    }

    /// Names of the weight tensors this op uses.
    pub fn weight_names(&self) -> Vec<&str> {
        match self {
            OpSpec::Conv2d { weight, bias, .. } | OpSpec::Linear { weight, bias } | OpSpec::ConvTranspose2d { weight, bias, .. } => {
                std::iter::once(weight.as_str()).chain(bias.as_deref()).collect()
            }
            OpSpec::BatchNorm { gamma, beta, mean, var, .. } => {
                vec![gamma.as_str(), beta.as_str(), mean.as_str(), var.as_str()]
            }
            OpSpec::Arith { constant: Some(w), .. } | OpSpec::Constant { value: w } | OpSpec::MatMul { weight: w } => vec![w.as_str()],
            _ => Vec::new(),
        }
    }
}

/// One node: an op applied to earlier nodes' outputs (or to [`INPUT`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Unique id; also the id of the layer it produces.
    pub id: String,
    /// What the node computes.
    #[serde(flatten)]
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

fn undilated() -> [usize; 2] {
    [1, 1]
}

fn is_undilated(d: &[usize; 2]) -> bool {
    *d == [1, 1]
}

/// Shape of a node's output without the batch dimension: `[C, H, W]` or `[F]`.
pub type LayerShape = Vec<usize>;

fn window_out(size: usize, pad: [usize; 2], k: usize, stride: usize, dil: usize, ceil: bool) -> Option<usize> {
    let span = dil * (k - 1) + 1;
    let padded = size + pad[0] + pad[1];
    if padded < span || stride == 0 {
        return None;
    }
    let steps = padded - span;
    let mut out = steps / stride + 1;
    if ceil && !steps.is_multiple_of(stride) {
        // PyTorch: the last window must start inside the input or left padding.
        if (out) * stride < size + pad[0] {
            out += 1;
        }
    }
    Some(out)
}

impl GraphSpec {
    /// Checks wiring and weight shapes, and returns every node's output shape (no batch); the
    /// last node must give flat logits.
    pub fn infer_shapes(&self, weights: &HashMap<String, HostTensor>) -> Result<Vec<LayerShape>> {
        let out = self.layer_shapes(weights)?;
        match out.last() {
            Some(s) if s.len() == 1 => Ok(out),
            Some(s) => Err(Error::InvalidGraph(format!(
                "the last node must give flat logits, it gives shape {s:?}"
            ))),
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
                .map(|i| {
                    shapes.get(i.as_str()).ok_or_else(|| {
                        Error::InvalidGraph(format!(
                            "node `{}` reads `{i}`, which is not an earlier node",
                            node.id
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let shape = node_shape(node, &ins, weights)
                .map_err(|m| Error::InvalidGraph(format!("node `{}` ({}): {m}", node.id, node.op.kind())))?;
            shapes.insert(&node.id, shape.clone());
            out.push(shape);
        }
        if out.is_empty() {
            return Err(Error::InvalidGraph("the graph has no node".into()));
        }
        Ok(out)
    }
}

fn weight<'a>(weights: &'a HashMap<String, HostTensor>, name: &str) -> std::result::Result<&'a HostTensor, String> {
    weights.get(name).ok_or_else(|| format!("weight `{name}` is missing from the file"))
}

fn arity(ins: &[&LayerShape], n: usize) -> std::result::Result<(), String> {
    if ins.len() == n {
        Ok(())
    } else {
        Err(format!("takes {n} input(s), has {}", ins.len()))
    }
}

fn spatial(s: &LayerShape) -> std::result::Result<[usize; 3], String> {
    match s.as_slice() {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => Err(format!("needs a [C, H, W] input, got {s:?}")),
    }
}

/// numpy's broadcast of two shapes (aligned right).
fn broadcast(a: &[usize], b: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], k: usize| if k + s.len() >= r { s[k + s.len() - r] } else { 1 };
    (0..r)
        .map(|k| match (at(a, k), at(b, k)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}

pub(crate) fn node_shape(
    node: &NodeSpec,
    ins: &[&LayerShape],
    weights: &HashMap<String, HostTensor>,
) -> std::result::Result<LayerShape, String> {
    let shape = op_shape(node, ins, weights)?;
    // Values have up to four axes without the batch.
    if shape.len() <= 4 {
        Ok(shape)
    } else {
        Err(format!("gives a {shape:?} value; convscope's values have at most 4 axes without the batch"))
    }
}

fn op_shape(
    node: &NodeSpec,
    ins: &[&LayerShape],
    weights: &HashMap<String, HostTensor>,
) -> std::result::Result<LayerShape, String> {
    match &node.op {
        OpSpec::Conv2d { weight: w, bias, stride, padding, dilation, groups, .. } => {
            arity(ins, 1)?;
            let [c, h, wd] = spatial(ins[0])?;
            let w = weight(weights, w)?;
            let [o, i, kh, kw] = match w.shape.as_slice() {
                [a, b, c, d] => [*a, *b, *c, *d],
                s => return Err(format!("kernel must be [out, in, kh, kw], got {s:?}")),
            };
            if *groups == 0 || c % groups != 0 || o % groups != 0 || i * groups != c {
                return Err(format!(
                    "kernel {:?} with {groups} groups does not fit {c} input channels",
                    w.shape
                ));
            }
            if let Some(b) = bias {
                let b = weight(weights, b)?;
                if b.shape != [o] {
                    return Err(format!("bias must be [{o}], got {:?}", b.shape));
                }
            }
            let oh = window_out(h, padding[0], kh, stride[0], dilation[0], false);
            let ow = window_out(wd, padding[1], kw, stride[1], dilation[1], false);
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok(vec![o, oh, ow]),
                _ => Err(format!("kernel {kh}x{kw} does not fit input {h}x{wd}")),
            }
        }
        OpSpec::BatchNorm { gamma, beta, mean, var, .. } => {
            arity(ins, 1)?;
            if ins[0].len() != 1 && ins[0].len() != 3 {
                return Err(format!("needs [C, H, W] or [F], got {:?}", ins[0]));
            }
            let c = ins[0][0];
            for n in [gamma, beta, mean, var] {
                let t = weight(weights, n)?;
                if t.shape != [c] {
                    return Err(format!("`{n}` must be [{c}], got {:?}", t.shape));
                }
            }
            Ok(ins[0].clone())
        }
        OpSpec::Act(_) | OpSpec::Identity => {
            arity(ins, 1)?;
            Ok(ins[0].clone())
        }
        OpSpec::MaxPool2d { kernel, stride, padding, dilation, ceil_mode } => {
            arity(ins, 1)?;
            let [c, h, w] = spatial(ins[0])?;
            let oh = window_out(h, padding[0], kernel[0], stride[0], dilation[0], *ceil_mode);
            let ow = window_out(w, padding[1], kernel[1], stride[1], dilation[1], *ceil_mode);
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok(vec![c, oh, ow]),
                _ => Err(format!("window {kernel:?} does not fit input {h}x{w}")),
            }
        }
        OpSpec::AvgPool2d { kernel, stride, padding, ceil_mode, dilation, .. } => {
            arity(ins, 1)?;
            let [c, h, w] = spatial(ins[0])?;
            let oh = window_out(h, padding[0], kernel[0], stride[0], dilation[0], *ceil_mode);
            let ow = window_out(w, padding[1], kernel[1], stride[1], dilation[1], *ceil_mode);
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok(vec![c, oh, ow]),
                _ => Err(format!("window {kernel:?} does not fit input {h}x{w}")),
            }
        }
        OpSpec::GlobalAvgPool | OpSpec::GlobalMaxPool => {
            arity(ins, 1)?;
            let [c, _, _] = spatial(ins[0])?;
            Ok(vec![c])
        }
        OpSpec::Linear { weight: w, bias } => {
            arity(ins, 1)?;
            let f = match ins[0].as_slice() {
                [f] => *f,
                s => return Err(format!("needs a flat input, got {s:?} (add a flatten node)")),
            };
            let w = weight(weights, w)?;
            let o = match w.shape.as_slice() {
                [o, i] if *i == f => *o,
                s => return Err(format!("weight must be [out, {f}], got {s:?}")),
            };
            if let Some(b) = bias {
                let b = weight(weights, b)?;
                if b.shape != [o] {
                    return Err(format!("bias must be [{o}], got {:?}", b.shape));
                }
            }
            Ok(vec![o])
        }
        OpSpec::Add | OpSpec::Mul => {
            arity(ins, 2)?;
            let (a, b) = (ins[0], ins[1]);
            let broadcast_ok = a.len() == b.len()
                && a.len() <= 3
                && a.iter().zip(b.iter()).all(|(x, y)| x == y || *y == 1);
            if broadcast_ok {
                Ok(a.clone())
            } else {
                Err(format!("shapes {a:?} and {b:?} do not match"))
            }
        }
        OpSpec::Concat => {
            if ins.is_empty() {
                return Err("needs at least one input".into());
            }
            let first = ins[0];
            if first.len() != 1 && first.len() != 3 {
                return Err(format!("needs [C, H, W] or [F] inputs, got {first:?}"));
            }
            let mut shape = first.clone();
            shape[0] = 0;
            for s in ins {
                if s.len() != first.len() || s[1..] != first[1..] {
                    return Err(format!("shapes {first:?} and {s:?} differ outside channels"));
                }
                shape[0] += s[0];
            }
            Ok(shape)
        }
        OpSpec::Flatten => {
            arity(ins, 1)?;
            Ok(vec![ins[0].iter().product()])
        }
        OpSpec::Reshape { shape } => {
            arity(ins, 1)?;
            let (from, to): (usize, usize) = (ins[0].iter().product(), shape.iter().product());
            if from != to {
                return Err(format!("cannot reshape {:?} to {shape:?}", ins[0]));
            }
            Ok(shape.clone())
        }
        OpSpec::Softmax => {
            arity(ins, 1)?;
            if ins[0].len() != 1 {
                return Err(format!("needs a flat input, got {:?}", ins[0]));
            }
            Ok(ins[0].clone())
        }
        OpSpec::Arith { constant, .. } => match constant {
            Some(c) => {
                arity(ins, 1)?;
                let c = weight(weights, c)?;
                if c.shape.len() > ins[0].len() {
                    return Err(format!("the constant {:?} has more axes than the input {:?}", c.shape, ins[0]));
                }
                broadcast(ins[0], &c.shape)
            }
            None => {
                arity(ins, 2)?;
                broadcast(ins[0], ins[1])
            }
        },
        OpSpec::Pool3d { kernel, stride, padding, dilation, ceil_mode, .. } => {
            arity(ins, 1)?;
            let [c, d, h, w] = match ins[0].as_slice() {
                [c, d, h, w] => [*c, *d, *h, *w],
                s => return Err(format!("needs [C, D, H, W], got {s:?}")),
            };
            let mut out = vec![c];
            for (a, size) in [d, h, w].into_iter().enumerate() {
                out.push(window_out(size, padding[a], kernel[a], stride[a], dilation[a], *ceil_mode).ok_or_else(|| format!("window {kernel:?} does not fit {:?}", ins[0]))?);
            }
            Ok(out)
        }
        OpSpec::Pad { pads, mode, .. } => {
            arity(ins, 1)?;
            if pads.len() != ins[0].len() {
                return Err(format!("{} pads for {:?}", pads.len(), ins[0]));
            }
            // Edge copies a slice, reflect and wrap need as many slices as they pad.
            let need = |d: usize, p: usize| match mode {
                PadMode::Constant => true,
                PadMode::Edge => d > 0 || p == 0,
                PadMode::Reflect => p < d,
                PadMode::Wrap => p <= d,
            };
            if ins[0].iter().zip(pads).any(|(&d, [a, b])| !need(d, *a) || !need(d, *b)) {
                return Err(format!("{mode:?} padding {pads:?} does not fit {:?}", ins[0]));
            }
            Ok(ins[0].iter().zip(pads).map(|(d, [a, b])| d + a + b).collect())
        }
        OpSpec::SoftmaxAxis { axis } => {
            arity(ins, 1)?;
            if *axis >= ins[0].len() {
                return Err(format!("axis {axis} of {:?}", ins[0]));
            }
            Ok(ins[0].clone())
        }
        OpSpec::Transpose { perm } => {
            arity(ins, 1)?;
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..ins[0].len()).collect::<Vec<_>>() {
                return Err(format!("{perm:?} is not a permutation of the axes of {:?}", ins[0]));
            }
            Ok(perm.iter().map(|&a| ins[0][a]).collect())
        }
        OpSpec::ConcatAxis { axis } => {
            let first = ins.first().ok_or("needs at least one input")?;
            if *axis >= first.len() {
                return Err(format!("axis {axis} of {first:?}"));
            }
            let mut shape = (*first).clone();
            shape[*axis] = 0;
            for s in ins {
                let same = s.len() == first.len() && (0..s.len()).all(|k| k == *axis || s[k] == first[k]);
                if !same {
                    return Err(format!("shapes {first:?} and {s:?} differ outside axis {axis}"));
                }
                shape[*axis] += s[*axis];
            }
            Ok(shape)
        }
        OpSpec::Constant { value } => {
            arity(ins, 1)?;
            Ok(weight(weights, value)?.shape.clone())
        }
        OpSpec::Mean { axes, keep } => {
            arity(ins, 1)?;
            if axes.is_empty() || axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= ins[0].len()) {
                return Err(format!("axes {axes:?} of {:?}", ins[0]));
            }
            Ok(ins[0].iter().enumerate().filter_map(|(k, &d)| if axes.contains(&k) { keep.then_some(1) } else { Some(d) }).collect())
        }
        OpSpec::MatMul { weight: w } => {
            arity(ins, 1)?;
            let w = &weight(weights, w)?.shape;
            let x = ins[0];
            if x.len() < 2 || w.len() < 2 || x[x.len() - 1] != w[w.len() - 2] {
                return Err(format!("cannot multiply {x:?} by {w:?}"));
            }
            let lead = broadcast(&x[..x.len() - 2], &w[..w.len() - 2])?;
            Ok(lead.into_iter().chain([x[x.len() - 2], w[w.len() - 1]]).collect())
        }
        OpSpec::ConvTranspose2d { weight: w, bias, groups, size, .. } => {
            arity(ins, 1)?;
            let [c, _, _] = spatial(ins[0])?;
            let w = weight(weights, w)?;
            let o = match w.shape.as_slice() {
                [i, o, _, _] if *i == c && *groups > 0 && c % groups == 0 => o * groups,
                s => return Err(format!("kernel {s:?} with {groups} groups does not fit {c} input channels")),
            };
            if let Some(b) = bias {
                let b = weight(weights, b)?;
                if b.shape != [o] {
                    return Err(format!("bias must be [{o}], got {:?}", b.shape));
                }
            }
            if size.contains(&0) {
                return Err(format!("the output would be {}x{}", size[0], size[1]));
            }
            Ok(vec![o, size[0], size[1]])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorflow_same_padding_on_stride_two_gives_half_size() {
        // 224 input, 3x3 stride 2, TF "same": pad 0 before, 1 after -> 112.
        assert_eq!(window_out(224, [0, 1], 3, 2, 1, false), Some(112));
        // 5x5 stride 2 on 28: pad 1 before, 2 after -> 14.
        assert_eq!(window_out(28, [1, 2], 5, 2, 1, false), Some(14));
        // dilation 2, 3x3, pad 2 both sides keeps the size.
        assert_eq!(window_out(10, [2, 2], 3, 1, 2, false), Some(10));
    }

    #[test]
    fn ceil_mode_adds_a_partial_window() {
        assert_eq!(window_out(7, [0, 0], 2, 2, 1, false), Some(3));
        assert_eq!(window_out(7, [0, 0], 2, 2, 1, true), Some(4));
    }

    #[test]
    fn spec_round_trips_through_json() {
        let node = NodeSpec {
            id: "stem".into(),
            op: OpSpec::Act(Activation::Clip { min: 0.0, max: 6.0 }),
            inputs: vec![INPUT.into()],
        };
        let json = serde_json::to_string(&node).unwrap();
        assert!(json.contains("\"op\":\"act\""), "{json}");
        let back: NodeSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, node);
    }

    #[test]
    fn wiring_errors_name_the_node() {
        let spec = GraphSpec {
            input_shape: [1, 4, 4],
            nodes: vec![NodeSpec { id: "a".into(), op: OpSpec::Flatten, inputs: vec!["nope".into()] }],
        };
        let err = spec.infer_shapes(&HashMap::new()).unwrap_err().to_string();
        assert!(err.contains("`a` reads `nope`"), "{err}");
    }
}
