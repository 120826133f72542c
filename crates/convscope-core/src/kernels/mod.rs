//! convscope's own CPU kernels for the hot ops of its models, with their own backward passes.
//!
//! They extend burn's CPU backend (flex) through burn's backend extension mechanism: the ops
//! are the trait [`KernelOps`], implemented for [`Flex`] over plain slices (see
//! [`depthwise`]) and for `Autodiff<B>` by hand, so that each records its own backward step.
//! The functions of this module are the entry points the graph calls: on a flex tensor of
//! `f32` they run the kernels; on any other device (wgpu) or element type they compose burn's
//! ops as before, so nothing changes there.
//!
//! - [`conv2d`] with [`Conv::Depthwise`]: depthwise convolution, bias and clamp fused at the
//!   store; its input gradient is a direct kernel, and its weight gradient one pass, computed
//!   only when the weight is tracked.
//! - [`conv2d`] with [`Conv::Pointwise`]: a 1x1 convolution as one matrix product per image,
//!   written straight into its output (`pointwise/`: natively on register tiles of its own,
//!   bias and clamp at the store); its input gradient is a matrix product written the same
//!   way, its weight gradient burn's.
//! - [`clamp`]: ReLU, ReLU6 and clip, whose backward is one pass over the saved output, in
//!   place on a gradient it holds alone.

mod blocked;
pub mod depthwise;
mod direct;
mod pointwise;

use burn::{
    backend::{
        Autodiff, Backend, DispatchDevice, Flex, TensorMetadata,
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
            grads::Gradients,
            ops::{Backward, NodeGuard, Ops, OpsKind},
        },
        backend_extension,
        flex::FlexTensor,
        ops::{FloatTensorOps, ModuleOps},
        tensor::FloatTensor,
    },
    tensor::{DType, Shape, Tensor, TensorData, ops::ConvOptions},
};

use std::sync::atomic::{AtomicBool, Ordering};

pub use depthwise::Geometry;
use depthwise::Planes;

/// The bounds of a clamp: ReLU is `[0, ∞)`, ReLU6 `[0, 6]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clamp {
    /// Lower bound.
    pub min: f32,
    /// Upper bound.
    pub max: f32,
}

impl Clamp {
    /// The bounds `[lo, hi]` of an optional clamp, infinite where there is none (so that a
    /// kernel's store applies one clamp either way).
    pub(crate) fn bounds(clamp: Option<Clamp>) -> (f32, f32) {
        clamp.map_or((f32::NEG_INFINITY, f32::INFINITY), |c| (c.min, c.max))
    }
}

/// `x` clamped to `[lo, hi]`, a NaN left a NaN (as PyTorch's and onnxruntime's clamps leave
/// it: `f32::max`/`min` would turn it into a bound, hiding a broken input behind a plausible
/// activation). Written with comparisons that a NaN fails, so it still compiles to one vector
/// max and min.
#[inline(always)]
pub(crate) fn clamp_value(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi { hi } else { x }
}

/// Runs `f(index, chunk)` over `out` cut in chunks of `len` (the last may be shorter): in parallel with the `rayon`
/// feature (native), in order otherwise (the page has one thread).
pub(crate) fn planes(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) {
    if len == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
    #[cfg(not(feature = "rayon"))]
    out.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
}

/// [`planes`] with a scratch buffer per thread, reused across the chunks it runs and from call
/// to call (so a kernel's per-plane scratch is allocated once per thread, not once per plane).
fn planes_with(out: &mut [f32], len: usize, f: impl Fn(&mut Vec<f32>, usize, &mut [f32]) + Send + Sync) {
    if len == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(i, c)| with_scratch(|scratch| f(scratch, i, c)));
    }
    #[cfg(not(feature = "rayon"))]
    with_scratch(|scratch| out.chunks_mut(len).enumerate().for_each(|(i, c)| f(scratch, i, c)));
}

