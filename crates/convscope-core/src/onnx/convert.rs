//! ONNX nodes as convscope graph nodes, one op at a time.
//!
//! convscope's layers are batch-less `[C, H, W]` feature maps or `[F]` feature vectors; an
//! ONNX value is tracked under the same shape without its batch dimension. Constants
//! (initializers, `Constant` nodes) are folded into the nodes that read them: weights,
//! clip bounds, reshape targets, per-channel affine maps. A zero `Pad` is folded into the
//! convolution or pooling that reads it.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{AttributeProto, GraphProto, NodeProto};

use super::{
    fold::{FOLDED, fold},
    tensor::{Constant, constant},
};
use crate::{
    Error, Result,
    graph::{
        Activation, ArithOp, GraphSpec, INPUT, LayerShape, NodeSpec, OpSpec, PadMode, Padding2d, Reduction, node_shape,
        ops::{
            act::Act, arith::Arith, avg_pool2d::AvgPool2d, batch_norm::BatchNorm, concat::Concat, constant::Constant as ConstantOp,
            conv_transpose2d::ConvTranspose2d, conv2d::Conv2d, flatten::Flatten, global_pool::GlobalAvgPool, identity::Identity, linear::Linear,
            matmul::MatMul, max_pool2d::MaxPool2d, pad::Pad, pool3d::Pool3d, reduce::Reduce, reshape::Reshape, softmax::Softmax, transpose::Transpose,
        },
    },
    tensor_data::HostTensor,
};

