//! Every op of the graph, one file each: what a model file stores of it (its spec), its
//! shape rule, its properties, how it is put on a device and how it runs.
//!
//! [`registry!`] lists the ops once; it makes [`OpSpec`] (the serialisable enum, one variant
//! per op) and its dispatch. Adding an op is one file here and one line in that list.

use std::{collections::HashMap, fmt::Debug, rc::Rc};

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Deserializer, Serialize};

pub use act::{Activation, Redirect, apply_activation, redirected_flat, redirected_spatial};
pub use arith::ArithOp;
pub use pad::PadMode;
pub use reduce::Reduction;

use super::{LayerShape, Value, field::Footprint};
use crate::{Result, rng::Rng, tensor_data::HostTensor};

/// Per-side padding of a 2-D window: `[[top, bottom], [left, right]]`.
pub type Padding2d = [[usize; 2]; 2];

/// What a layer is, beyond its kind's name: typed, so nothing is guessed from the name.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LayerProps {
    /// Its values end in a rectifier with its floor at 0 (ReLU, ReLU6, a clip from 0): a
    /// channel at 0 everywhere is switched off rather than merely low.
    pub rectified: bool,
    /// It has learned parameters (convolutions, affine maps, linear layers), which the sanity
    /// check re-draws.
    pub weighted: bool,
    /// Its output's shape is fixed by its input's total size, not by its layout (flatten,
    /// reshape): layers after it need the model's own input size when it reads feature maps.
    pub flattens: bool,
    /// A window slides over its input's height and width (convolutions, poolings): its
    /// output's last two axes are a map's height and width.
    pub windowed: bool,
}

/// An op as a model file describes it: the spec side of one registry entry.
pub trait OpDef {
    /// A short name for the kind of layer, as shown to users.
    fn kind(&self) -> String;

    /// Names of the weight tensors it uses.
    fn weights(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Its output shape (without batch) from its inputs' shapes; checks its weights' shapes.
    fn shape(&self, ins: &[&LayerShape], weights: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String>;

    /// What the layer is.
    fn props(&self) -> LayerProps {
        LayerProps::default()
    }

    /// How its output positions read its inputs' positions, for receptive fields (see
    /// [`crate::graph::field`]); an op that does not say reads them all.
    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Whole
    }

    /// The op ready to run on `cx`'s device.
    fn lower(&self, cx: &mut Lowering<'_>) -> Rc<dyn Kernel>;
}

/// An op with its weights on a device: the runtime side of one registry entry.
pub trait Kernel: Debug {
    /// Runs the op on its inputs (checked for arity and shape at load time), its rectifier's
    /// gradient redirected as `redirect` says.
    fn apply(&self, inputs: Vec<Value>, redirect: Redirect) -> Result<Value>;

    /// The same op with each learned tensor re-drawn as Gaussian noise of its own standard
    /// deviation; `None` for an op without learned parameters.
    fn randomized(&self, _rng: &mut Rng) -> Option<Rc<dyn Kernel>> {
        None
    }

    /// What runs the op on the CPU where that says more than its kind (a convolution: which
    /// of the kernels), for a profile; `None` for the op's kind alone.
    fn label(&self) -> Option<&'static str> {
        None
    }
}

macro_rules! registry {
    ($($variant:ident($module:ident::$ty:ident) $(alias $alias:literal)?),* $(,)?) => {
        /// One operation of the graph. Weights are named; their data lives beside the spec.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        pub enum OpSpec {
            $(
                #[allow(missing_docs)]
                $(#[serde(alias = $alias)])?
                $variant($module::$ty),
            )*
        }

        impl OpSpec {
            /// The op's behaviour.
            pub fn def(&self) -> &dyn OpDef {
                match self {
                    $(OpSpec::$variant(o) => o,)*
                }
            }
        }

        $(pub use $module::$ty;)*

        $(impl From<$module::$ty> for OpSpec {
            fn from(o: $module::$ty) -> Self {
                OpSpec::$variant(o)
            }
        })*
    };
}

/// `add` and `mul` of older model files as `arith` of two inputs (the other ops of older
/// files, `concat`, `softmax`, `mean`, are aliases of the general ops in [`registry!`]).
fn migrate(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(map) = v.as_object_mut() {
        let old = map.get("op").and_then(|o| o.as_str()).filter(|o| matches!(*o, "add" | "mul")).map(str::to_string);
        if let Some(kind) = old {
            map.insert("op".into(), "arith".into());
            map.insert("kind".into(), kind.into());
        }
    }
    v
}

impl OpSpec {
    /// Reads an op, mapping those of older files (`add`, `mul`, `concat` without an axis,
    /// `softmax` of features, `mean`) onto the general ops.
    pub(crate) fn deserialize_migrating<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        serde_json::from_value(migrate(v)).map_err(serde::de::Error::custom)
    }