/// [`planes_with`] over a new output of `total` values: each chunk is zeroed by the thread
/// that then computes it. A zero-filled `vec!` was a serial pass over every output before
/// the parallel work began (`perf`: 6% of a forward pass's main thread).
fn planes_new(total: usize, len: usize, f: impl Fn(&mut Vec<f32>, usize, &mut [f32]) + Send + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(total);
    let spare = &mut out.spare_capacity_mut()[..total];
    let run = |scratch: &mut Vec<f32>, i: usize, chunk: &mut [std::mem::MaybeUninit<f32>]| {
        for v in chunk.iter_mut() {
            v.write(0.0);
        }
        // SAFETY: every value of `chunk` was written just above.
        let chunk = unsafe { std::slice::from_raw_parts_mut(chunk.as_mut_ptr().cast::<f32>(), chunk.len()) };
        f(scratch, i, chunk);
    };
    if len > 0 {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            spare.par_chunks_mut(len).enumerate().for_each(|(i, c)| with_scratch(|scratch| run(scratch, i, c)));
        }
        #[cfg(not(feature = "rayon"))]
        with_scratch(|scratch| spare.chunks_mut(len).enumerate().for_each(|(i, c)| run(scratch, i, c)));
    }
    assert!(len > 0 || total == 0, "chunks of no values");
    // SAFETY: the chunks cover all `total` values, and each was written above.
    unsafe { out.set_len(total) };
    out
}

/// Threads an op of one image is cut among, one band of its output rows each ([`bands`]):
/// the pool's threads with the `rayon` feature (native), one otherwise.
pub(crate) fn threads() -> usize {
    #[cfg(feature = "rayon")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "rayon"))]
    1
}

/// Band `t` of `bands` of `len` rows (or pixels): the same cut for every op of a size, so that
/// thread `t`'s band of one layer's output is the band of the next layer's input it reads.
pub(crate) fn band(len: usize, t: usize, bands: usize) -> std::ops::Range<usize> {
    len * t / bands..len * (t + 1) / bands
}

/// Runs `f` on each of `parts`, part `t` on thread `t` of the pool when there is one part per
/// thread (in parallel otherwise). A layer of one image is cut into bands of its rows, the
/// same band on the same thread from layer to layer, so that each thread reads what it wrote
/// itself: with rayon's work stealing, the thread that took a piece changed from op to op, and
/// a layer read half its input from the other core's cache (`bench --profile`: the 1x1
/// projections after a depthwise layer were slower on two threads than on one).
pub(crate) fn on_threads<T: Send>(parts: Vec<T>, f: impl Fn(T) + Send + Sync) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        if parts.len() > 1 && parts.len() == rayon::current_num_threads() {
            use std::sync::{Mutex, PoisonError};
            let slots: Vec<Mutex<Option<T>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
            rayon::broadcast(|ctx| {
                let part = slots[ctx.index()].lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some(part) = part {
                    f(part);
                }
            });
        } else {
            parts.into_par_iter().for_each(f);
        }
    }
    #[cfg(not(feature = "rayon"))]
    parts.into_iter().for_each(f);
}

/// A new output of `planes` planes of `rows` rows of `width` (one image), computed in
/// [`band`]s of rows on [`on_threads`]: `f(plane, rows, piece, scratch)` computes the band's
/// rows of each plane into `piece` (zeroed just before by the thread that computes it).
pub(crate) fn bands_new(
    planes: usize,
    [rows, width]: [usize; 2],
    f: impl Fn(usize, std::ops::Range<usize>, &mut [f32], &mut Vec<f32>) + Send + Sync,
) -> Vec<f32> {
    use std::mem::MaybeUninit;
    let (len, bands) = (rows * width, threads());
    let total = planes * len;
    let mut out: Vec<f32> = Vec::with_capacity(total);
    let spare = &mut out.spare_capacity_mut()[..total];
    // Per band: its rows, and those rows of every plane.
    type Band<'a> = (std::ops::Range<usize>, Vec<&'a mut [MaybeUninit<f32>]>);
    let mut parts: Vec<Band> = (0..bands).map(|t| (band(rows, t, bands), Vec::with_capacity(planes))).collect();
    if len > 0 {
        for plane in spare.chunks_mut(len) {
            let mut rest = plane;
            for (r, pieces) in parts.iter_mut() {
                let (piece, tail) = rest.split_at_mut(r.len() * width);
                pieces.push(piece);
                rest = tail;
            }
        }
    }
    on_threads(parts, |(r, pieces)| {
        with_scratch(|scratch| {
            for (p, piece) in pieces.into_iter().enumerate() {
                for v in piece.iter_mut() {
                    v.write(0.0);
                }
                // SAFETY: every value of `piece` was written just above.
                let piece = unsafe { std::slice::from_raw_parts_mut(piece.as_mut_ptr().cast::<f32>(), piece.len()) };
                f(p, r.clone(), piece, scratch);
            }
        });
    });
    // SAFETY: the bands cover every row of every plane, and each piece was written above.
    unsafe { out.set_len(total) };
    out
}

