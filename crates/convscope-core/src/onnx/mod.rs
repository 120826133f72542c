//! ONNX import: a model exported from PyTorch (`torch.onnx.export`) or Keras (tf2onnx) as a
//! convscope graph, at run time, in the browser and natively.
//!
//! The file is parsed with ONNX's own protobuf messages ([`onnx_protobuf`]); every node is
//! mapped onto one node of convscope's layer graph ([`GraphSpec`]), named after the ONNX node
//! (or its output when the node has no name), so the layers the page lists are the model's
//! node outputs in graph order. Initializers and `Constant` nodes become weights and
//! attributes. A file that is not ONNX, a truncated one, or one that uses an op outside
//! [`supported`] is refused with a message that says what and where, before anything runs.

mod attr;
mod convert;
mod fold;
mod targets;
mod tensor;

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{Message, ModelProto, tensor_shape_proto::dimension, type_proto};

use convert::Layout;
pub use convert::supported;
pub use fold::FOLDED;
pub use tensor::{Constant, constant};

use crate::{
    Error, Result,
    format::{Header, ModelFile},
    graph::{GraphSpec, INPUT},
    preprocess::InputSpec,
    tensor_data::HostTensor,
};

/// Opsets of the default (`ai.onnx`) domain the importer reads. The supported ops' versions
/// after 21 (22-25) only add element types (bfloat16, float8, int4, int2) to the float32
/// semantics read here.
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=25;

/// An imported ONNX model: its graph, weights and input shape, before preprocessing is chosen.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The network as convscope's layer graph.
    pub graph: GraphSpec,
    /// Weights by name.
    pub weights: HashMap<String, HostTensor>,
    /// What the import changed or dropped, for people (e.g. a final softmax).
    pub notes: Vec<String>,
    /// The graph's name, or the producer's, for the model's description.
    pub producer: String,
    /// `(ONNX value name, layer id)` for every node output the graph computes, sorted by
    /// name (several names can share a layer: `Identity`, `Dropout`).
    pub values: Vec<(String, String)>,
    /// ONNX's first axis is the graph's batch (an `[N, C, H, W]` input); otherwise the whole
    /// ONNX input is one `[C, H, W]` sample ([`import_tensors`] only).
    pub batched: bool,
}

impl Imported {
    /// A model file with `input`'s preprocessing (its channels and size must be the
    /// graph's) and `labels` (may be empty).
    pub fn into_file(self, name: &str, input: InputSpec, labels: Vec<String>) -> Result<ModelFile> {
        let [c, h, w] = self.graph.input_shape;
        if [input.channels, input.height, input.width] != [c, h, w] {
            return Err(Error::BadInput(format!(
                "the preprocessing is for {}x{}x{} inputs, the model takes {c}x{h}x{w}",
                input.channels, input.height, input.width
            )));
        }
        let mut description = format!("Imported from ONNX ({})", self.producer);
        for n in &self.notes {
            description.push_str("; ");
            description.push_str(n);
        }
        Ok(ModelFile { header: Header { name: name.into(), description, input, labels, graph: self.graph, tensors: vec![] }, tensors: self.weights })
    }
}

/// How images become an imported model's input (ONNX files do not say).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preprocessing {
    /// Per-channel mean on pixel values 0..255, R, G, B; `None`: ImageNet's for RGB models,
    /// 0 for grey ones.
    pub mean: Option<[f32; 3]>,
    /// Per-channel divisor after the mean; `None`: ImageNet's for RGB, 255 for grey.
    pub std: Option<[f32; 3]>,
    /// The model takes blue, green, red planes.
    pub bgr: bool,
    /// A labels file's text (one class per line, or JSON); empty for none.
    pub labels: String,
    /// How many numbers the person gave for the mean and the std (0: none), so that three
    /// for a grey model are refused.
    pub given: [usize; 2],
}

impl Preprocessing {
    /// From mean and std as a person writes them (`R, G, B`, one number, or empty for the
    /// model's default: see [`crate::preprocess::per_channel`]).
    pub fn parse(mean: &str, std: &str, bgr: bool, labels: String) -> Result<Self> {
        let (m, s) = (crate::preprocess::per_channel(mean, "mean")?, crate::preprocess::per_channel(std, "std")?);
        Ok(Self { mean: m.map(|v| v.0), std: s.map(|v| v.0), bgr, labels, given: [m.map_or(0, |v| v.1), s.map_or(0, |v| v.1)] })
    }
}