/// The ONNX ops the importer maps (default domain).
pub const SUPPORTED: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Refuses, before anything is converted, a graph with ops outside [`SUPPORTED`], naming
/// every such op and the nodes that use it.
pub fn check_ops(graph: &GraphProto) -> Result<()> {
    let mut bad: Vec<(String, Vec<String>)> = vec![];
    for (i, n) in graph.node.iter().enumerate() {
        let standard = n.domain.is_empty() || n.domain == "ai.onnx";
        if standard && (SUPPORTED.contains(&n.op_type.as_str()) || FOLDED.contains(&n.op_type.as_str())) {
            continue;
        }
        let op = if standard { n.op_type.clone() } else { format!("{}.{}", n.domain, n.op_type) };
        let node = if n.name.is_empty() { format!("#{i}") } else { format!("`{}`", n.name) };
        match bad.iter_mut().find(|(o, _)| *o == op) {
            Some((_, nodes)) => nodes.push(node),
            None => bad.push((op, vec![node])),
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = bad
        .iter()
        .map(|(op, nodes)| {
            let shown: Vec<&str> = nodes.iter().take(3).map(String::as_str).collect();
            let more = if nodes.len() > 3 { format!(" and {} more", nodes.len() - 3) } else { String::new() };
            format!("{op} (node {}{more})", shown.join(", "))
        })
        .collect();
    Err(Error::Onnx(format!(
        "the model uses ops convscope does not run: {}. Supported ops: {}; on constants only: {}",
        list.join("; "),
        SUPPORTED.join(", "),
        FOLDED.join(", ")
    )))
}

/// A value of the graph as convscope runs it: the spec node that computes it and its shape.
#[derive(Debug, Clone)]
struct Runtime {
    id: String,
    shape: LayerShape,
    /// Zero padding still to apply (a folded `Pad`), `[[top, bottom], [left, right]]`.
    pad: Option<Padding2d>,
}

/// How the ONNX input becomes the graph's input.
pub struct Layout {
    /// The graph's input `[C, H, W]`.
    pub shape: [usize; 3],
    /// ONNX's first axis is the graph's batch (else the whole ONNX value is one sample).
    pub batched: bool,
    /// The ONNX input's shape (without batch) when it is not `shape` (features, matrices,
    /// 1-D signals, volumes): a first node named after the input reshapes it.
    pub reshaped: Option<Vec<usize>>,
    /// The input holds integers.
    pub integer: bool,
}

/// What a conversion gives (see [`super::Imported`]).
pub struct Finished {
    pub graph: GraphSpec,
    pub weights: HashMap<String, HostTensor>,
    pub notes: Vec<String>,
    pub values: Vec<(String, String)>,
}

pub struct Converter<'g> {
    opset: i64,
    constants: HashMap<String, Constant>,
    values: HashMap<String, Runtime>,
    nodes: Vec<NodeSpec>,
    weights: HashMap<String, HostTensor>,
    ids: HashSet<String>,
    input_shape: [usize; 3],
    /// ONNX's first axis is the graph's batch (else the whole ONNX value is one sample).
    batched: bool,
    /// The input (so every value) holds integers, computed as exact float32: division
    /// rounds toward zero.
    integer: bool,
    /// Shape of every spec node by id, and of the input.
    shapes: HashMap<String, LayerShape>,
    /// How many nodes read each value name (to fold `Pad` only where a conv reads it alone).
    readers: HashMap<&'g str, usize>,
    /// The ops that read each value name.
    reader_ops: HashMap<&'g str, Vec<&'g str>>,
    /// Layer ids of outputs kept besides the first.
    extra: Vec<String>,
    notes: Vec<String>,
}

fn err(n: &NodeProto, msg: impl std::fmt::Display) -> Error {
    let name = if n.name.is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name.clone() };
    Error::Onnx(format!("node `{name}` ({}): {msg}", n.op_type))
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn int(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn float(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}

fn ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

fn string(n: &NodeProto, name: &str) -> String {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default()
}

fn pair(n: &NodeProto, name: &str, v: Option<Vec<i64>>, default: usize) -> Result<[usize; 2]> {
    match v.as_deref() {
        None => Ok([default; 2]),
        Some([a, b]) if *a >= 1 && *b >= 1 => Ok([*a as usize, *b as usize]),
        Some(v) => Err(err(n, format!("`{name}` must be two positive numbers (2-D), got {}", short(v)))),
    }
}

impl<'g> Converter<'g> {
    pub fn new(opset: i64, input: String, layout: Layout, constants: HashMap<String, Constant>, graph: &'g GraphProto) -> Self {
        let Layout { shape: input_shape, batched, reshaped, integer } = layout;
        let mut readers: HashMap<&str, usize> = HashMap::new();
        let mut reader_ops: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in &graph.node {
            for i in &n.input {
                *readers.entry(i.as_str()).or_default() += 1;
                reader_ops.entry(i.as_str()).or_default().push(n.op_type.as_str());
            }
        }
        for o in &graph.output {
            *readers.entry(o.name.as_str()).or_default() += 1;
        }
        let mut values = HashMap::new();
        let mut nodes = vec![];
        let mut shapes = HashMap::from([(INPUT.to_string(), input_shape.to_vec())]);
        let mut ids = HashSet::from([INPUT.to_string()]);
        if let Some(shape) = reshaped {
            let id = if input == INPUT { format!("{input}#reshaped") } else { input.clone() };
            nodes.push(NodeSpec { id: id.clone(), op: OpSpec::Reshape(Reshape { shape: shape.clone() }), inputs: vec![INPUT.into()] });
            shapes.insert(id.clone(), shape.clone());
            ids.insert(id.clone());
            values.insert(input, Runtime { id, shape, pad: None });
        } else {
            values.insert(input, Runtime { id: INPUT.into(), shape: input_shape.to_vec(), pad: None });
        }
        Self {
            opset,
            constants,
            values,
            nodes,
            weights: HashMap::new(),
            ids,
            input_shape,
            batched,
            integer,
            shapes,
            readers,
            reader_ops,
            extra: vec![],
            notes: vec![],
        }
    }

    fn arith_kind(&self, op: &str) -> ArithOp {
        match op {
            "Add" => ArithOp::Add,
            "Sub" => ArithOp::Sub,
            "Mul" => ArithOp::Mul,
            _ if self.integer => ArithOp::DivTrunc,
            _ => ArithOp::Div,
        }
    }

    /// A value's shape for a message: `[N, ...]` when batched.
    fn shown(&self, shape: &[usize]) -> String {
        if self.batched { format!("[N, {}]", dims(shape)) } else { format!("[{}]", dims(shape)) }
    }

    /// A value's shape as ONNX sees it: with the batch of 1 first when batched.
    fn full(&self, shape: &[usize]) -> Vec<usize> {
        if self.batched { std::iter::once(1).chain(shape.iter().copied()).collect() } else { shape.to_vec() }
    }

    /// ONNX's axis `a` (negative: from the end) of a value of `rank` axes without the batch,
    /// as the value's own axis; the batch axis is refused.
    fn axis(&self, n: &NodeProto, a: i64, rank: usize) -> Result<usize> {
        let full = (rank + usize::from(self.batched)) as i64;
        let k = if a < 0 { a + full } else { a };
        if k < 0 || k >= full {
            return Err(err(n, format!("axis {a} of a value with {full} axes")));
        }
        if self.batched && k == 0 {
            return Err(err(n, "works along axis 0, the batch of images; convscope computes each image on its own"));
        }
        Ok(k as usize - usize::from(self.batched))
    }

    /// A constant as a value without the batch: in a batched graph a constant with the
    /// value's every axis has the batch's first, which must be 1.
    fn per_sample(&self, n: &NodeProto, c: &Constant, rank: usize) -> Result<Vec<usize>> {
        let mut shape = c.shape.clone();
        if self.batched && shape.len() == rank + 1 {
            if shape[0] != 1 {
                return Err(err(n, format!("the constant {} varies along the batch axis", short(&c.shape))));
            }
            shape.remove(0);
        }
        if shape.len() > rank {
            return Err(err(n, format!("the constant {} has more axes than the value it meets", short(&c.shape))));
        }
        Ok(shape)
    }

    /// The value of input `k`, or a node giving the constant there (repeated over the batch).
    fn value_or_constant(&mut self, n: &NodeProto, k: usize, rank: usize) -> Result<Runtime> {
        let name = n.input.get(k).cloned().unwrap_or_default();
        if self.values.contains_key(&name) {
            return self.plain(n, k);
        }
        let c = self.required(n, k, "operand")?.clone();
        let shape = self.per_sample(n, &c, rank)?;
        let id = self.unique(name);
        let w = self.weight(n, format!("{id}.value"), shape, c.values)?;
        self.push_as(n, id.clone(), OpSpec::Constant(ConstantOp { value: w }), vec![INPUT.into()], None)?;
        Ok(Runtime { shape: self.shapes[&id].clone(), id, pad: None })
    }

    /// The runtime value of input `k` (padding folded in only where `padded` allows it).
    fn value(&self, n: &NodeProto, k: usize) -> Result<Runtime> {
        let name = n.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| err(n, format!("input {k} is missing")))?;
        match self.values.get(name) {
            Some(v) => Ok(v.clone()),
            None if self.constants.contains_key(name) => {
                Err(err(n, format!("input `{name}` is a constant; convscope needs it to be computed from the image here")))
            }
            None => Err(err(n, format!("input `{name}` is not computed by an earlier node"))),
        }
    }

    /// Input `k` as a runtime value with no pending padding.
    fn plain(&self, n: &NodeProto, k: usize) -> Result<Runtime> {
        let v = self.value(n, k)?;
        if v.pad.is_some() {
            return Err(err(n, "reads a padded value; Pad is supported only right before Conv, MaxPool or AveragePool"));
        }
        Ok(v)
    }

    /// Input `k` as a constant; `None` when the input is absent.
    fn constant(&self, n: &NodeProto, k: usize) -> Result<Option<&Constant>> {
        match n.input.get(k).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => match self.constants.get(name) {
                Some(c) => Ok(Some(c)),
                None if self.values.contains_key(name) => {
                    Err(err(n, format!("input `{name}` is computed from the image; convscope needs a constant (an initializer) there")))
                }
                None => Err(err(n, format!("input `{name}` is not defined before the node"))),
            },
        }
    }

    fn required(&self, n: &NodeProto, k: usize, what: &str) -> Result<&Constant> {
        self.constant(n, k)?.ok_or_else(|| err(n, format!("the {what} (input {k}) is missing")))
    }

    /// An id for the node: its ONNX name, else its output's name, made unique.
    fn fresh_id(&mut self, n: &NodeProto) -> String {
        let out = n.output.first().cloned().unwrap_or_default();
        let id = if n.name.is_empty() || self.ids.contains(&n.name) { out } else { n.name.clone() };
        self.unique(id)
    }

    /// `id` (or `node<k>` when empty), with `#2`, `#3`... added until no node has it.
    fn unique(&mut self, mut id: String) -> String {
        if id.is_empty() {
            id = format!("node{}", self.nodes.len());
        }
        let mut id = id;
        let base = id.clone();
        let mut k = 2;
        while self.ids.contains(&id) {
            id = format!("{base}#{k}");
            k += 1;
        }
        self.ids.insert(id.clone());
        id
    }

    /// Stores a weight; its values must fill its shape.
    fn weight(&mut self, n: &NodeProto, name: String, shape: Vec<usize>, data: Vec<f32>) -> Result<String> {
        let t = HostTensor::new(shape, data).map_err(|e| err(n, format!("`{name}`: {e}")))?;
        self.weights.insert(name.clone(), t);
        Ok(name)
    }

    /// Adds a node computing `n`'s first output from `inputs` (spec ids).
    fn push(&mut self, n: &NodeProto, id: String, op: OpSpec, inputs: Vec<String>) -> Result<()> {
        let out = n.output[0].clone();
        self.push_as(n, id, op, inputs, Some(out))
    }

    /// Adds a node; its value gets the ONNX name `name` when given.
    fn push_as(&mut self, n: &NodeProto, id: String, op: OpSpec, inputs: Vec<String>, name: Option<String>) -> Result<()> {
        let node = NodeSpec { id: id.clone(), op, inputs };
        let ins: Vec<&LayerShape> = node.inputs.iter().map(|i| &self.shapes[i]).collect();
        let shape = node_shape(&node, &ins, &self.weights).map_err(|m| err(n, m))?;
        // No layer a browser tab cannot hold (2^28 values per image, 1 GiB of f32).
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|v| v > 1 << 28) {
            return Err(err(n, format!("its output {} is too large to compute", self.shown(&shape))));
        }
        self.shapes.insert(id.clone(), shape.clone());
        self.nodes.push(node);
        if let Some(name) = name {
            self.values.insert(name, Runtime { id, shape, pad: None });
        }
        Ok(())
    }

    /// The same value under another name (Identity, Dropout, a shape-only op).
    fn alias(&mut self, n: &NodeProto, v: Runtime) {
        self.values.insert(n.output[0].clone(), v);
    }

    fn check_outputs(&self, n: &NodeProto, used: usize) -> Result<()> {
        for (k, o) in n.output.iter().enumerate().skip(used) {
            if !o.is_empty() && self.readers.get(o.as_str()).copied().unwrap_or(0) > 0 {
                return Err(err(n, format!("its output {k} (`{o}`) is read by the model; convscope computes only output 0")));
            }
        }
        if n.output.first().is_none_or(|o| o.is_empty()) {
            return Err(err(n, "has no output"));
        }
        Ok(())
    }

    /// Converts one node.
    pub fn node(&mut self, n: &NodeProto) -> Result<()> {
        if n.op_type == "Constant" {
            return self.constant_node(n);
        }
        self.check_outputs(n, if n.op_type == "Dropout" { 2 } else { 1 })?;
        // Ops on constants only (shape arithmetic exporters leave in) are folded on the host.
        let computed = n.input.iter().find(|i| self.values.contains_key(*i));
        if n.op_type == "Shape" || computed.is_none() {
            let shape_of = computed.map(|i| self.full(&self.values[i].shape));
            let ins: Vec<Option<&Constant>> = n.input.iter().map(|i| self.constants.get(i)).collect();
            if n.op_type != "Shape" && n.input.iter().zip(&ins).any(|(name, c)| !name.is_empty() && c.is_none()) {
                return Err(err(n, "reads a value defined nowhere before it"));
            }
            let c = fold(n, &ins, shape_of).map_err(|m| err(n, format!("on constants: {m}")))?;
            self.constants.insert(n.output[0].clone(), c);
            return Ok(());
        }
        if FOLDED.contains(&n.op_type.as_str()) {
            return Err(err(n, format!("`{}` is supported on constants only; here it reads the image's path", n.op_type)));
        }
        let window = matches!(n.op_type.as_str(), "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool");
        if window && self.batched && n.input.first().and_then(|i| self.values.get(i)).is_some_and(|v| v.shape.len() == 2) {
            return self.window_1d(n);
        }
        match n.op_type.as_str() {
            "Conv" => self.conv(n),
            "ConvTranspose" => self.conv_transpose(n),
            "Transpose" => self.transpose(n),
            "BatchNormalization" => self.batch_norm(n),
            "Relu" => self.act(n, Activation::Relu),
            "Sigmoid" => self.act(n, Activation::Sigmoid),
            "Tanh" => self.act(n, Activation::Tanh),
            "HardSwish" => self.act(n, Activation::HardSwish),
            "LeakyRelu" => self.act(n, Activation::LeakyRelu { alpha: float(n, "alpha", 0.01) }),
            "HardSigmoid" => self.act(n, Activation::HardSigmoid { alpha: float(n, "alpha", 0.2), beta: float(n, "beta", 0.5) }),
            "Clip" => self.clip(n),
            "Add" | "Sub" | "Mul" | "Div" => self.arithmetic(n),
            "MaxPool" | "AveragePool" => self.pool(n),
            "GlobalAveragePool" | "GlobalMaxPool" => self.global_pool(n),
            "ReduceMean" => self.reduce_mean(n),
            "Gemm" => self.gemm(n),
            "MatMul" => self.matmul(n),
            "Flatten" => self.flatten(n),
            "Reshape" | "Squeeze" | "Unsqueeze" => self.reshape(n),
            "Concat" => self.concat(n),
            "Softmax" => self.softmax(n),
            "Dropout" | "Identity" => {
                if n.op_type == "Dropout" && self.opset >= 12 {
                    let training = self.constant(n, 2)?.is_some_and(|c| c.values.iter().any(|v| *v != 0.0));
                    let ratio = self.constant(n, 1)?.map_or(0.5, |c| c.values.first().copied().unwrap_or(0.5));
                    if training && ratio > 0.0 {
                        return Err(err(n, "training_mode=1 drops values at random; export the model in eval mode (model.eval())"));
                    }
                }
                let v = self.value(n, 0)?;
                if let Some(mask) = n.output.get(1).filter(|m| n.op_type == "Dropout" && !m.is_empty()) {
                    // Nothing is dropped: the mask is all ones.
                    let id = self.unique(mask.clone());
                    let w = self.weight(n, format!("{id}.value"), v.shape.clone(), vec![1.0; v.shape.iter().product()])?;
                    self.push_as(n, id, OpSpec::Constant(ConstantOp { value: w }), vec![INPUT.into()], Some(mask.clone()))?;
                }
                self.alias(n, v);
                Ok(())
            }
            "Pad" => self.pad(n),
            other => Err(err(n, format!("`{other}` is not supported"))),
        }
    }

    fn constant_node(&mut self, n: &NodeProto) -> Result<()> {
        let out = n.output.first().filter(|o| !o.is_empty()).ok_or_else(|| err(n, "has no output"))?;
        let c = if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
            constant(t).map_err(|e| err(n, e))?
        } else if let Some(a) = attr(n, "value_float") {
            Constant { shape: vec![], values: vec![a.f], ints: vec![] }
        } else if let Some(a) = attr(n, "value_floats") {
            Constant { shape: vec![a.floats.len()], values: a.floats.clone(), ints: vec![] }
        } else if let Some(a) = attr(n, "value_int") {
            Constant { shape: vec![], values: vec![a.i as f32], ints: vec![a.i] }
        } else if let Some(a) = attr(n, "value_ints") {
            Constant { shape: vec![a.ints.len()], values: a.ints.iter().map(|&v| v as f32).collect(), ints: a.ints.clone() }
        } else {
            return Err(err(n, "has no value convscope reads (value, value_float(s), value_int(s))"));
        };
        self.constants.insert(out.clone(), c);
        Ok(())
    }

    /// Explicit or automatic padding of a window op, `[[top, bottom], [left, right]]`.
    fn window_padding(&self, n: &NodeProto, hw: [usize; 2], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]) -> Result<Padding2d> {
        let p = window_pads(n, &hw, &kernel, &stride, &dilation)?;
        Ok([p[0], p[1]])
    }

    fn spatial(&self, n: &NodeProto, v: &Runtime) -> Result<[usize; 3]> {
        match v.shape.as_slice() {
            [c, h, w] if self.batched => Ok([*c, *h, *w]),
            s => Err(err(n, format!("needs a feature map [N, C, H, W], got {}", self.shown(s)))),
        }
    }

    fn conv(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.value(n, 0)?;
        let [_, h, w] = self.spatial(n, &x)?;
        let k = self.required(n, 1, "kernel")?.clone();
        let [o, i, kh, kw] = match k.shape.as_slice() {
            [o, i, kh, kw] => [*o, *i, *kh, *kw],
            s => return Err(err(n, format!("only 2-D convolutions are supported; the kernel has shape {s:?}"))),
        };
        let bias = self.constant(n, 2)?.cloned();
        let stride = pair(n, "strides", ints(n, "strides"), 1)?;
        let dilation = pair(n, "dilations", ints(n, "dilations"), 1)?;
        let groups = int(n, "group", 1);
        if groups < 1 {
            return Err(err(n, format!("group must be positive, got {groups}")));
        }
        if let Some(ks) = ints(n, "kernel_shape")
            && ks != [kh as i64, kw as i64]
        {
            return Err(err(n, format!("kernel_shape {} disagrees with the kernel's {kh}x{kw}", short(&ks))));
        }
        let mut padding = self.window_padding(n, [h, w], [kh, kw], stride, dilation)?;
        if let Some(p) = x.pad {
            padding = add_pads(padding, p);
        }
        let id = self.fresh_id(n);
        let wname = self.weight(n, format!("{id}.weight"), vec![o, i, kh, kw], k.values)?;
        let bname = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![b.values.len()], b.values)?),
            None => None,
        };
        let op = OpSpec::Conv2d(Conv2d { weight: wname, bias: bname, stride, padding, dilation, groups: groups as usize, act: None });
        self.push(n, id, op, vec![x.id])
    }

    /// A 2-D transposed convolution: pads, output_padding, output_shape and auto_pad become
    /// the window of the full result that the output is.
    fn conv_transpose(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let [c, h, w] = self.spatial(n, &x)?;
        let k = self.required(n, 1, "kernel")?.clone();
        let [ci, og, kh, kw] = match k.shape.as_slice() {
            [a, b, c, d] => [*a, *b, *c, *d],
            s => return Err(err(n, format!("only 2-D transposed convolutions are supported; the kernel has shape {s:?}"))),
        };
        if ci != c {
            return Err(err(n, format!("the kernel {:?} is for {ci} input channels, the value has {c}", k.shape)));
        }
        let bias = self.constant(n, 2)?.cloned();
        let stride = pair(n, "strides", ints(n, "strides"), 1)?;
        let dilation = pair(n, "dilations", ints(n, "dilations"), 1)?;
        let groups = int(n, "group", 1);
        if groups < 1 || c % groups as usize != 0 {
            return Err(err(n, format!("group {groups} does not divide {c} channels")));
        }
        let extra = match ints(n, "output_padding").as_deref() {
            None => [0, 0],
            Some([a, b]) if *a >= 0 && *b >= 0 => [*a, *b],
            Some(v) => return Err(err(n, format!("`output_padding` must be two non-negative numbers, got {}", short(v)))),
        };
        let input = [h as i64, w as i64];
        let kernel = [kh as i64, kw as i64];
        let span = |a: usize| (input[a] - 1) * stride[a] as i64 + (kernel[a] - 1) * dilation[a] as i64 + 1;
        let auto = string(n, "auto_pad");
        let wanted = match ints(n, "output_shape") {
            Some(v) if v.len() >= 2 => Some([v[v.len() - 2], v[v.len() - 1]]),
            Some(v) => return Err(err(n, format!("`output_shape` {} is not 2-D", short(&v)))),
            None if auto == "SAME_UPPER" || auto == "SAME_LOWER" => Some([input[0] * stride[0] as i64, input[1] * stride[1] as i64]),
            None => None,
        };
        let (begin, size) = match wanted {
            Some(out) => {
                let mut begin = [0; 2];
                for a in 0..2 {
                    let total = span(a) + extra[a] - out[a];
                    // ONNX's reference floors (a larger output_shape adds zeros at the end).
                    let half = total.div_euclid(2);
                    begin[a] = if auto == "SAME_UPPER" { half } else { total - half };
                }
                (begin, out)
            }
            None => {
                let pads = match ints(n, "pads").as_deref() {
                    None => [0; 4],
                    Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| **p >= 0) => [*t, *l, *b, *r],
                    Some(p) => return Err(err(n, format!("`pads` must be 4 non-negative numbers (2-D), got {}", short(p)))),
                };
                ([pads[0], pads[1]], [span(0) + extra[0] - pads[0] - pads[2], span(1) + extra[1] - pads[1] - pads[3]])
            }
        };
        if size.iter().any(|&s| s < 1) {
            return Err(err(n, format!("the output would be {}x{}", size[0], size[1])));
        }
        let id = self.fresh_id(n);
        let wname = self.weight(n, format!("{id}.weight"), vec![ci, og, kh, kw], k.values)?;
        let bname = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![b.values.len()], b.values)?),
            None => None,
        };
        let op = OpSpec::ConvTranspose2d(ConvTranspose2d {
            weight: wname,
            bias: bname,
            stride,
            dilation,
            groups: groups as usize,
            begin,
            size: [size[0] as usize, size[1] as usize],
        });
        self.push(n, id, op, vec![x.id])
    }

    fn batch_norm(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if int(n, "training_mode", 0) != 0 {
            return Err(err(n, "training_mode=1; export the model in eval mode (model.eval())"));
        }
        let names = ["scale", "bias", "mean", "var"];
        let mut tensors = vec![];
        for (k, what) in names.iter().enumerate() {
            tensors.push(self.required(n, k + 1, what)?.clone());
        }
        let id = self.fresh_id(n);
        let mut ws = vec![];
        for (t, what) in tensors.into_iter().zip(names) {
            ws.push(self.weight(n, format!("{id}.{what}"), vec![t.values.len()], t.values)?);
        }
        let eps = float(n, "epsilon", 1e-5) as f64;
        let [gamma, beta, mean, var] = <[String; 4]>::try_from(ws).expect("four tensors");
        self.push(n, id, OpSpec::BatchNorm(BatchNorm { gamma, beta, mean, var, eps }), vec![x.id])
    }

    fn act(&mut self, n: &NodeProto, a: Activation) -> Result<()> {
        let x = self.plain(n, 0)?;
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Act(Act(a)), vec![x.id])
    }

    fn clip(&mut self, n: &NodeProto) -> Result<()> {
        let bound = |c: Option<&Constant>, default: f32| -> Result<f32> {
            match c {
                None => Ok(default),
                Some(c) if c.values.len() == 1 => Ok(c.values[0]),
                Some(c) => Err(err(n, format!("the bound must be one number, got shape {:?}", c.shape))),
            }
        };
        let (min, max) = if self.opset < 11 {
            (float(n, "min", f32::NEG_INFINITY), float(n, "max", f32::INFINITY))
        } else {
            (bound(self.constant(n, 1)?, f32::NEG_INFINITY)?, bound(self.constant(n, 2)?, f32::INFINITY)?)
        };
        if min.is_nan() || max.is_nan() {
            return Err(err(n, "a clip bound is not a number"));
        }
        let a = match (min, max) {
            (0.0, 6.0) => Activation::Relu6,
            (0.0, f32::INFINITY) => Activation::Relu,
            _ => Activation::Clip { min, max },
        };
        self.act(n, a)
    }

    /// Add/Sub/Mul/Div: of two computed values (broadcasting),
    /// or of a computed value and a per-channel (or single) constant, as an affine map.
    fn arithmetic(&mut self, n: &NodeProto) -> Result<()> {
        let op = n.op_type.as_str();
        let (a, b) = (n.input.first().cloned().unwrap_or_default(), n.input.get(1).cloned().unwrap_or_default());
        let (ra, rb) = (self.values.contains_key(&a), self.values.contains_key(&b));
        if ra && rb {
            let (x, y) = (self.plain(n, 0)?, self.plain(n, 1)?);
            let id = self.fresh_id(n);
            let kind = self.arith_kind(op);
            return self.push(n, id, OpSpec::Arith(Arith { kind, constant: None, constant_first: false }), vec![x.id, y.id]);
        }
        let (x, c, constant_first) = if ra {
            (self.plain(n, 0)?, self.required(n, 1, "operand")?.clone(), false)
        } else {
            (self.plain(n, 1)?, self.required(n, 0, "operand")?.clone(), true)
        };
        let channels = x.shape[0];
        // The constant, aligned right against [N, ...shape], may vary only along channels.
        let full = self.full(&x.shape);
        if c.shape.len() > full.len() {
            return Err(err(n, format!("the constant has shape {}, more dimensions than the value {}", short(&c.shape), self.shown(&x.shape))));
        }
        let offset = full.len() - c.shape.len();
        let mut per_channel = true;
        for (k, &d) in c.shape.iter().enumerate() {
            let axis = k + offset;
            if d != 1 && (axis != 1 || d != channels) {
                per_channel = false;
            }
        }
        if !per_channel || !self.batched || self.integer || x.shape.len() != 3 || (op == "Div" && constant_first) {
            // Any other constant: elementwise with broadcasting.
            let shape = self.per_sample(n, &c, x.shape.len())?;
            let id = self.fresh_id(n);
            let w = self.weight(n, format!("{id}.constant"), shape, c.values)?;
            let kind = self.arith_kind(op);
            return self.push(n, id, OpSpec::Arith(Arith { kind, constant: Some(w), constant_first }), vec![x.id]);
        }
        let k: Vec<f32> = if c.values.len() == 1 { vec![c.values[0]; channels] } else { c.values.clone() };
        let (scale, shift): (Vec<f32>, Vec<f32>) = match (op, constant_first) {
            ("Add", _) => (vec![1.0; channels], k),
            ("Sub", false) => (vec![1.0; channels], k.iter().map(|v| -v).collect()),
            ("Sub", true) => (vec![-1.0; channels], k),
            ("Mul", _) => (k, vec![0.0; channels]),
            ("Div", false) => (k.iter().map(|v| 1.0 / v).collect(), vec![0.0; channels]),
            _ => return Err(err(n, "a constant divided by a value computed from the image is not supported")),
        };
        let id = self.fresh_id(n);
        let gamma = self.weight(n, format!("{id}.scale"), vec![channels], scale)?;
        let beta = self.weight(n, format!("{id}.shift"), vec![channels], shift)?;
        let mean = self.weight(n, format!("{id}.zero"), vec![channels], vec![0.0; channels])?;
        let var = self.weight(n, format!("{id}.one"), vec![channels], vec![1.0; channels])?;
        self.push(n, id, OpSpec::BatchNorm(BatchNorm { gamma, beta, mean, var, eps: 0.0 }), vec![x.id])
    }

    /// A 1-D convolution or pooling of `[C, L]`: the same 2-D op on `[C, 1, L]`, its window
    /// `1 x k`, between two reshapes.
    fn window_1d(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let (c, l) = (x.shape[0], x.shape[1]);
        let id = self.fresh_id(n);
        let lifted = self.unique(format!("{id}#lifted"));
        self.push_as(n, lifted.clone(), OpSpec::Reshape(Reshape { shape: vec![c, 1, l] }), vec![x.id], None)?;
        let mut m = n.clone();
        m.name = format!("{id}#2d");
        m.input[0] = format!("{}#2d", n.input[0]);
        m.output = vec![format!("{}#2d", n.output[0])];
        self.values.insert(m.input[0].clone(), Runtime { id: lifted, shape: vec![c, 1, l], pad: None });
        if let Some(k) = self.constant(n, 1)?.cloned() {
            let mut shape = k.shape.clone();
            if shape.len() != 3 {
                return Err(err(n, format!("a 1-D kernel must have 3 axes, got {}", short(&shape))));
            }
            shape.insert(2, 1);
            m.input[1] = format!("{}#2d", n.input[1]);
            self.constants.insert(m.input[1].clone(), Constant { shape, ..k });
        }
        for a in &mut m.attribute {
            a.ints = match (a.name.as_str(), a.ints.as_slice()) {
                ("kernel_shape" | "strides" | "dilations" | "output_shape", [v]) => vec![1, *v],
                ("output_padding", [v]) => vec![0, *v],
                ("pads", [b, e]) => vec![0, *b, 0, *e],
                (_, v) => v.to_vec(),
            };
        }
        self.node(&m)?;
        let y = self.values[&format!("{}#2d", n.output[0])].clone();
        self.push(n, id, OpSpec::Reshape(Reshape { shape: vec![y.shape[0], y.shape[2]] }), vec![y.id])
    }

    /// 3-D max or average pooling of `[C, D, H, W]`.
    fn pool3d(&mut self, n: &NodeProto, x: Runtime) -> Result<()> {
        let size = [x.shape[1], x.shape[2], x.shape[3]];
        let three = |name: &str, default: usize| -> Result<[usize; 3]> {
            match ints(n, name).as_deref() {
                None => Ok([default; 3]),
                Some([a, b, c]) if [a, b, c].iter().all(|v| **v >= 1) => Ok([*a as usize, *b as usize, *c as usize]),
                Some(v) => Err(err(n, format!("`{name}` must be three positive numbers (3-D), got {}", short(v)))),
            }
        };
        let kernel = three("kernel_shape", 0)?;
        if kernel.contains(&0) {
            return Err(err(n, "`kernel_shape` is missing"));
        }
        let (stride, dilation) = (three("strides", 1)?, three("dilations", 1)?);
        let p = window_pads(n, &size, &kernel, &stride, &dilation)?;
        let padding = [p[0], p[1], p[2]];
        let max = n.op_type == "MaxPool";
        let op = OpSpec::Pool3d(Pool3d {
            max,
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode: int(n, "ceil_mode", 0) != 0,
            count_include_pad: int(n, "count_include_pad", 0) != 0,
        });
        let id = self.fresh_id(n);
        self.push(n, id, op, vec![x.id])
    }

    fn pool(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.value(n, 0)?;
        if self.batched && x.shape.len() == 4 && x.pad.is_none() {
            return self.pool3d(n, x);
        }
        let [_, h, w] = self.spatial(n, &x)?;
        let kernel = match ints(n, "kernel_shape").as_deref() {
            Some([a, b]) if *a >= 1 && *b >= 1 => [*a as usize, *b as usize],
            k => return Err(err(n, format!("`kernel_shape` must be two positive numbers (2-D pooling), got {}", k.map_or("none".to_string(), short)))),
        };
        let stride = pair(n, "strides", ints(n, "strides"), 1)?;
        let dilation = pair(n, "dilations", ints(n, "dilations"), 1)?;
        let ceil_mode = int(n, "ceil_mode", 0) != 0;
        let mut padding = self.window_padding(n, [h, w], kernel, stride, dilation)?;
        let max = n.op_type == "MaxPool";
        if let Some(p) = x.pad {
            if max {
                return Err(err(n, "a zero Pad before MaxPool is not supported (max pooling pads with -inf)"));
            }
            if int(n, "count_include_pad", 0) == 0 && padding != [[0, 0], [0, 0]] {
                return Err(err(n, "a Pad before an AveragePool that pads itself without counting the padding is not supported"));
            }
            padding = add_pads(padding, p);
        }
        let id = self.fresh_id(n);
        let op = if max {
            OpSpec::MaxPool2d(MaxPool2d { kernel, stride, padding, dilation, ceil_mode })
        } else {
            let count_include_pad = int(n, "count_include_pad", 0) != 0 || x.pad.is_some();
            OpSpec::AvgPool2d(AvgPool2d { kernel, stride, padding, count_include_pad, ceil_mode, dilation })
        };
        self.push(n, id, op, vec![x.id])
    }

    /// Global pooling keeps ONNX's `[N, C, 1, 1]`: a window over the whole map.
    fn global_pool(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let [_, h, w] = self.spatial(n, &x)?;
        let id = self.fresh_id(n);
        let op = if n.op_type == "GlobalMaxPool" {
            OpSpec::MaxPool2d(MaxPool2d { kernel: [h, w], stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], ceil_mode: false })
        } else {
            OpSpec::AvgPool2d(AvgPool2d {
                kernel: [h, w],
                stride: [1, 1],
                padding: [[0, 0], [0, 0]],
                count_include_pad: false,
                ceil_mode: false,
                dilation: [1, 1],
            })
        };
        self.push(n, id, op, vec![x.id])
    }

    /// The spatial mean (global average pooling), or a mean over any other axes.
    fn reduce_mean(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let axes = if self.opset < 18 { ints(n, "axes") } else { self.constant(n, 1)?.map(|c| c.ints.clone()) };
        let full = (rank + usize::from(self.batched)) as i64;
        let axes = match axes {
            Some(a) if !a.is_empty() => a,
            _ if self.opset >= 18 && int(n, "noop_with_empty_axes", 0) != 0 => {
                self.alias(n, x);
                return Ok(());
            }
            _ => (0..full).collect(),
        };
        let mut spatial: Vec<i64> = axes.iter().map(|a| if *a < 0 { a + full } else { *a }).collect();
        spatial.sort_unstable();
        if !(self.batched && rank == 3 && spatial == [2, 3]) {
            let mut own: Vec<usize> = axes.iter().map(|&a| self.axis(n, a, rank)).collect::<Result<_>>()?;
            own.sort_unstable();
            own.dedup();
            let id = self.fresh_id(n);
            return self.push(n, id, OpSpec::Reduce(Reduce { func: Reduction::Mean, axes: own, keep: int(n, "keepdims", 1) != 0 }), vec![x.id]);
        }
        let [_, h, w] = self.spatial(n, &x)?;
        let id = self.fresh_id(n);
        if int(n, "keepdims", 1) != 0 {
            let op = OpSpec::AvgPool2d(AvgPool2d {
                kernel: [h, w],
                stride: [1, 1],
                padding: [[0, 0], [0, 0]],
                count_include_pad: false,
                ceil_mode: false,
                dilation: [1, 1],
            });
            self.push(n, id, op, vec![x.id])
        } else {
            self.push(n, id, OpSpec::GlobalAvgPool(GlobalAvgPool {}), vec![x.id])
        }
    }

    fn flat(n: &NodeProto, v: &Runtime) -> Result<usize> {
        match v.shape.as_slice() {
            [f] => Ok(*f),
            s => Err(err(n, format!("needs flat features [N, F], got [N, {}]; flatten first", dims(s)))),
        }
    }

    fn linear(&mut self, n: &NodeProto, x: Runtime, weight: Vec<f32>, out: usize, bias: Option<Vec<f32>>) -> Result<()> {
        let f = Self::flat(n, &x)?;
        if weight.len() != out * f {
            return Err(err(n, format!("the weight has {} values; {f} inputs to {out} outputs need {}", weight.len(), out * f)));
        }
        let id = self.fresh_id(n);
        let w = self.weight(n, format!("{id}.weight"), vec![out, f], weight)?;
        let b = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![out], b)?),
            None => None,
        };
        self.push(n, id, OpSpec::Linear(Linear { weight: w, bias: b }), vec![x.id])
    }

    fn gemm(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if !self.batched {
            return self.gemm_matrix(n, x);
        }
        if int(n, "transA", 0) != 0 {
            return Err(err(n, "transA=1 transposes the batch of images; convscope computes each image on its own"));
        }
        let b = self.required(n, 1, "weight")?.clone();
        let (alpha, beta) = (float(n, "alpha", 1.0), float(n, "beta", 1.0));
        let [r, c] = match b.shape.as_slice() {
            [r, c] => [*r, *c],
            s => return Err(err(n, format!("the weight must be 2-D, got {s:?}"))),
        };
        // convscope's linear weight is [out, in]: B itself when transB=1, else B transposed.
        let (out, weight) = if int(n, "transB", 0) != 0 { (r, b.values.clone()) } else { (c, transpose(&b.values, r, c)) };
        let weight = weight.iter().map(|v| v * alpha).collect();
        let bias = match self.constant(n, 2)? {
            None => None,
            Some(c) if c.values.len() == out => Some(c.values.iter().map(|v| v * beta).collect()),
            Some(c) if c.values.len() == 1 => Some(vec![c.values[0] * beta; out]),
            Some(c) => return Err(err(n, format!("the bias has shape {:?}; one per output ({out}) is supported", c.shape))),
        };
        self.linear(n, x, weight, out, bias)
    }

    /// Gemm on one `[M, K]` matrix: (a transpose,) a product with the constant and the bias
    /// added (`alpha` and `beta` folded into the constants).
    fn gemm_matrix(&mut self, n: &NodeProto, x: Runtime) -> Result<()> {
        if x.shape.len() != 2 {
            return Err(err(n, format!("needs a matrix, got {}", short(&x.shape))));
        }
        let b = self.required(n, 1, "weight")?.clone();
        let [r, c] = match b.shape.as_slice() {
            [r, c] => [*r, *c],
            s => return Err(err(n, format!("the weight must be 2-D, got {s:?}"))),
        };
        let (alpha, beta) = (float(n, "alpha", 1.0), float(n, "beta", 1.0));
        let (shape, values) = if int(n, "transB", 0) != 0 { (vec![c, r], transpose(&b.values, r, c)) } else { (vec![r, c], b.values.clone()) };
        let values = values.iter().map(|v| v * alpha).collect();
        let bias = self.constant(n, 2)?.cloned();
        let id = self.fresh_id(n);
        let mut a = x.id;
        if int(n, "transA", 0) != 0 {
            let t = self.unique(format!("{id}#transposed"));
            self.push_as(n, t.clone(), OpSpec::Transpose(Transpose { perm: vec![1, 0] }), vec![a], None)?;
            a = t;
        }
        let w = self.weight(n, format!("{id}.weight"), shape, values)?;
        let Some(bias) = bias else { return self.push(n, id, OpSpec::MatMul(MatMul { weight: w }), vec![a]) };
        let product = self.unique(format!("{id}#product"));
        self.push_as(n, product.clone(), OpSpec::MatMul(MatMul { weight: w }), vec![a], None)?;
        let shape = self.per_sample(n, &bias, 2)?;
        let bw = self.weight(n, format!("{id}.bias"), shape, bias.values.iter().map(|v| v * beta).collect())?;
        self.push(n, id, OpSpec::Arith(Arith { kind: ArithOp::Add, constant: Some(bw), constant_first: false }), vec![product])
    }

    /// A linear layer on features, or a (batched) matrix product of maps with a constant.
    fn matmul(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let b = self.required(n, 1, "weight")?.clone();
        if let ([r, c], [_]) = (b.shape.as_slice(), x.shape.as_slice()) {
            let (r, c) = (*r, *c);
            return self.linear(n, x, transpose(&b.values, r, c), c, None);
        }
        // numpy's matmul: a 1-D operand gets an axis of 1 (before for the left, after for the
        // right), removed from the result.
        let mut shape = b.shape.clone();
        if self.batched && shape.len() == x.shape.len() + 1 && shape.len() > 2 {
            if shape[0] != 1 {
                return Err(err(n, format!("the constant {} varies along the batch axis", short(&b.shape))));
            }
            shape.remove(0);
        }
        let (left_vector, right_vector) = (x.shape.len() == 1, shape.len() == 1);
        if right_vector {
            shape.push(1);
        }
        if shape.is_empty() {
            return Err(err(n, "the constant is a scalar"));
        }
        let id = self.fresh_id(n);
        let mut a = x.id;
        if left_vector {
            let r = self.unique(format!("{id}#row"));
            self.push_as(n, r.clone(), OpSpec::Reshape(Reshape { shape: vec![1, x.shape[0]] }), vec![a], None)?;
            a = r;
        }
        let w = self.weight(n, format!("{id}.weight"), shape, b.values)?;
        if !left_vector && !right_vector {
            return self.push(n, id, OpSpec::MatMul(MatMul { weight: w }), vec![a]);
        }
        let product = self.unique(format!("{id}#product"));
        self.push_as(n, product.clone(), OpSpec::MatMul(MatMul { weight: w }), vec![a], None)?;
        let mut out = self.shapes[&product].clone();
        if right_vector {
            out.pop();
        }
        if left_vector {
            out.remove(out.len() - 1 - usize::from(!right_vector));
        }
        self.push(n, id, OpSpec::Reshape(Reshape { shape: out }), vec![product])
    }

    fn flatten(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if !self.batched {
            // One whole value: [A, B, C] at axis k is [A..k, k..C] as a matrix.
            let rank = x.shape.len();
            let axis = int(n, "axis", 1);
            let k = if axis < 0 { axis + rank as i64 } else { axis };
            if !(0..=rank as i64).contains(&k) {
                return Err(err(n, format!("axis {axis} of a value with {rank} axes")));
            }
            let (a, b) = x.shape.split_at(k as usize);
            let target = vec![a.iter().product(), b.iter().product()];
            let id = self.fresh_id(n);
            return self.push(n, id, OpSpec::Reshape(Reshape { shape: target }), vec![x.id]);
        }
        let rank = x.shape.len() as i64 + 1;
        let axis = int(n, "axis", 1);
        if axis != 1 && axis != 1 - rank {
            return Err(err(n, format!("only flattening after the batch (axis 1) is supported, got axis {axis}")));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Flatten(Flatten {}), vec![x.id])
    }

    /// Reshape, Squeeze and Unsqueeze: the batch stays first, the rest becomes `[C, H, W]`
    /// or `[F]`.
    fn reshape(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let full = self.full(&x.shape);
        let total: usize = full.iter().product();
        let first = usize::from(self.batched);
        let target: Vec<usize> = match n.op_type.as_str() {
            "Reshape" => {
                let shape = self.required(n, 1, "shape")?.ints.clone();
                let allow_zero = int(n, "allowzero", 0) != 0;
                let mut out = vec![];
                let mut infer = None;
                for (k, &d) in shape.iter().enumerate() {
                    match d {
                        -1 if infer.is_none() => {
                            infer = Some(k);
                            out.push(1);
                        }
                        0 if !allow_zero => {
                            out.push(*full.get(k).ok_or_else(|| err(n, format!("shape {}: 0 copies a dimension the input lacks", short(&shape))))?)
                        }
                        d if d >= 0 => out.push(d as usize),
                        _ => return Err(err(n, format!("shape {} is not a valid target", short(&shape)))),
                    }
                }
                if let Some(k) = infer {
                    let rest = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(0);
                    if rest == 0 || !total.is_multiple_of(rest) {
                        return Err(err(n, format!("cannot reshape {} to {}", self.shown(&x.shape), short(&shape))));
                    }
                    out[k] = total / rest;
                }
                out
            }
            op => {
                let axes = if self.opset < 13 { ints(n, "axes") } else { self.constant(n, 1)?.map(|c| c.ints.clone()) };
                if op == "Squeeze" {
                    let rank = full.len() as i64;
                    let axes: Vec<usize> = match axes {
                        Some(a) => a.iter().map(|&v| (if v < 0 { v + rank } else { v }) as usize).collect(),
                        None => (first..full.len()).filter(|&k| full[k] == 1).collect(),
                    };
                    if axes.iter().any(|&a| a < first || a >= full.len() || full[a] != 1) {
                        return Err(err(n, format!("cannot squeeze axes {} of {}", short(&axes), self.shown(&x.shape))));
                    }
                    full.iter().enumerate().filter(|(k, _)| !axes.contains(k)).map(|(_, d)| *d).collect()
                } else {
                    let axes = axes.ok_or_else(|| err(n, "the axes are missing"))?;
                    let rank = (full.len() + axes.len()) as i64;
                    let mut axes: Vec<usize> = axes.iter().map(|&v| (if v < 0 { v + rank } else { v }) as usize).collect();
                    axes.sort_unstable();
                    let mut out = full.clone();
                    for a in axes {
                        if a < first || a > out.len() {
                            return Err(err(n, format!("cannot unsqueeze at axis {a}")));
                        }
                        out.insert(a, 1);
                    }
                    out
                }
            }
        };
        if target.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(total) || (self.batched && target.first() != Some(&1)) {
            return Err(err(n, format!("cannot reshape {} to {} keeping the batch first", short(&full), short(&target))));
        }
        let rest = target[first..].to_vec();
        if rest == x.shape {
            self.alias(n, x);
            return Ok(());
        }
        let id = self.fresh_id(n);
        let op = match rest.len() {
            1 => OpSpec::Flatten(Flatten {}),
            0..=4 => OpSpec::Reshape(Reshape { shape: rest }),
            _ => return Err(err(n, format!("gives {}; convscope's values have at most 4 axes besides the batch", short(&rest)))),
        };
        self.push(n, id, op, vec![x.id])
    }

    /// Concatenation of values and constants (as constant nodes) along one axis.
    fn concat(&mut self, n: &NodeProto) -> Result<()> {
        let first = n.input.iter().position(|i| self.values.contains_key(i)).ok_or_else(|| err(n, "has no input computed from the image"))?;
        let rank = self.plain(n, first)?.shape.len();
        let axis = self.axis(n, int(n, "axis", 1), rank)?;
        let parts: Vec<Runtime> = (0..n.input.len()).map(|k| self.value_or_constant(n, k, rank)).collect::<Result<_>>()?;
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Concat(Concat { axis }), parts.into_iter().map(|p| p.id).collect())
    }

    fn softmax(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let axis = self.axis(n, int(n, "axis", if self.opset < 13 { 1 } else { -1 }), rank)?;
        if self.opset < 13 && axis != rank - 1 {
            return Err(err(n, "before opset 13 a softmax not over the last axis runs over every axis from it on; only the last axis is supported"));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Softmax(Softmax { axis }), vec![x.id])
    }

    fn transpose(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let full = rank + usize::from(self.batched);
        let perm = ints(n, "perm").unwrap_or_else(|| (0..full as i64).rev().collect());
        let mut perm: Vec<usize> =
            perm.iter().map(|&p| if p < 0 { p + full as i64 } else { p }).filter(|&p| (0..full as i64).contains(&p)).map(|p| p as usize).collect();
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != (0..full).collect::<Vec<_>>() {
            return Err(err(n, format!("perm {} is not a permutation of {full} axes", short(&ints(n, "perm").unwrap_or_default()))));
        }
        if self.batched {
            if perm[0] != 0 {
                return Err(err(n, format!("perm {} moves the batch axis; convscope computes each image on its own", short(&perm))));
            }
            perm = perm[1..].iter().map(|p| p - 1).collect();
        }
        if perm.iter().enumerate().all(|(k, &p)| k == p) && perm.len() == rank {
            self.alias(n, x);
            return Ok(());
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Transpose(Transpose { perm }), vec![x.id])
    }

    /// Constant padding. A zero padding of height and width that one Conv or AveragePool
    /// reads is folded into it; any other is a padding node.
    fn pad(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let full = rank + usize::from(self.batched);
        let mode = match string(n, "mode").as_str() {
            "" | "constant" => PadMode::Constant,
            "edge" => PadMode::Edge,
            "reflect" => PadMode::Reflect,
            "wrap" => PadMode::Wrap,
            other => return Err(err(n, format!("padding mode `{other}` is not an ONNX mode (constant, edge, reflect, wrap)"))),
        };
        let (pads, value, axes) = if self.opset < 11 {
            (ints(n, "pads").unwrap_or_default(), float(n, "value", 0.0), None)
        } else {
            let value = self.constant(n, 2)?.map_or(0.0, |c| c.values.first().copied().unwrap_or(0.0));
            let axes = self.constant(n, 3)?.map(|c| c.ints.clone());
            (self.required(n, 1, "pads")?.ints.clone(), value, axes)
        };
        let axes: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&v| if v < 0 { v + full as i64 } else { v })
                .map(|v| usize::try_from(v).ok().filter(|&v| v < full))
                .collect::<Option<_>>()
                .ok_or_else(|| err(n, format!("axes {} of a value with {full} axes", short(&a))))?,
            None => (0..full).collect(),
        };
        if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
            return Err(err(n, format!("pads {} must be two non-negative numbers per axis ({} axes)", short(&pads), axes.len())));
        }
        let mut per = vec![[0usize; 2]; full];
        for (k, &a) in axes.iter().enumerate() {
            per[a] = [pads[k] as usize, pads[k + axes.len()] as usize];
        }
        if self.batched {
            if per[0] != [0, 0] {
                return Err(err(n, "pads the batch axis; convscope computes each image on its own"));
            }
            per.remove(0);
        }
        let out = n.output[0].as_str();
        let readers = self.reader_ops.get(out).map(Vec::as_slice).unwrap_or_default();
        let folds = mode == PadMode::Constant && value == 0.0 && self.batched && rank == 3 && per[0] == [0, 0] && matches!(readers, ["Conv"] | ["AveragePool"]);
        if folds && self.readers.get(out).copied() == Some(1) {
            let p = [per[1], per[2]];
            let pad = Some(x.pad.map_or(p, |q| add_pads(q, p)));
            self.alias(n, Runtime { pad, ..x });
            return Ok(());
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Pad(Pad { pads: per, value, mode }), vec![x.id])
    }

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

    fn finish_at(mut self, last: String, out: Runtime, output: &str, classifier: bool) -> Result<Finished> {
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

/// A window op's explicit or automatic padding, `[before, after]` per spatial axis (ONNX's
/// `pads` list all befores, then all afters).
fn window_pads(n: &NodeProto, size: &[usize], kernel: &[usize], stride: &[usize], dilation: &[usize]) -> Result<Vec<[usize; 2]>> {
    let axes = size.len();
    let auto = string(n, "auto_pad");
    match auto.as_str() {
        "" | "NOTSET" => match ints(n, "pads") {
            None => Ok(vec![[0, 0]; axes]),
            Some(p) if p.len() == 2 * axes && p.iter().all(|v| *v >= 0) => Ok((0..axes).map(|a| [p[a] as usize, p[a + axes] as usize]).collect()),
            Some(p) => Err(err(n, format!("`pads` must be {} non-negative numbers ({axes}-D), got {}", 2 * axes, short(&p)))),
        },
        "VALID" => Ok(vec![[0, 0]; axes]),
        "SAME_UPPER" | "SAME_LOWER" => Ok((0..axes)
            .map(|a| {
                let span = dilation[a] * (kernel[a] - 1) + 1;
                let total = ((size[a].div_ceil(stride[a]) - 1) * stride[a] + span).saturating_sub(size[a]);
                let small = total / 2;
                if auto == "SAME_UPPER" { [small, total - small] } else { [total - small, small] }
            })
            .collect()),
        other => Err(err(n, format!("auto_pad `{other}` is not an ONNX value"))),
    }
}

fn add_pads(a: Padding2d, b: Padding2d) -> Padding2d {
    [[a[0][0] + b[0][0], a[0][1] + b[0][1]], [a[1][0] + b[1][0], a[1][1] + b[1][1]]]
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// A list for a message: its first values, and how many there are when it is long.
fn short<T: std::fmt::Debug>(v: &[T]) -> String {
    if v.len() <= 8 { format!("{v:?}") } else { format!("{:?}... ({} values)", &v[..8], v.len()) }
}

fn dims(s: &[usize]) -> String {
    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}