/// Runs `f` on pools of 1, 2 and 3 threads (with `rayon`; once otherwise): the bands of an
/// image's rows are cut by the pool's size, unevenly for 3.
#[cfg(test)]
pub(crate) fn on_pools(f: impl Fn() + Send + Sync) {
    #[cfg(feature = "rayon")]
    for threads in 1..=3 {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a test pool").install(&f);
    }
    #[cfg(not(feature = "rayon"))]
    f();
}

/// Runs `f` with this thread's scratch buffer, kept from call to call: rayon's
/// `for_each_init` made one per piece of work it split off, each a fresh allocation, which
/// cost the small depthwise layers more than their second thread gained.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    with_kept(&SCRATCH, f)
}

/// Runs `f` with this thread's buffer of indices, kept from call to call as [`with_scratch`]'s
/// buffer is.
fn with_indices<R>(f: impl FnOnce(&mut Vec<usize>) -> R) -> R {
    thread_local! {
        static INDICES: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    with_kept(&INDICES, f)
}

/// Runs `f` with the buffer `kept` holds for this thread.
fn with_kept<T, R>(kept: &'static std::thread::LocalKey<std::cell::RefCell<Vec<T>>>, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
    kept.with(|s| match s.try_borrow_mut() {
        Ok(mut buffer) => f(&mut buffer),
        // A kernel run inside another's task on this thread: a buffer of its own.
        Err(_) => f(&mut Vec::new()),
    })
}

/// The convolutions the kernels take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// One kernel per channel (`groups` = channels), any size, stride and padding.
    Depthwise(Geometry),
    /// 1x1, stride 1, no padding, one group: a matrix product per image.
    Pointwise,
    /// One group of few input channels (a network's first layer), any size, stride and
    /// padding, computed directly (see [`Conv::direct`]); its gradients are burn's.
    Direct(Geometry),
}

impl Conv {
    /// burn's options for the same convolution (`channels`: the output's).
    fn options(&self, channels: usize) -> ConvOptions<2> {
        match self {
            Conv::Depthwise(g) => ConvOptions::new_with_padding(g.stride, g.padding.map(|[a, b]| (a, b)), [1, 1], channels),
            Conv::Pointwise => ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            Conv::Direct(g) => ConvOptions::new_with_padding(g.stride, g.padding.map(|[a, b]| (a, b)), [1, 1], 1),
        }
    }

    /// The direct convolution for `c` input channels, where it is the faster choice (see
    /// `direct::suits`).
    pub fn direct(c: usize, g: Geometry) -> Option<Conv> {
        direct::suits(c, g.kernel).then_some(Conv::Direct(g))
    }
}