/// Import an ONNX file as a model named `name` on `device`, with `pre`'s preprocessing.
pub fn load(bytes: &[u8], name: &str, pre: &Preprocessing, device: &burn::tensor::Device) -> Result<crate::Model> {
    let imported = import(bytes)?;
    let [c, h, w] = imported.graph.input_shape;
    let default =
        if c == 3 { InputSpec::imagenet(3, h, w) } else { InputSpec { channels: c, height: h, width: w, mean: [0.0; 3], std: [255.0; 3], bgr: false } };
    if let Some(k) = (0..2).find(|&k| c == 1 && pre.given[k] == 3) {
        return Err(Error::BadInput(format!("{}: give 1 number, got 3 (the model takes grey images)", ["mean", "std"][k])));
    }
    let input = InputSpec { mean: pre.mean.unwrap_or(default.mean), std: pre.std.unwrap_or(default.std), bgr: pre.bgr, ..default };
    if input.std[..c].contains(&0.0) || input.std.iter().chain(&input.mean).any(|v| !v.is_finite()) {
        return Err(Error::BadInput("std must be non-zero and every mean and std a number".into()));
    }
    let labels = if pre.labels.trim().is_empty() { vec![] } else { crate::model::parse_labels(&pre.labels)? };
    if !labels.is_empty() {
        let classes = imported.graph.infer_shapes(&imported.weights)?.last().map_or(0, |s| s[0]);
        if labels.len() != classes {
            return Err(Error::BadInput(format!("the labels file names {} classes, the model has {classes}", labels.len())));
        }
    }
    crate::Model::from_file(imported.into_file(name, input, labels)?, device)
}

/// True when `bytes` look like an ONNX file rather than a convscope `.csm` file.
pub fn looks_like_onnx(bytes: &[u8]) -> bool {
    !bytes.starts_with(b"CSM\0") && bytes.first() == Some(&0x08)
}

/// Parse an ONNX image classifier and map it onto convscope's graph: one image input
/// `[N, C, H, W]` (grey or RGB), class scores out (a final softmax is left out).
pub fn import(bytes: &[u8]) -> Result<Imported> {
    import_as(bytes, true)
}

/// Parse any ONNX graph of the supported ops whose input is `[N, C, H, W]` (any channels) or
/// a single `[C, H, W]` tensor, with any output, computed as the file says (nothing left out).
/// For checking the importer op by op against ONNX's backend node tests; load the result
/// with [`crate::graph::Graph::load_any`].
pub fn import_tensors(bytes: &[u8]) -> Result<Imported> {
    import_as(bytes, false)
}