    /// A short name for the kind of layer, as shown to users.
    pub fn kind(&self) -> String {
        self.def().kind()
    }

    /// Names of the weight tensors this op uses.
    pub fn weight_names(&self) -> Vec<&str> {
        self.def().weights()
    }

    /// What the layer is.
    pub fn props(&self) -> LayerProps {
        self.def().props()
    }
}

pub mod act;
pub mod arith;
pub mod avg_pool2d;
pub mod batch_norm;
pub mod concat;
pub mod constant;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod flatten;
pub mod gather;
pub mod global_pool;
pub mod identity;
pub mod layer_norm;
pub mod linear;
pub mod matmul;
pub mod max_pool2d;
pub mod pad;
pub mod pool3d;
pub mod prelu;
pub mod reduce;
pub mod reshape;
pub mod slice;
pub mod softmax;
pub mod transpose;

registry! {
    Conv2d(conv2d::Conv2d),
    BatchNorm(batch_norm::BatchNorm),
    Act(act::Act),
    MaxPool2d(max_pool2d::MaxPool2d),
    AvgPool2d(avg_pool2d::AvgPool2d),
    Pool3d(pool3d::Pool3d),
    GlobalAvgPool(global_pool::GlobalAvgPool),
    GlobalMaxPool(global_pool::GlobalMaxPool),
    Linear(linear::Linear),
    Flatten(flatten::Flatten),
    Reshape(reshape::Reshape),
    Softmax(softmax::Softmax) alias "softmax_axis",
    Identity(identity::Identity),
    Pad(pad::Pad),
    Arith(arith::Arith),
    Transpose(transpose::Transpose),
    Concat(concat::Concat) alias "concat_axis",
    Constant(constant::Constant),
    Reduce(reduce::Reduce) alias "mean",
    MatMul(matmul::MatMul),
    ConvTranspose2d(conv_transpose2d::ConvTranspose2d),
    LayerNorm(layer_norm::LayerNorm),
    Slice(slice::Slice),
    Gather(gather::Gather),
    PRelu(prelu::PRelu),
}

/// What lowering an op needs: its inputs' and output's shapes, the weights and the device.
pub struct Lowering<'a> {
    /// Input shapes without batch.
    pub ins: &'a [Vec<usize>],
    /// Output shape without batch.
    pub out: &'a [usize],
    /// The weights, handed over as they are uploaded.
    pub weights: &'a mut Weights,
    /// Where the weights go.
    pub device: &'a Device,
}