/// The ops, dispatched by burn to the backend a tensor lives on.
#[backend_extension(Flex, Autodiff)]
pub trait KernelOps: Backend {
    /// The convolution: `x` `[n, c, h, w]`, `weight` `[o, c / groups, kh, kw]`, `bias` `[o]`
    /// (zeros for none: the macro takes no optional tensor), then the clamp.
    fn conv(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, conv: Conv, clamp: Option<Clamp>) -> FloatTensor<Self>;
    /// Its gradient with respect to `x` (of size `input`), from `grad` (already through the clamp).
    fn conv_x_backward(weight: FloatTensor<Self>, grad: FloatTensor<Self>, conv: Conv, input: [usize; 2]) -> FloatTensor<Self>;
    /// Its gradient with respect to the weight.
    fn conv_weight_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, conv: Conv) -> FloatTensor<Self>;
    /// Its gradient with respect to the bias.
    fn conv_bias_backward(grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x` clamped to `[min, max]`.
    fn clamp(x: FloatTensor<Self>, clamp: Clamp) -> FloatTensor<Self>;
    /// `grad` where the clamp's `output` is strictly inside its bounds, zero elsewhere.
    fn clamp_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, clamp: Clamp) -> FloatTensor<Self>;
}

/// A convolution the kernels take, then `clamp`; burn's ops where the kernels do not run.
///
/// # Shapes
/// `x`: `[n, c, h, w]`, `weight`: `[o, c / groups, kh, kw]`, `bias`: `[o]`; returns
/// `[n, o, oh, ow]`
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, conv: Conv, clamp: Option<Clamp>) -> Tensor<4> {
    let channels = weight.dims()[0];
    if !runs_on(&x) {
        let y = burn::tensor::module::conv2d(x, weight, bias, conv.options(channels));
        return match clamp {
            Some(c) => y.clamp_min(c.min).clamp_max(c.max),
            None => y,
        };
    }
    let bias = bias.unwrap_or_else(|| Tensor::zeros([channels], &x.device().without_autodiff()));
    Tensor::from_dispatch(<burn::backend::Dispatch as KernelOps>::conv(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), conv, clamp))
}

/// `x` clamped to `[min, max]`; under autodiff its backward is one pass over the output.
pub fn clamp<const D: usize>(x: Tensor<D>, clamp: Clamp) -> Tensor<D> {
    if !runs_on(&x) {
        return x.clamp_min(clamp.min).clamp_max(clamp.max);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as KernelOps>::clamp(x.into_dispatch(), clamp))
}

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the kernels off (burn's ops everywhere) or back on: for benchmarks that compare both
/// in one run (`convscope bench` reads `CONVSCOPE_KERNELS=burn`).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the kernels are on (see [`enable`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the kernels take `x`: flex (with or without autodiff), `f32`. On anything else the
/// functions above compose burn's ops instead.
pub fn runs_on<const D: usize>(x: &Tensor<D>) -> bool {
    enabled() && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_)) && x.dtype() == DType::F32
}

/// The `f32` values of a flex tensor, in order.
pub(crate) fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => s.into(),
        None => t.to_contiguous().as_slice::<f32>().expect("the kernels take f32 tensors only").to_vec().into(),
    }
}

/// Elements per task of the elementwise kernels.
const ELEMENTWISE: usize = 1 << 14;

fn dims4(t: &FlexTensor) -> [usize; 4] {
    t.layout().shape().dims::<4>()
}

pub(crate) fn tensor(data: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

impl KernelOps for Flex {
    fn conv(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, conv: Conv, clamp: Option<Clamp>) -> FlexTensor {
        let [n, c, h, w] = dims4(&x);
        match conv {
            Conv::Depthwise(g) => {
                let [oh, ow] = g.output([h, w]).expect("the graph checks that the kernel fits");
                let out = depthwise::forward(&values(&x), &values(&weight), Some(&values(&bias)), Planes { n, c, input: [h, w] }, &g, clamp);
                tensor(out, [n, c, oh, ow])
            }
            Conv::Direct(g) => {
                let o = dims4(&weight)[0];
                let [oh, ow] = g.output([h, w]).expect("the graph checks that the kernel fits");
                let out = direct::forward(&values(&x), &values(&weight), Some(&values(&bias)), direct::Shape { n, c, o, input: [h, w] }, &g, clamp);
                tensor(out, [n, o, oh, ow])
            }
            Conv::Pointwise => {
                let o = dims4(&weight)[0];
                let s = pointwise::Shape { n, c, o, hw: h * w };
                tensor(pointwise::forward(&values(&x), &values(&weight), &values(&bias), s, clamp), [n, o, h, w])
            }
        }
    }

    fn conv_x_backward(weight: FlexTensor, grad: FlexTensor, conv: Conv, input: [usize; 2]) -> FlexTensor {
        let [n, o, gh, gw] = dims4(&grad);
        match conv {
            Conv::Depthwise(g) => {
                let dx = depthwise::input_grad(&values(&grad), &values(&weight), Planes { n, c: o, input }, &g);
                tensor(dx, [n, o, input[0], input[1]])
            }
            Conv::Direct(_) => {
                // burn's transposed convolution; it reads only the input's shape.
                let c = dims4(&weight)[1];
                let x = Flex::float_zeros(Shape::new([n, c, input[0], input[1]]), &Default::default(), DType::F32.into());
                Flex::conv2d_x_backward(x, weight, grad, conv.options(o))
            }
            Conv::Pointwise => {
                let c = dims4(&weight)[1];
                let s = pointwise::Shape { n, c, o, hw: gh * gw };
                tensor(pointwise::input_grad(&values(&grad), &values(&weight), s), [n, c, gh, gw])
            }
        }
    }

    fn conv_weight_backward(x: FlexTensor, grad: FlexTensor, conv: Conv) -> FlexTensor {
        let [n, c, h, w] = dims4(&x);
        match conv {
            Conv::Depthwise(g) => {
                let dw = depthwise::weight_grad(&values(&x), &values(&grad), Planes { n, c, input: [h, w] }, &g);
                tensor(dw, [c, 1, g.kernel[0], g.kernel[1]])
            }
            Conv::Direct(g) => {
                // burn's; it reads only the weight's shape.
                let o = dims4(&grad)[1];
                let weight = Flex::float_zeros(Shape::new([o, c, g.kernel[0], g.kernel[1]]), &Default::default(), DType::F32.into());
                Flex::conv2d_weight_backward(x, weight, grad, conv.options(o))
            }
            Conv::Pointwise => {
                let o = dims4(&grad)[1];
                // Σ over images of [o, hw] x [hw, c]
                let xt = Flex::float_swap_dims(Flex::float_reshape(x, Shape::new([n, c, h * w])), 1, 2);
                let dw = Flex::float_matmul(Flex::float_reshape(grad, Shape::new([n, o, h * w])), xt);
                Flex::float_reshape(Flex::float_sum_dim(dw, 0), Shape::new([o, c, 1, 1]))
            }
        }
    }

    fn conv_bias_backward(grad: FlexTensor) -> FlexTensor {
        let [n, c, _, _] = dims4(&grad);
        tensor(depthwise::bias_grad(&values(&grad), n, c), [c])
    }

    fn clamp(x: FlexTensor, c: Clamp) -> FlexTensor {
        let x_values = values(&x);
        let mut out = vec![0.0; x_values.len()];
        planes(&mut out, ELEMENTWISE, |i, o| {
            for (d, &v) in o.iter_mut().zip(&x_values[i * ELEMENTWISE..]) {
                *d = clamp_value(v, c.min, c.max);
            }
        });
        tensor(out, x.layout().shape().clone())
    }

    fn clamp_backward(output: FlexTensor, mut grad: FlexTensor, c: Clamp) -> FlexTensor {
        let y = values(&output);
        let mask = |at: usize, d: &mut [f32]| {
            let y = &y[at..at + d.len()];
            for (d, &y) in d.iter_mut().zip(y) {
                // `&`, not `&&`: no branch, so the loop is vectorized (a select per lane).
                let inside = (y > c.min) & (y < c.max);
                *d = if inside { *d } else { 0.0 };
            }
        };
        // In place when this op holds the gradient alone (a node's gradient, consumed, does):
        // no new buffer, one pass.
        if grad.is_contiguous() && grad.layout().start_offset() == 0 {
            let len = grad.layout().num_elements();
            if let Some(g) = grad.try_storage_mut::<f32>() {
                assert_eq!(len, y.len(), "the gradient and the output differ in size");
                planes(&mut g[..len], ELEMENTWISE, |i, d| mask(i * ELEMENTWISE, d));
                return grad;
            }
        }
        let mut out = values(&grad).into_owned();
        planes(&mut out, ELEMENTWISE, |i, d| mask(i * ELEMENTWISE, d));
        tensor(out, grad.layout().shape().clone())
    }
}

/// What a convolution's backward step keeps: the input only when the weight is tracked, the
/// output only when there is a clamp to undo.
#[derive(Debug, Clone)]
struct ConvState<T> {
    x: Option<T>,
    weight: T,
    output: Option<T>,
    conv: Conv,
    clamp: Option<Clamp>,
    input: [usize; 2],
}

#[derive(Debug)]
struct ConvBackward;

impl<B: Backend + KernelOps> Backward<B, 3> for ConvBackward {
    type State = ConvState<FloatTensor<B>>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let mut grad = grads.consume::<B>(&ops.node);
        if let (Some(c), Some(y)) = (s.clamp, s.output) {
            grad = B::clamp_backward(y, grad, c);
        }
        let [x_node, w_node, b_node] = ops.parents;
        if let Some(node) = b_node {
            grads.register::<B>(node.id, B::conv_bias_backward(grad.clone()));
        }
        if let (Some(node), Some(x)) = (w_node, s.x) {
            grads.register::<B>(node.id, B::conv_weight_backward(x, grad.clone(), s.conv));
        }
        if let Some(node) = x_node {
            grads.register::<B>(node.id, B::conv_x_backward(s.weight, grad, s.conv, s.input));
        }
    }
}

#[derive(Debug)]
struct ClampBackward;

impl<B: Backend + KernelOps> Backward<B, 1> for ClampBackward {
    type State = (FloatTensor<B>, Clamp);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            let (y, c) = ops.state;
            grads.register::<B>(node.id, B::clamp_backward(y, grad, c));
        }
    }
}

type Ad<B> = FloatTensor<Autodiff<B>>;

fn conv_tracked<B: Backend + KernelOps, C: CheckpointStrategy>(x: Ad<B>, weight: Ad<B>, bias: Ad<B>, conv: Conv, clamp: Option<Clamp>) -> Ad<B> {
    let nodes: [NodeGuard; 3] = [x.node(), weight.node(), bias.node()];
    let [_, _, h, w] = x.primitive().shape().dims::<4>();
    let keep_x = weight.is_tracked();
    match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let x = x.into_primitive();
            let weight = weight.into_primitive();
            let out = B::conv(x.clone(), weight.clone(), bias.into_primitive(), conv, clamp);
            let state = ConvState { x: keep_x.then_some(x), weight, output: clamp.map(|_| out.clone()), conv, clamp, input: [h, w] };
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::conv(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), conv, clamp)),
    }
}

impl<B: Backend + KernelOps, C: CheckpointStrategy> KernelOps for Autodiff<B, C> {
    fn conv(x: Ad<B>, weight: Ad<B>, bias: Ad<B>, conv: Conv, clamp: Option<Clamp>) -> Ad<B> {
        conv_tracked::<B, C>(x, weight, bias, conv, clamp)
    }

    fn conv_x_backward(weight: Ad<B>, grad: Ad<B>, conv: Conv, input: [usize; 2]) -> Ad<B> {
        // Second-order gradients are not needed: the result is a constant.
        Ad::<B>::new(B::conv_x_backward(weight.into_primitive(), grad.into_primitive(), conv, input))
    }

    fn conv_weight_backward(x: Ad<B>, grad: Ad<B>, conv: Conv) -> Ad<B> {
        Ad::<B>::new(B::conv_weight_backward(x.into_primitive(), grad.into_primitive(), conv))
    }

    fn conv_bias_backward(grad: Ad<B>) -> Ad<B> {
        Ad::<B>::new(B::conv_bias_backward(grad.into_primitive()))
    }

    fn clamp(x: Ad<B>, c: Clamp) -> Ad<B> {
        match ClampBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::clamp(x.into_primitive(), c);
                prep.finish((out.clone(), c), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::clamp(x.into_primitive(), c)),
        }
    }

    fn clamp_backward(output: Ad<B>, grad: Ad<B>, c: Clamp) -> Ad<B> {
        Ad::<B>::new(B::clamp_backward(output.into_primitive(), grad.into_primitive(), c))
    }
}