fn import_as(bytes: &[u8], classifier: bool) -> Result<Imported> {
    if bytes.is_empty() {
        return Err(Error::Onnx("the file is empty".into()));
    }
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| Error::Onnx(format!("the file is not a readable ONNX model (truncated or not ONNX: {e})")))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| Error::Onnx("the file names no opset of the standard ONNX domain; is it an ONNX model?".into()))?;
    if !OPSETS.contains(&opset) {
        return Err(Error::Onnx(format!(
            "opset {opset} is not supported (opsets {}-{} are); convert it with onnx.version_converter",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    let graph = model.graph.as_ref().ok_or_else(|| Error::Onnx("the file has no graph".into()))?;
    convert::check_ops(graph)?;

    let initialised: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<_> = graph.input.iter().filter(|i| !initialised.contains(i.name.as_str())).collect();
    let input = match inputs.as_slice() {
        [one] => *one,
        [] => return Err(Error::Onnx("the graph has no input".into())),
        many => {
            return Err(Error::Onnx(format!(
                "the graph has {} inputs ({}); convscope runs image classifiers with one image input",
                many.len(),
                many.iter().map(|i| format!("`{}`", i.name)).collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let images = graph.node.iter().any(|n| IMAGE_OPS.contains(&n.op_type.as_str()));
    let layout = if classifier { Layout { shape: image_shape(input)?, batched: true, reshaped: None, integer: false } } else { tensor_shape(input, images)? };
    let batched = layout.batched;
    let output = graph.output.first().ok_or_else(|| Error::Onnx("the graph has no output".into()))?;

    let mut constants = HashMap::new();
    for t in &graph.initializer {
        constants.insert(t.name.clone(), constant(t)?);
    }
    let mut c = convert::Converter::new(opset, input.name.clone(), layout, constants, graph);
    for node in &graph.node {
        c.node(node)?;
    }
    let extra: Vec<String> = if classifier { vec![] } else { graph.output.iter().skip(1).map(|o| o.name.clone()).collect() };
    let convert::Finished { graph: graph_spec, weights, mut notes, values } = c.finish(&output.name, &extra, classifier)?;
    if graph.output.len() > 1 && classifier {
        notes.push(format!("outputs after the first (`{}`) are ignored", output.name));
    }
    let producer = match (model.producer_name.as_str(), graph.name.as_str()) {
        ("", "") => "no producer named".to_string(),
        (p, "") => format!("{p} {}", model.producer_version).trim().to_string(),
        ("", g) => format!("graph `{g}`"),
        (p, g) => format!("{p} {}, graph `{g}`", model.producer_version),
    };
    // Every node's shape and weight is checked here, once, before anything runs.
    if classifier {
        // Values of other ranks (a channel shuffle's [G, C / G, H, W], a [H, W] plane) are
        // layers too; the views offer the feature maps [C, H, W] and vectors [F].
        graph_spec.infer_shapes(&weights)?;
    } else {
        graph_spec.layer_shapes(&weights)?;
    }
    debug_assert!(graph_spec.nodes.iter().all(|n| n.id != INPUT));
    Ok(Imported { graph: graph_spec, weights, notes, producer, values, batched })
}

/// An input's element type and dimensions (`None` where not a fixed positive size).
fn input_tensor(input: &onnx_protobuf::ValueInfoProto) -> Result<(i32, Vec<Option<i64>>)> {
    let tensor = match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => return Err(Error::Onnx(format!("input `{}` is not a tensor", input.name))),
    };
    let dims = tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(dimension::Value::DimValue(v)) if v > 0 => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((tensor.elem_type, dims))
}

/// `[C, H, W]` of the image input `[N, C, H, W]` (N may be symbolic).
fn image_shape(input: &onnx_protobuf::ValueInfoProto) -> Result<[usize; 3]> {
    let name = &input.name;
    let (elem_type, dims) = input_tensor(input)?;
    if elem_type != 1 {
        return Err(Error::Onnx(format!("input `{name}` holds data type {elem_type}, not float32 pixels")));
    }
    match dims.as_slice() {
        [_, Some(c), Some(h), Some(w)] if (*c == 1 || *c == 3) && *h <= 4096 && *w <= 4096 => Ok([*c as usize, *h as usize, *w as usize]),
        [_, Some(c), _, _] if *c != 1 && *c != 3 => {
            Err(Error::Onnx(format!("input `{name}` has {c} channels; convscope takes grey (1) or RGB (3) images, channels first [N, C, H, W]")))
        }
        [_, _, _, _] => Err(Error::Onnx(format!("input `{name}` has no fixed height and width ({}); export it with a fixed image size", describe(&dims)))),
        _ => Err(Error::Onnx(format!("input `{name}` has shape {}; convscope takes images as [N, C, H, W]", describe(&dims)))),
    }
}

/// Ops that take a batch of images `[N, C, H, W]`.
const IMAGE_OPS: &[&str] = &["AveragePool", "BatchNormalization", "Conv", "ConvTranspose", "GlobalAveragePool", "GlobalMaxPool", "MaxPool"];

/// A float or integer input as the graph's: `[N, C, H, W]` gives `[C, H, W]` (batched),
/// `[A, B, C]` itself (one whole sample); `[N, C, D, H, W]`, `[N, C, L]`, features `[?, F]`
/// (batched), `[A, B]` and `[F]` (whole) come as maps reshaped by a first node.
/// A 4-axis input is a batch `[N, C, H, W]`, except when `images` is false (no op of
/// [`IMAGE_OPS`]) and N is more than 1: then it is one tensor, reshaped from `[N * C, H, W]`.
/// A 3-axis input is a batch of 1-D signals `[N, C, L]` when `images`, else one tensor.
/// Integer inputs are computed as float32, exact for values below 2^24.
fn tensor_shape(input: &onnx_protobuf::ValueInfoProto, images: bool) -> Result<Layout> {
    let name = &input.name;
    let (elem_type, dims) = input_tensor(input)?;
    // uint8, int8, uint16, int16, int32, int64, uint32, uint64
    let integer = [2, 3, 4, 5, 6, 7, 12, 13].contains(&elem_type);
    if elem_type != 1 && !integer {
        return Err(Error::Onnx(format!("input `{name}` holds data type {elem_type}; convscope computes float32 and integer tensors")));
    }
    match dims.as_slice() {
        [Some(n), Some(c), Some(h), Some(w)] if *n > 1 && !images => {
            let [n, c, h, w] = [*n as usize, *c as usize, *h as usize, *w as usize];
            Ok(Layout { shape: [n * c, h, w], batched: false, reshaped: Some(vec![n, c, h, w]), integer })
        }
        [_, Some(c), Some(h), Some(w)] => Ok(Layout { shape: [*c as usize, *h as usize, *w as usize], batched: true, reshaped: None, integer }),
        [_, Some(c), Some(d), Some(h), Some(w)] => {
            let [c, d, h, w] = [*c as usize, *d as usize, *h as usize, *w as usize];
            Ok(Layout { shape: [c * d, h, w], batched: true, reshaped: Some(vec![c, d, h, w]), integer })
        }
        [_, Some(c), Some(l)] if images => {
            Ok(Layout { shape: [1, *c as usize, *l as usize], batched: true, reshaped: Some(vec![*c as usize, *l as usize]), integer })
        }
        [Some(a), Some(b), Some(c)] => Ok(Layout { shape: [*a as usize, *b as usize, *c as usize], batched: false, reshaped: None, integer }),
        [Some(a), Some(b)] => Ok(Layout { shape: [1, *a as usize, *b as usize], batched: false, reshaped: Some(vec![*a as usize, *b as usize]), integer }),
        [None, Some(f)] => Ok(Layout { shape: [1, 1, *f as usize], batched: true, reshaped: Some(vec![*f as usize]), integer }),
        [Some(f)] => Ok(Layout { shape: [1, 1, *f as usize], batched: false, reshaped: Some(vec![*f as usize]), integer }),
        _ => Err(Error::Onnx(format!(
            "input `{name}` has shape {}; convscope's graph takes [N, C, D, H, W], [N, C, H, W], [N, F], or one tensor of 1 to 4 axes",
            describe(&dims)
        ))),
    }
}

fn describe(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect();
    format!("[{}]", parts.join(", "))
}