impl Lowering<'_> {
    /// The first input's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.ins.first().cloned().unwrap_or_default()
    }

    /// Axis `k` of the first input as an axis of its `[batch, a, b, c, d]` form.
    pub fn at(&self, k: usize) -> usize {
        k + 5 - self.ins.first().map_or(0, Vec::len)
    }

    /// A weight as a tensor of its own shape.
    pub fn upload<const D: usize>(&mut self, name: &str) -> Tensor<D> {
        let t = self.weights.take(name);
        Tensor::from_data(TensorData::new(t.data, t.shape), self.device)
    }

    /// A weight as `[1, a, b, c, d]`, its axes aligned right (leading axes of size 1).
    pub fn upload5(&mut self, name: &str) -> Tensor<5> {
        let t = self.weights.take(name);
        let mut shape = vec![1; 5 - t.shape.len().min(5)];
        shape.extend(&t.shape);
        Tensor::from_data(TensorData::new(t.data, shape), self.device)
    }

    /// A weight as one row, `[1, values]`.
    pub fn upload_row(&mut self, name: &str) -> Tensor<2> {
        let t = self.weights.take(name);
        let n = t.data.len();
        Tensor::from_data(TensorData::new(t.data, [1, n]), self.device)
    }
}

/// Host weights handed to the device: each is moved, not copied, unless several ops use it.
pub struct Weights {
    map: HashMap<String, HostTensor>,
    uses: HashMap<String, usize>,
}

impl Weights {
    pub(crate) fn new(map: HashMap<String, HostTensor>, nodes: &[super::NodeSpec]) -> Self {
        let mut uses = HashMap::new();
        for node in nodes {
            for name in node.op.weight_names() {
                *uses.entry(name.to_string()).or_insert(0) += 1;
            }
        }
        Self { map, uses }
    }

    /// A weight, without handing it over.
    pub fn peek(&self, name: &str) -> Option<&HostTensor> {
        self.map.get(name)
    }

    /// The weight, validated present by shape inference.
    pub fn take(&mut self, name: &str) -> HostTensor {
        let left = self.uses.get_mut(name).expect("weight counted");
        *left -= 1;
        if *left == 0 { self.map.remove(name) } else { self.map.get(name).cloned() }.expect("weight present")
    }
}

// Helpers of the shape rules.

pub(crate) fn weight<'a>(weights: &'a HashMap<String, HostTensor>, name: &str) -> std::result::Result<&'a HostTensor, String> {
    weights.get(name).ok_or_else(|| format!("weight `{name}` is missing from the file"))
}

pub(crate) fn arity(ins: &[&LayerShape], n: usize) -> std::result::Result<(), String> {
    if ins.len() == n { Ok(()) } else { Err(format!("takes {n} input(s), has {}", ins.len())) }
}

pub(crate) fn spatial(s: &LayerShape) -> std::result::Result<[usize; 3], String> {
    match s.as_slice() {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => Err(format!("needs a [C, H, W] input, got {s:?}")),
    }
}

/// Checks an optional bias of `o` values.
pub(crate) fn check_bias(weights: &HashMap<String, HostTensor>, bias: &Option<String>, o: usize) -> std::result::Result<(), String> {
    if let Some(b) = bias {
        let b = weight(weights, b)?;
        if b.shape != [o] {
            return Err(format!("bias must be [{o}], got {:?}", b.shape));
        }
    }
    Ok(())
}

