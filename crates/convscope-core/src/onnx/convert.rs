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
    graph::{Activation, GraphSpec, INPUT, LayerShape, NodeSpec, OpSpec, Padding2d, node_shape},
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
    /// Shape of every spec node by id, and of the input.
    shapes: HashMap<String, LayerShape>,
    /// How many nodes read each value name (to fold `Pad` only where a conv reads it alone).
    readers: HashMap<&'g str, usize>,
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
    pub fn new(opset: i64, input: String, input_shape: [usize; 3], constants: HashMap<String, Constant>, graph: &'g GraphProto) -> Self {
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for n in &graph.node {
            for i in &n.input {
                *readers.entry(i.as_str()).or_default() += 1;
            }
        }
        for o in &graph.output {
            *readers.entry(o.name.as_str()).or_default() += 1;
        }
        let mut values = HashMap::new();
        values.insert(input, Runtime { id: INPUT.into(), shape: input_shape.to_vec(), pad: None });
        Self {
            opset,
            constants,
            values,
            nodes: vec![],
            weights: HashMap::new(),
            ids: HashSet::from([INPUT.to_string()]),
            input_shape,
            shapes: HashMap::from([(INPUT.to_string(), input_shape.to_vec())]),
            readers,
            notes: vec![],
        }
    }

    /// The runtime value of input `k` (padding folded in only where `padded` allows it).
    fn value(&self, n: &NodeProto, k: usize) -> Result<Runtime> {
        let name = n.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| err(n, format!("input {k} is missing")))?;
        match self.values.get(name) {
            Some(v) => Ok(v.clone()),
            None if self.constants.contains_key(name) => Err(err(n, format!("input `{name}` is a constant; convscope needs it to be computed from the image here"))),
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
        let mut id = if n.name.is_empty() || self.ids.contains(&n.name) { out } else { n.name.clone() };
        if id.is_empty() {
            id = format!("node{}", self.nodes.len());
        }
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
        let node = NodeSpec { id: id.clone(), op, inputs };
        let ins: Vec<&LayerShape> = node.inputs.iter().map(|i| &self.shapes[i]).collect();
        let shape = node_shape(&node, &ins, &self.weights).map_err(|m| err(n, m))?;
        // No layer a browser tab cannot hold (2^28 values per image, 1 GiB of f32).
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|v| v > 1 << 28) {
            return Err(err(n, format!("its output [N, {}] is too large to compute", dims(&shape))));
        }
        self.shapes.insert(id.clone(), shape.clone());
        self.nodes.push(node);
        self.values.insert(n.output[0].clone(), Runtime { id, shape, pad: None });
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
    pub fn node(&mut self, n: &'g NodeProto) -> Result<()> {
        if n.op_type == "Constant" {
            return self.constant_node(n);
        }
        self.check_outputs(n, 1)?;
        // Ops on constants only (shape arithmetic exporters leave in) are folded on the host.
        let computed = n.input.iter().find(|i| self.values.contains_key(*i));
        if n.op_type == "Shape" || computed.is_none() {
            let shape_of = computed.map(|i| std::iter::once(1).chain(self.values[i].shape.iter().copied()).collect());
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
        match n.op_type.as_str() {
            "Conv" => self.conv(n),
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
                let v = self.value(n, 0)?;
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
        let auto = string(n, "auto_pad");
        match auto.as_str() {
            "" | "NOTSET" => match ints(n, "pads").as_deref() {
                None => Ok([[0, 0], [0, 0]]),
                Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| **p >= 0) => Ok([[*t as usize, *b as usize], [*l as usize, *r as usize]]),
                Some(p) => Err(err(n, format!("`pads` must be 4 non-negative numbers (2-D), got {}", short(p)))),
            },
            "VALID" => Ok([[0, 0], [0, 0]]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut out = [[0, 0]; 2];
                for a in 0..2 {
                    let span = dilation[a] * (kernel[a] - 1) + 1;
                    let outn = hw[a].div_ceil(stride[a]);
                    let total = ((outn - 1) * stride[a] + span).saturating_sub(hw[a]);
                    let small = total / 2;
                    out[a] = if auto == "SAME_UPPER" { [small, total - small] } else { [total - small, small] };
                }
                Ok(out)
            }
            other => Err(err(n, format!("auto_pad `{other}` is not an ONNX value"))),
        }
    }

    fn spatial(n: &NodeProto, v: &Runtime) -> Result<[usize; 3]> {
        match v.shape.as_slice() {
            [c, h, w] => Ok([*c, *h, *w]),
            s => Err(err(n, format!("needs a feature map [N, C, H, W], got [N, {}]", dims(s)))),
        }
    }

    fn conv(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.value(n, 0)?;
        let [_, h, w] = Self::spatial(n, &x)?;
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
        let op = OpSpec::Conv2d { weight: wname, bias: bname, stride, padding, dilation, groups: groups as usize, act: None };
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
        self.push(n, id, OpSpec::BatchNorm { gamma, beta, mean, var, eps }, vec![x.id])
    }

    fn act(&mut self, n: &NodeProto, a: Activation) -> Result<()> {
        let x = self.plain(n, 0)?;
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Act(a), vec![x.id])
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
        let a = match (min, max) {
            (0.0, 6.0) => Activation::Relu6,
            (0.0, f32::INFINITY) => Activation::Relu,
            _ => Activation::Clip { min, max },
        };
        self.act(n, a)
    }

    /// Add/Sub/Mul/Div: of two computed values (Add and Mul, broadcasting one over the other),
    /// or of a computed value and a per-channel (or single) constant, as an affine map.
    fn arithmetic(&mut self, n: &NodeProto) -> Result<()> {
        let op = n.op_type.as_str();
        let (a, b) = (n.input.first().cloned().unwrap_or_default(), n.input.get(1).cloned().unwrap_or_default());
        let (ra, rb) = (self.values.contains_key(&a), self.values.contains_key(&b));
        if ra && rb {
            let (x, y) = (self.plain(n, 0)?, self.plain(n, 1)?);
            let spec = match op {
                "Add" => OpSpec::Add,
                "Mul" => OpSpec::Mul,
                _ => return Err(err(n, format!("{op} of two values computed from the image is not supported (only with a constant)"))),
            };
            // convscope broadcasts the second input; the op commutes, so put the smaller last.
            let covers = |p: &LayerShape, q: &LayerShape| p.len() == q.len() && p.iter().zip(q).all(|(u, v)| u == v || *v == 1);
            let (first, second) = if covers(&x.shape, &y.shape) {
                (x, y)
            } else if covers(&y.shape, &x.shape) {
                (y, x)
            } else {
                return Err(err(n, format!("shapes [N, {}] and [N, {}] do not broadcast", dims(&x.shape), dims(&y.shape))));
            };
            let id = self.fresh_id(n);
            return self.push(n, id, spec, vec![first.id, second.id]);
        }
        let (x, c, constant_first) = if ra { (self.plain(n, 0)?, self.required(n, 1, "operand")?.clone(), false) } else { (self.plain(n, 1)?, self.required(n, 0, "operand")?.clone(), true) };
        let channels = x.shape[0];
        // The constant, aligned right against [N, ...shape], may vary only along channels.
        let full: Vec<usize> = std::iter::once(1).chain(x.shape.iter().copied()).collect();
        if c.shape.len() > full.len() {
            return Err(err(n, format!("the constant has shape {}, more dimensions than the value [N, {}]", short(&c.shape), dims(&x.shape))));
        }
        let offset = full.len() - c.shape.len();
        let mut per_channel = true;
        for (k, &d) in c.shape.iter().enumerate() {
            let axis = k + offset;
            if d != 1 && (axis != 1 || d != channels) {
                per_channel = false;
            }
        }
        if !per_channel {
            return Err(err(n, format!("the constant has shape {:?}; only one number or one per channel is supported against [N, {}]", c.shape, dims(&x.shape))));
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
        self.push(n, id, OpSpec::BatchNorm { gamma, beta, mean, var, eps: 0.0 }, vec![x.id])
    }

    fn pool(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.value(n, 0)?;
        let [_, h, w] = Self::spatial(n, &x)?;
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
            OpSpec::MaxPool2d { kernel, stride, padding, dilation, ceil_mode }
        } else {
            if dilation != [1, 1] {
                return Err(err(n, "dilated average pooling is not supported"));
            }
            let count_include_pad = int(n, "count_include_pad", 0) != 0 || x.pad.is_some();
            OpSpec::AvgPool2d { kernel, stride, padding, count_include_pad, ceil_mode }
        };
        self.push(n, id, op, vec![x.id])
    }

    /// Global pooling keeps ONNX's `[N, C, 1, 1]`: a window over the whole map.
    fn global_pool(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let [_, h, w] = Self::spatial(n, &x)?;
        let id = self.fresh_id(n);
        let op = if n.op_type == "GlobalMaxPool" {
            OpSpec::MaxPool2d { kernel: [h, w], stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], ceil_mode: false }
        } else {
            OpSpec::AvgPool2d { kernel: [h, w], stride: [1, 1], padding: [[0, 0], [0, 0]], count_include_pad: false, ceil_mode: false }
        };
        self.push(n, id, op, vec![x.id])
    }

    /// The spatial mean (axes 2 and 3) only.
    fn reduce_mean(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let [_, h, w] = Self::spatial(n, &x)?;
        let axes = if self.opset < 18 { ints(n, "axes") } else { self.constant(n, 1)?.map(|c| c.ints.clone()) };
        let mut axes: Vec<i64> = axes.unwrap_or_else(|| vec![0, 1, 2, 3]).iter().map(|a| if *a < 0 { a + 4 } else { *a }).collect();
        axes.sort_unstable();
        if axes != [2, 3] {
            return Err(err(n, format!("only the mean over height and width (axes 2, 3) is supported, got axes {}", short(&axes))));
        }
        let id = self.fresh_id(n);
        if int(n, "keepdims", 1) != 0 {
            let op = OpSpec::AvgPool2d { kernel: [h, w], stride: [1, 1], padding: [[0, 0], [0, 0]], count_include_pad: false, ceil_mode: false };
            self.push(n, id, op, vec![x.id])
        } else {
            self.push(n, id, OpSpec::GlobalAvgPool, vec![x.id])
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
        self.push(n, id, OpSpec::Linear { weight: w, bias: b }, vec![x.id])
    }

    fn gemm(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if int(n, "transA", 0) != 0 {
            return Err(err(n, "transA=1 is not supported"));
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

    fn matmul(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let b = self.required(n, 1, "weight")?.clone();
        let [r, c] = match b.shape.as_slice() {
            [r, c] => [*r, *c],
            s => return Err(err(n, format!("the weight must be 2-D, got {s:?}"))),
        };
        self.linear(n, x, transpose(&b.values, r, c), c, None)
    }

    fn flatten(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len() as i64 + 1;
        let axis = int(n, "axis", 1);
        if axis != 1 && axis != 1 - rank {
            return Err(err(n, format!("only flattening after the batch (axis 1) is supported, got axis {axis}")));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Flatten, vec![x.id])
    }

    /// Reshape, Squeeze and Unsqueeze: the batch stays first, the rest becomes `[C, H, W]`
    /// or `[F]`.
    fn reshape(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let full: Vec<usize> = std::iter::once(1).chain(x.shape.iter().copied()).collect();
        let total: usize = full.iter().product();
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
                        0 if !allow_zero => out.push(*full.get(k).ok_or_else(|| err(n, format!("shape {}: 0 copies a dimension the input lacks", short(&shape))))?),
                        d if d >= 0 => out.push(d as usize),
                        _ => return Err(err(n, format!("shape {} is not a valid target", short(&shape)))),
                    }
                }
                if let Some(k) = infer {
                    let rest = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(0);
                    if rest == 0 || !total.is_multiple_of(rest) {
                        return Err(err(n, format!("cannot reshape [N, {}] to {}", dims(&x.shape), short(&shape))));
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
                        None => (1..full.len()).filter(|&k| full[k] == 1).collect(),
                    };
                    if axes.iter().any(|&a| a == 0 || a >= full.len() || full[a] != 1) {
                        return Err(err(n, format!("cannot squeeze axes {} of [N, {}]", short(&axes), dims(&x.shape))));
                    }
                    full.iter().enumerate().filter(|(k, _)| !axes.contains(k)).map(|(_, d)| *d).collect()
                } else {
                    let axes = axes.ok_or_else(|| err(n, "the axes are missing"))?;
                    let rank = (full.len() + axes.len()) as i64;
                    let mut axes: Vec<usize> = axes.iter().map(|&v| (if v < 0 { v + rank } else { v }) as usize).collect();
                    axes.sort_unstable();
                    let mut out = full.clone();
                    for a in axes {
                        if a == 0 || a > out.len() {
                            return Err(err(n, format!("cannot unsqueeze at axis {a}")));
                        }
                        out.insert(a, 1);
                    }
                    out
                }
            }
        };
        if target.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(total) || target.first() != Some(&1) {
            return Err(err(n, format!("cannot reshape [N, {}] to {} keeping the batch first", dims(&x.shape), short(&target))));
        }
        let rest = target[1..].to_vec();
        if rest == x.shape {
            self.alias(n, x);
            return Ok(());
        }
        let id = self.fresh_id(n);
        let op = match rest.len() {
            1 => OpSpec::Flatten,
            3 => OpSpec::Reshape { shape: rest },
            _ => return Err(err(n, format!("gives [N, {}]; convscope's layers are [N, C, H, W] or [N, F]", dims(&rest)))),
        };
        self.push(n, id, op, vec![x.id])
    }

    fn concat(&mut self, n: &NodeProto) -> Result<()> {
        let parts: Vec<Runtime> = (0..n.input.len()).map(|k| self.plain(n, k)).collect::<Result<_>>()?;
        let rank = parts.first().ok_or_else(|| err(n, "has no inputs"))?.shape.len() as i64 + 1;
        let axis = int(n, "axis", 1);
        if axis != 1 && axis != 1 - rank {
            return Err(err(n, format!("only concatenation along channels (axis 1) is supported, got axis {axis}")));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Concat, parts.into_iter().map(|p| p.id).collect())
    }

    fn softmax(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        Self::flat(n, &x)?;
        let axis = int(n, "axis", if self.opset < 13 { 1 } else { -1 });
        if axis != 1 && axis != -1 {
            return Err(err(n, format!("softmax over axis {axis} of [N, F] is not supported")));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Softmax, vec![x.id])
    }

    /// A zero padding of height and width, folded into the window op that reads it.
    fn pad(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        Self::spatial(n, &x)?;
        let mode = string(n, "mode");
        if !(mode.is_empty() || mode == "constant") {
            return Err(err(n, format!("only constant (zero) padding is supported, got mode `{mode}`")));
        }
        let (pads, value) = if self.opset < 11 {
            (ints(n, "pads").unwrap_or_default(), float(n, "value", 0.0))
        } else {
            let value = self.constant(n, 2)?.map_or(0.0, |c| c.values.first().copied().unwrap_or(0.0));
            if self.constant(n, 3)?.is_some() {
                return Err(err(n, "padding only some axes (the `axes` input) is not supported"));
            }
            (self.required(n, 1, "pads")?.ints.clone(), value)
        };
        if value != 0.0 {
            return Err(err(n, format!("only zero padding is supported, got {value}")));
        }
        match pads.as_slice() {
            [0, 0, t, l, 0, 0, b, r] if [t, l, b, r].iter().all(|p| **p >= 0) => {
                let p = [[*t as usize, *b as usize], [*l as usize, *r as usize]];
                let out = n.output[0].as_str();
                if self.readers.get(out).copied().unwrap_or(0) != 1 {
                    return Err(err(n, "a Pad is supported only when one Conv or AveragePool reads it"));
                }
                let pad = Some(x.pad.map_or(p, |q| add_pads(q, p)));
                self.alias(n, Runtime { pad, ..x });
                Ok(())
            }
            p => Err(err(n, format!("only padding of height and width is supported, got pads {}", short(p)))),
        }
    }

    /// The graph, its weights and notes: the nodes that the output needs, with a final
    /// softmax dropped (convscope takes logits).
    pub fn finish(mut self, output: &str) -> Result<Finished> {
        let out = self
            .values
            .get(output)
            .cloned()
            .ok_or_else(|| Error::Onnx(format!("the output `{output}` is not computed from the image")))?;
        if out.pad.is_some() {
            return Err(Error::Onnx(format!("the output `{output}` is a Pad")));
        }
        let mut last = out.id.clone();
        if let Some(node) = self.nodes.iter().find(|n| n.id == last)
            && node.op == OpSpec::Softmax
        {
            self.notes.push(format!("its final softmax (`{last}`) is left out: convscope reads logits"));
            last = node.inputs[0].clone();
        }
        if out.shape.len() != 1 {
            return Err(Error::Onnx(format!("the output `{output}` is [N, {}], not class scores [N, classes]", dims(&out.shape))));
        }
        // Keep what the output needs.
        let mut needed: HashSet<String> = HashSet::from([last.clone()]);
        for node in self.nodes.iter().rev() {
            if needed.contains(&node.id) {
                needed.extend(node.inputs.iter().cloned());
            }
        }
        let end = self.nodes.iter().position(|n| n.id == last).expect("the output node exists");
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
