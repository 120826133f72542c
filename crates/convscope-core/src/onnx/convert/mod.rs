//! ONNX nodes as convscope graph nodes, one op at a time.
//!
//! convscope's layers are batch-less `[C, H, W]` feature maps or `[F]` feature vectors; an
//! ONNX value is tracked under the same shape without its batch dimension. Constants
//! (initializers, `Constant` nodes) are folded into the nodes that read them: weights,
//! clip bounds, reshape targets, per-channel affine maps. A zero `Pad` is folded into the
//! convolution or pooling that reads it.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{GraphProto, NodeProto};

use super::{
    attr::{attr, dims, err, float, int, ints, pair, short, string},
    fold::{FOLDED, fold},
    tensor::{Constant, constant},
};
use crate::{
    Error, Result,
    graph::{
        Activation, ArithOp, GraphSpec, INPUT, LayerShape, NodeSpec, OpSpec, PadMode, Padding2d, Reduction, node_shape,
        ops::{
            act::Act,
            arith::Arith,
            avg_pool2d::AvgPool2d,
            batch_norm::BatchNorm,
            concat::Concat,
            constant::Constant as ConstantOp,
            conv_transpose2d::ConvTranspose2d,
            conv2d::Conv2d,
            flatten::Flatten,
            gather::Gather,
            global_pool::GlobalAvgPool,
            identity::Identity,
            layer_norm::LayerNorm,
            linear::Linear,
            matmul::MatMul,
            max_pool2d::MaxPool2d,
            pad::Pad,
            pool3d::Pool3d,
            prelu::PRelu,
            reduce::Reduce,
            reshape::Reshape,
            slice::{Range, Slice},
            softmax::Softmax,
            transpose::Transpose,
        },
    },
    tensor_data::HostTensor,
};

mod conv;
mod elementwise;
mod linear;
mod norm;
mod pool;
mod prune;
mod reduce;
mod shape;

/// Converts one ONNX node (of the op it is registered under) into graph nodes.
type Convert = for<'a, 'g> fn(&'a mut Converter<'g>, &'a NodeProto) -> Result<()>;

/// Every ONNX op the importer maps (default domain), by family: each family's file lists
/// its ops beside their converters, so what is supported is what can be converted.
const FAMILIES: &[&[(&str, Convert)]] = &[conv::OPS, pool::OPS, elementwise::OPS, norm::OPS, reduce::OPS, linear::OPS, shape::OPS];

fn converter(op: &str) -> Option<Convert> {
    FAMILIES.iter().flat_map(|f| f.iter()).find(|(name, _)| *name == op).map(|(_, f)| *f)
}

/// The ONNX ops the importer maps (default domain), sorted.
pub fn supported() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = FAMILIES.iter().flat_map(|f| f.iter().map(|(name, _)| *name)).chain(["Constant"]).collect();
    ops.sort_unstable();
    ops.dedup();
    ops
}

/// Refuses, before anything is converted, a graph with ops outside [`SUPPORTED`], naming
/// every such op and the nodes that use it.
pub fn check_ops(graph: &GraphProto) -> Result<()> {
    let mut bad: Vec<(String, Vec<String>)> = vec![];
    for (i, n) in graph.node.iter().enumerate() {
        let standard = n.domain.is_empty() || n.domain == "ai.onnx";
        if standard && (n.op_type == "Constant" || converter(&n.op_type).is_some() || FOLDED.contains(&n.op_type.as_str())) {
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
        supported().join(", "),
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
    /// Values reshaped to one axis with the batch (of one image) folded in, read only by
    /// Gather: the image's values, flattened when a Gather reads them (PyTorch's dynamo
    /// exporter writes `as_strided` so).
    folded: HashMap<String, Runtime>,
    /// Layer ids of outputs kept besides the first.
    extra: Vec<String>,
    notes: Vec<String>,
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
            folded: HashMap::new(),
            extra: vec![],
            notes: vec![],
        }
    }

    fn arith_kind(&self, op: &str) -> ArithOp {
        match op {
            "Add" => ArithOp::Add,
            "Sub" => ArithOp::Sub,
            "Mul" => ArithOp::Mul,
            "Pow" => ArithOp::Pow,
            "Max" => ArithOp::Max,
            "Min" => ArithOp::Min,
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
        let used = match n.op_type.as_str() {
            "Dropout" => 2,
            "Split" => n.output.len(),
            _ => 1,
        };
        self.check_outputs(n, used)?;
        // Ops on constants only (shape arithmetic exporters leave in) are folded on the host.
        let computed = n.input.iter().find(|i| self.values.contains_key(*i) || self.folded.contains_key(*i));
        if n.op_type == "Shape" || computed.is_none() {
            let shape_of = computed.and_then(|i| self.values.get(i)).map(|v| self.full(&v.shape));
            let ins: Vec<Option<&Constant>> = n.input.iter().map(|i| self.constants.get(i)).collect();
            if n.op_type != "Shape" && n.input.iter().zip(&ins).any(|(name, c)| !name.is_empty() && c.is_none()) {
                return Err(err(n, "reads a value defined nowhere before it"));
            }
            let c = fold(n, &ins, shape_of).map_err(|m| err(n, format!("on constants: {m}")))?;
            self.constants.insert(n.output[0].clone(), c);
            return Ok(());
        }
        if FOLDED.contains(&n.op_type.as_str()) && converter(&n.op_type).is_none() {
            return Err(err(n, format!("`{}` is supported on constants only; here it reads the image's path", n.op_type)));
        }
        let window = matches!(n.op_type.as_str(), "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool");
        if window && self.batched && n.input.first().and_then(|i| self.values.get(i)).is_some_and(|v| v.shape.len() == 2) {
            return self.window_1d(n);
        }
        match converter(&n.op_type) {
            Some(convert) => convert(self, n),
            None => Err(err(n, format!("`{}` is not supported", n.op_type))),
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

    fn spatial(&self, n: &NodeProto, v: &Runtime) -> Result<[usize; 3]> {
        match v.shape.as_slice() {
            [c, h, w] if self.batched => Ok([*c, *h, *w]),
            s => Err(err(n, format!("needs a feature map [N, C, H, W], got {}", self.shown(s)))),
        }
    }
}