/// numpy's broadcast of two shapes (aligned right).
pub(crate) fn broadcast(a: &[usize], b: &[usize]) -> std::result::Result<Vec<usize>, String> {
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

/// Axis `axis` of a shape: an error when out of range.
pub(crate) fn check_axis(axis: usize, s: &LayerShape) -> std::result::Result<(), String> {
    if axis < s.len() { Ok(()) } else { Err(format!("axis {axis} of {s:?}")) }
}

/// Output size of a window op along one axis (`None` when the window does not fit).
/// A window's sizes, strides and dilations are all at least 1 (a model file may say 0).
pub(crate) fn check_steps(kernel: &[usize], stride: &[usize], dilation: &[usize]) -> std::result::Result<(), String> {
    if [kernel, stride, dilation].iter().any(|v| v.contains(&0)) {
        return Err(format!("kernel, stride and dilation must be at least 1, got kernel {kernel:?}, stride {stride:?}, dilation {dilation:?}"));
    }
    Ok(())
}

pub(crate) fn window_out(size: usize, pad: [usize; 2], k: usize, stride: usize, dil: usize, ceil: bool) -> Option<usize> {
    if k == 0 || stride == 0 || dil == 0 {
        return None;
    }
    let span = dil * (k - 1) + 1;
    let padded = size + pad[0] + pad[1];
    if padded < span || stride == 0 {
        return None;
    }
    let steps = padded - span;
    let mut out = steps / stride + 1;
    if ceil && !steps.is_multiple_of(stride) {
        // PyTorch: the last window must start inside the input or left padding.
        if out * stride < size + pad[0] {
            out += 1;
        }
    }
    Some(out)
}

/// The output of a 2-D window op on `[C, H, W]`.
pub(crate) fn window_shape(
    ins: &[&LayerShape],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: &Padding2d,
    dilation: [usize; 2],
    ceil: bool,
) -> std::result::Result<LayerShape, String> {
    arity(ins, 1)?;
    let [c, h, w] = spatial(ins[0])?;
    check_steps(&kernel, &stride, &dilation)?;
    let oh = window_out(h, padding[0], kernel[0], stride[0], dilation[0], ceil);
    let ow = window_out(w, padding[1], kernel[1], stride[1], dilation[1], ceil);
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok(vec![c, oh, ow]),
        _ => Err(format!("window {kernel:?} does not fit input {h}x{w}")),
    }
}

pub(crate) fn pad_pairs(p: &Padding2d) -> [(usize, usize); 2] {
    [(p[0][0], p[0][1]), (p[1][0], p[1][1])]
}

pub(crate) fn undilated() -> [usize; 2] {
    [1, 1]
}

pub(crate) fn is_undilated(d: &[usize; 2]) -> bool {
    *d == [1, 1]
}

/// Gaussian noise shaped like `t`, scaled on the device to `t`'s standard deviation.
pub(crate) fn like<const D: usize>(t: &Tensor<D>, rng: &mut Rng) -> Tensor<D> {
    let dims = t.dims();
    let n: usize = dims.iter().product();
    let flat = t.clone().reshape([n]);
    let centred = flat.clone() - flat.mean().reshape([1]);
    let std = (centred.clone() * centred).mean().sqrt();
    let noise = Tensor::<1>::from_data(TensorData::new(rng.normals(n), [n]), &t.device());
    (noise * std).reshape(dims)
}

/// One input of a kernel's arguments (the last one left).
pub(crate) fn one(inputs: &mut Vec<Value>) -> Result<Value> {
    inputs.pop().ok_or_else(|| crate::Error::InvalidGraph("missing input".into()))
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
    fn older_files_ops_become_the_general_ops() {
        let old = [
            (r#"{"op":"add"}"#, OpSpec::Arith(arith::Arith { kind: ArithOp::Add, constant: None, constant_first: false })),
            (r#"{"op":"mul"}"#, OpSpec::Arith(arith::Arith { kind: ArithOp::Mul, constant: None, constant_first: false })),
            (r#"{"op":"concat"}"#, OpSpec::Concat(concat::Concat { axis: 0 })),
            (r#"{"op":"concat_axis","axis":2}"#, OpSpec::Concat(concat::Concat { axis: 2 })),
            (r#"{"op":"softmax"}"#, OpSpec::Softmax(softmax::Softmax { axis: 0 })),
            (r#"{"op":"softmax_axis","axis":1}"#, OpSpec::Softmax(softmax::Softmax { axis: 1 })),
            (r#"{"op":"mean","axes":[1,2],"keep":true}"#, OpSpec::Reduce(reduce::Reduce { func: Reduction::Mean, axes: vec![1, 2], keep: true })),
        ];
        for (json, want) in old {
            let mut d = serde_json::Deserializer::from_str(json);
            assert_eq!(OpSpec::deserialize_migrating(&mut d).unwrap(), want, "{json}");
        }
    }
}
