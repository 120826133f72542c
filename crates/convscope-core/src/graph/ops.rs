//! Ops with their weights on a device, and how each one runs.

use burn::tensor::{
    Tensor, TensorData, activation,
    module::{avg_pool2d, conv_transpose2d, conv2d, linear, max_pool2d},
    ops::{AvgPoolOptions, ConvOptions, ConvTransposeOptions, MaxPoolOptions},
};

use super::{Activation, ArithOp, PadMode, Value};
use crate::{Error, Result};

/// An op ready to run: weights live on the device.
#[derive(Debug, Clone)]
pub enum Op {
    /// 2-D convolution; `weight` is `[out, in / groups, kh, kw]`.
    Conv2d {
        /// Kernel.
        weight: Tensor<4>,
        /// Bias, `[out]`.
        bias: Option<Tensor<1>>,
        /// Stride, padding, dilation, groups.
        options: ConvOptions<2>,
        /// Fused activation.
        act: Option<Activation>,
    },
    /// `x * scale + shift` per channel (inference batch norm); both `[1, C]`.
    Affine {
        /// Per-channel factor.
        scale: Tensor<2>,
        /// Per-channel offset.
        shift: Tensor<2>,
    },
    /// Elementwise activation.
    Act(Activation),
    /// Max pooling.
    MaxPool(MaxPoolOptions<2>),
    /// Average pooling.
    AvgPool(AvgPoolOptions<2>),
    /// Dilated average pooling: a depthwise convolution with ones, divided by how many of
    /// its taps fall on the input (or its padding, with `count_include_pad`).
    AvgPoolDilated {
        /// Window, stride, padding and what counts (`ceil_mode` is in `out`).
        options: AvgPoolOptions<2>,
        /// Dilation `[dh, dw]`.
        dilation: [usize; 2],
        /// Output height and width.
        out: [usize; 2],
    },
    /// 3-D pooling of `[C, D, H, W]` as a pooling of height and width, then one of depth.
    Pool3d {
        /// The pooling over height and width (`MaxPool` or `AvgPool`).
        hw: Box<Op>,
        /// The pooling over depth, of `[batch * C, 1, D, H * W]`.
        depth: Box<Op>,
        /// Input shape without batch.
        shape: Vec<usize>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// Spatial mean.
    GlobalAvgPool,
    /// Spatial max.
    GlobalMaxPool,
    /// Fully connected; `weight` is `[in, out]`.
    Linear {
        /// Weight, `[in, out]`.
        weight: Tensor<2>,
        /// Bias, `[out]`.
        bias: Option<Tensor<1>>,
    },
    /// Elementwise sum.
    Add,
    /// Elementwise product, broadcasting the second input.
    Mul,
    /// Concatenate channels.
    Concat,
    /// Flatten to `[batch, features]`.
    Flatten,
    /// Reshape to a shape without batch: `[C, H, W]` or `[F]`.
    Reshape(Vec<usize>),
    /// Softmax over features.
    Softmax,
    /// No-op.
    Identity,
    /// Constant padding of the 5-D form's axes 1..=4.
    Pad {
        /// `[before, after]` per axis of the 5-D form (the batch's first).
        pads: [[usize; 2]; 5],
        /// Input shape without batch.
        shape: Vec<usize>,
        /// The value padded with.
        value: f32,
        /// How the padding is filled.
        mode: PadMode,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// Elementwise arithmetic with broadcasting; the constant is `[1, a, b, c, d]` (aligned
    /// right).
    Arith {
        /// The operation.
        kind: ArithOp,
        /// Constant operand, or `None` for two inputs.
        constant: Option<Tensor<5>>,
        /// The constant is the left operand.
        constant_first: bool,
        /// Input shapes without batch.
        ins: Vec<Vec<usize>>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// Softmax along an axis of the `[batch, a, b, c, d]` form.
    SoftmaxAxis {
        /// Axis of the 5-D form.
        axis: usize,
        /// Input shape without batch.
        shape: Vec<usize>,
    },
    /// Axes permuted; `perm` is over the 5-D form.
    Transpose {
        /// Permutation of the 5-D form's axes.
        perm: [usize; 5],
        /// Input shape without batch.
        shape: Vec<usize>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// Concatenation along an axis of the 5-D form.
    ConcatAxis {
        /// Axis of the 5-D form.
        axis: usize,
        /// Input shapes without batch.
        ins: Vec<Vec<usize>>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// A constant `[1, ...]`, repeated over the batch.
    Constant {
        /// The value, flat.
        value: Tensor<2>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// Mean over axes of the 5-D form.
    Mean {
        /// Axes of the 5-D form.
        axes: Vec<usize>,
        /// Input shape without batch.
        shape: Vec<usize>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// Product of the last two axes with a constant `[1, a, b, K, N]`.
    MatMul {
        /// The right operand.
        weight: Tensor<5>,
        /// Input shape without batch.
        shape: Vec<usize>,
        /// Output shape without batch.
        out: Vec<usize>,
    },
    /// 2-D transposed convolution, cut to `size` from `begin` of the full result.
    ConvTranspose2d {
        /// Kernel `[in, out / groups, kh, kw]`.
        weight: Tensor<4>,
        /// Bias, `[out]`.
        bias: Option<Tensor<1>>,
        /// Stride, dilation, groups (no padding: the cut does it).
        options: ConvTransposeOptions<2>,
        /// First row and column kept.
        begin: [i64; 2],
        /// Output height and width.
        size: [usize; 2],
    },
}

fn arith<const D: usize>(kind: ArithOp, a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    match kind {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::DivTrunc => {
            let q = a / b;
            q.clone().sign() * q.abs().floor()
        }
    }
}

/// `n` slices to put before (`at_end` false) or after axis `axis` of `t`, as `mode` fills.
fn padding<const D: usize>(t: &Tensor<D>, axis: usize, n: usize, at_end: bool, mode: PadMode, value: f32) -> Tensor<D> {
    let len = t.dims()[axis];
    let slice = |i: usize| t.clone().narrow(axis, i, 1);
    match mode {
        PadMode::Constant => {
            let mut dims = t.dims();
            dims[axis] = n;
            Tensor::full(dims, value, &t.device())
        }
        PadMode::Edge => slice(if at_end { len - 1 } else { 0 }).repeat_dim(axis, n),
        PadMode::Wrap => t.clone().narrow(axis, if at_end { 0 } else { len - n }, n),
        PadMode::Reflect => {
            // Before: slices n, n-1, ..., 1; after: len-2, len-3, ..., len-1-n.
            let order: Vec<usize> = if at_end { (1..=n).map(|i| len - 1 - i).collect() } else { (1..=n).rev().collect() };
            Tensor::cat(order.into_iter().map(slice).collect(), axis)
        }
    }
}

/// Average pooling with dilated windows (see [`Op::AvgPoolDilated`]).
fn avg_pool_dilated(x: Tensor<4>, o: &AvgPoolOptions<2>, dilation: [usize; 2], out: [usize; 2]) -> Tensor<4> {
    let [_, c, h, w] = x.dims();
    let size = [h, w];
    let device = x.device();
    let mut canvas = x;
    let mut masks = vec![];
    for a in 0..2 {
        // Every window's taps lie in `len` cells from `before` cells ahead of the input.
        let len = (out[a] - 1) * o.stride[a] + dilation[a] * (o.kernel_size[a] - 1) + 1;
        let (before, after) = o.padding[a];
        canvas = cut(canvas, 2 + a, -(before as i64), len);
        let (lo, hi) = if o.count_include_pad { (0, before + size[a] + after) } else { (before, before + size[a]) };
        masks.push((0..len).map(|i| if (lo..hi).contains(&i) { 1.0f32 } else { 0.0 }).collect::<Vec<_>>());
    }
    let mask: Vec<f32> = masks[0].iter().flat_map(|r| masks[1].iter().map(move |q| r * q)).collect();
    let mask = Tensor::<4>::from_data(TensorData::new(mask, [1, 1, masks[0].len(), masks[1].len()]), &device);
    let [kh, kw] = o.kernel_size;
    let sum = conv2d(canvas, Tensor::ones([c, 1, kh, kw], &device), None, ConvOptions::new(o.stride, [0, 0], dilation, c));
    let count = conv2d(mask, Tensor::ones([1, 1, kh, kw], &device), None, ConvOptions::new(o.stride, [0, 0], dilation, 1));
    sum / count
}

/// `t` with `before` and `after` slices added around axis `axis`, as `mode` fills.
fn pad_axis<const D: usize>(t: Tensor<D>, axis: usize, [before, after]: [usize; 2], mode: PadMode, value: f32) -> Tensor<D> {
    if before == 0 && after == 0 {
        return t;
    }
    let (b, a) = ((before > 0).then(|| padding(&t, axis, before, false, mode, value)), (after > 0).then(|| padding(&t, axis, after, true, mode, value)));
    Tensor::cat(b.into_iter().chain([t]).chain(a).collect(), axis)
}

/// Rows `begin..begin + size` of axis `axis`, zeros outside the tensor.
fn cut(t: Tensor<4>, axis: usize, begin: i64, size: usize) -> Tensor<4> {
    let len = t.dims()[axis] as i64;
    let (before, after) = ((-begin).max(0) as usize, (begin + size as i64 - len).max(0) as usize);
    pad_axis(t, axis, [before, after], PadMode::Constant, 0.0).narrow(axis, begin.max(0) as usize, size)
}

/// Apply an activation to a tensor of any rank.
pub fn apply_activation<const D: usize>(x: Tensor<D>, act: Activation) -> Tensor<D> {
    match act {
        Activation::Relu => activation::relu(x),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        // ONNX: min(max(x, min), max), so everything is `max` when min > max.
        Activation::Clip { min, max } => x.clamp_min(min).clamp_max(max),
        Activation::LeakyRelu { alpha } => activation::leaky_relu(x, alpha as f64),
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::HardSigmoid { alpha, beta } => (x * alpha + beta).clamp(0.0, 1.0),
        Activation::HardSwish => x.clone() * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Activation::Tanh => x.tanh(),
        Activation::Silu => activation::silu(x),
    }
}

/// How a rectifier (ReLU, ReLU6, clip) passes gradients back, for feature visualisation.
/// The values are always the activation's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redirect {
    /// The activation's own gradient.
    #[default]
    Off,
    /// The identity up to the cap: every gradient passes below zero (`act(x)` with `x - x`
    /// added on the tape), and above a cap (ReLU6, clip) the activation's own (none): a unit
    /// held at its cap is already as large as it can be, and pushing it past the cap made
    /// deep layers' patterns collapse.
    All,
    /// The identity for the channels of an image where no position is above zero (a
    /// switched-off channel) and for units above a cap, the activation's own gradient
    /// elsewhere: a dead unit is pushed to switch on, a capped one to grow further, a live one
    /// is optimized as it is.
    Dead,
}

/// A spatial activation with its gradient redirected as `redirect` says.
///
/// # Shapes
/// `x`: `[batch, C, H, W]`; returns the same
pub fn redirected_spatial(x: Tensor<4>, act: Activation, redirect: Redirect) -> Tensor<4> {
    match (redirect, act) {
        (Redirect::Off, _) | (_, Activation::LeakyRelu { .. } | Activation::Sigmoid | Activation::HardSigmoid { .. } | Activation::HardSwish | Activation::Tanh | Activation::Silu) => apply_activation(x, act),
        (Redirect::All, Activation::Relu) => apply_activation(x.clone(), act).detach() + x.clone() - x.detach(),
        (Redirect::All, _) => {
            let cap = match act {
                Activation::Relu6 => 6.0,
                Activation::Clip { max, .. } => max,
                _ => unreachable!("smooth activations matched above"),
            };
            let below = x.clone().lower_equal_elem(cap).float().detach();
            apply_activation(x.clone(), act).detach() + (x.clone() - x.detach()) * below
        }
        (Redirect::Dead, _) => {
            let dead = x.clone().max_dim(3).max_dim(2).lower_equal_elem(0.0).float().detach();
            let pass = match act {
                // Above a cap the objective still wants more: optimize the pre-activation there
                // (Lucid's `_pre_relu` layers), or every unit freezes once it reaches the cap.
                Activation::Relu6 | Activation::Clip { .. } => {
                    let cap = if let Activation::Clip { max, .. } = act { max } else { 6.0 };
                    let over = x.clone().greater_elem(cap).float().detach();
                    (over + dead).clamp_max(1.0)
                }
                _ => dead,
            };
            apply_activation(x.clone(), act) + (x.clone() - x.detach()) * pass
        }
    }
}

/// A flat activation with its gradient redirected as `redirect` says (a feature is a
/// channel of one position).
///
/// # Shapes
/// `x`: `[batch, F]`; returns the same
pub fn redirected_flat(x: Tensor<2>, act: Activation, redirect: Redirect) -> Tensor<2> {
    let [b, f] = x.dims();
    redirected_spatial(x.reshape([b, f, 1, 1]), act, redirect).reshape([b, f])
}

impl Op {
    /// Run the op on its inputs (already checked for arity and shape at load time), its
    /// activation's gradient redirected as `redirect` says.
    pub fn apply(&self, mut inputs: Vec<Value>, redirect: Redirect) -> Result<Value> {
        let act_fn = |t, a| redirected_spatial(t, a, redirect);
        let act_fn2 = |t, a| redirected_flat(t, a, redirect);
        let mut one = || inputs.pop().ok_or_else(|| Error::InvalidGraph("missing input".into()));
        Ok(match self {
            Op::Conv2d { weight, bias, options, act } => {
                let x = one()?.spatial("conv2d")?;
                let y = conv2d(x, weight.clone(), bias.clone(), options.clone());
                Value::Spatial(match act {
                    Some(a) => act_fn(y, *a),
                    None => y,
                })
            }
            Op::Affine { scale, shift } => match one()? {
                Value::Spatial(x) => {
                    let [_, c] = scale.dims();
                    let s = scale.clone().reshape([1, c, 1, 1]);
                    let b = shift.clone().reshape([1, c, 1, 1]);
                    Value::Spatial(x * s + b)
                }
                Value::Flat(x) => Value::Flat(x * scale.clone() + shift.clone()),
            },
            Op::Act(a) => one()?.map(|t| act_fn(t, *a), |t| act_fn2(t, *a)),
            Op::MaxPool(o) => Value::Spatial(max_pool2d(one()?.spatial("max_pool2d")?, o.clone())),
            Op::AvgPool(o) => Value::Spatial(avg_pool2d(one()?.spatial("avg_pool2d")?, o.clone())),
            Op::AvgPoolDilated { options, dilation, out } => Value::Spatial(avg_pool_dilated(one()?.spatial("avg_pool2d")?, options, *dilation, *out)),
            Op::Pool3d { hw, depth, shape, out } => {
                let x = one()?.to5(shape);
                let [b, c, d, h, w] = x.dims();
                let y = hw.apply(vec![Value::Spatial(x.reshape([b, c * d, h, w]))], Redirect::Off)?.spatial("pool3d")?;
                let [_, _, h2, w2] = y.dims();
                let z = depth.apply(vec![Value::Spatial(y.reshape([b * c, 1, d, h2 * w2]))], Redirect::Off)?.spatial("pool3d")?;
                Value::from_rows(z.reshape([b as i64, -1]), out)
            }
            Op::GlobalAvgPool => {
                let x = one()?.spatial("global_avg_pool")?;
                let [n, c, _, _] = x.dims();
                Value::Flat(x.flatten::<3>(2, 3).mean_dim(2).reshape([n, c]))
            }
            Op::GlobalMaxPool => {
                let x = one()?.spatial("global_max_pool")?;
                let [n, c, _, _] = x.dims();
                Value::Flat(x.flatten::<3>(2, 3).max_dim(2).reshape([n, c]))
            }
            Op::Linear { weight, bias } => Value::Flat(linear(one()?.flat("linear")?, weight.clone(), bias.clone())),
            Op::Add | Op::Mul => {
                let b = one()?;
                let a = one()?;
                match (a, b) {
                    (Value::Spatial(a), Value::Spatial(b)) => {
                        Value::Spatial(if matches!(self, Op::Add) { a + b } else { a * b })
                    }
                    (Value::Flat(a), Value::Flat(b)) => Value::Flat(if matches!(self, Op::Add) { a + b } else { a * b }),
                    _ => return Err(Error::InvalidGraph("add/mul of feature maps and flat features".into())),
                }
            }
            Op::Concat => match inputs.first() {
                Some(Value::Spatial(_)) => Value::Spatial(Tensor::cat(
                    inputs.into_iter().map(|v| v.spatial("concat")).collect::<Result<_>>()?,
                    1,
                )),
                Some(Value::Flat(_)) => Value::Flat(Tensor::cat(
                    inputs.into_iter().map(|v| v.flat("concat")).collect::<Result<_>>()?,
                    1,
                )),
                None => return Err(Error::InvalidGraph("concat of nothing".into())),
            },
            Op::Flatten => Value::Flat(one()?.flatten()),
            Op::Reshape(shape) => {
                let x = one()?.flatten();
                let n = x.dims()[0];
                match shape.as_slice() {
                    [c, h, w] => Value::Spatial(x.reshape([n, *c, *h, *w])),
                    [f] => Value::Flat(x.reshape([n, *f])),
                    s if s.len() <= 4 => Value::from_rows(x, s),
                    _ => return Err(Error::InvalidGraph(format!("reshape to {shape:?}"))),
                }
            }
            Op::Pad { pads, value, mode, shape, out } => {
                let mut t = one()?.to5(shape);
                for (axis, pad) in pads.iter().enumerate() {
                    t = pad_axis(t, axis, *pad, *mode, *value);
                }
                Value::from5(t, out)
            }
            Op::Softmax => Value::Flat(activation::softmax(one()?.flat("softmax")?, 1)),
            Op::Identity => one()?,
            Op::Arith { kind, constant, constant_first, ins, out } => {
                let y = match constant {
                    Some(c) => {
                        let x = one()?.to5(&ins[0]);
                        if *constant_first { arith(*kind, c.clone(), x) } else { arith(*kind, x, c.clone()) }
                    }
                    None => {
                        let b = one()?.to5(&ins[1]);
                        let a = one()?.to5(&ins[0]);
                        arith(*kind, a, b)
                    }
                };
                Value::from5(y, out)
            }
            Op::SoftmaxAxis { axis, shape } => Value::from5(activation::softmax(one()?.to5(shape), *axis), shape),
            Op::Transpose { perm, shape, out } => Value::from5(one()?.to5(shape).permute(*perm), out),
            Op::ConcatAxis { axis, ins, out } => {
                // Constants are nodes repeated over the batch, so every part has the batch.
                let parts = inputs.into_iter().zip(ins).map(|(v, s)| v.to5(s)).collect();
                Value::from5(Tensor::cat(parts, *axis), out)
            }
            Op::Constant { value, out } => {
                let b = one()?.dims()[0];
                Value::from_rows(value.clone().repeat_dim(0, b), out)
            }
            Op::Mean { axes, shape, out } => {
                let mut t = one()?.to5(shape);
                for &a in axes {
                    t = t.mean_dim(a);
                }
                Value::from5(t, out)
            }
            Op::MatMul { weight, shape, out } => {
                let x = one()?.to5(shape);
                let [b, _, _, m, _] = x.dims();
                let [_, _, _, k, n] = weight.dims();
                // The leading axes broadcast to the output's.
                let mut lead = [1, 1];
                for (i, d) in out.iter().rev().skip(2).enumerate().take(2) {
                    lead[1 - i] = *d;
                }
                let x = x.expand([b, lead[0], lead[1], m, k]);
                Value::from5(x.matmul(weight.clone().expand([b, lead[0], lead[1], k, n])), out)
            }
            Op::ConvTranspose2d { weight, bias, options, begin, size } => {
                let x = one()?.spatial("conv_transpose2d")?;
                let y = conv_transpose2d(x, weight.clone(), None, options.clone());
                let y = cut(cut(y, 2, begin[0], size[0]), 3, begin[1], size[1]);
                Value::Spatial(match bias {
                    Some(b) => {
                        let o = b.dims()[0];
                        y + b.clone().reshape([1, o, 1, 1])
                    }
                    None => y,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn grad(redirect: Redirect, act: Activation) -> (Vec<f32>, Vec<f32>) {
        let d = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(vec![2.0f32, -1.0, 7.0, 0.5], [1, 2, 1, 2]), &d);
        let leaf = x.autodiff().require_grad();
        let y = redirected_spatial(leaf.clone(), act, redirect);
        let values = y.clone().into_data().try_to_vec::<f32>().unwrap();
        let grads = y.sum().backward();
        (values, leaf.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap())
    }

    #[test]
    fn redirect_keeps_values_and_passes_gradients_below_zero() {
        for act in [Activation::Relu, Activation::Relu6] {
            let want = if act == Activation::Relu { vec![2.0, 0.0, 7.0, 0.5] } else { vec![2.0, 0.0, 6.0, 0.5] };
            assert_eq!(grad(Redirect::Off, act).0, want);
            assert_eq!(grad(Redirect::All, act).0, want);
        }
        assert_eq!(grad(Redirect::All, Activation::Relu).1, vec![1.0; 4]);
        // Below zero the gradient passes; above the cap (7 > 6) it is the activation's own.
        assert_eq!(grad(Redirect::All, Activation::Relu6).1, vec![1.0, 1.0, 0.0, 1.0]);
        assert_eq!(grad(Redirect::Off, Activation::Relu6).1, vec![1.0, 0.0, 0.0, 1.0]);
        // Channel 0 is on at one position: its own gradient, and past the cap (7 > 6) the
        // pre-activation's. Channel 1 is on too (0.5).
        assert_eq!(grad(Redirect::Dead, Activation::Relu6).1, vec![1.0, 0.0, 1.0, 1.0]);
        let d = Device::flex();
        // Image 0: channel 0 on, channel 1 off everywhere; image 1: both off.
        let x = Tensor::<4>::from_data(TensorData::new(vec![2.0f32, -1.0, -3.0, -0.5, -2.0, -1.0, -4.0, 0.0], [2, 2, 1, 2]), &d);
        let leaf = x.autodiff().require_grad();
        let grads = redirected_spatial(leaf.clone(), Activation::Relu, Redirect::Dead).sum().backward();
        let g = leaf.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(g, vec![1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        // Smooth activations keep their own gradient.
        assert_eq!(grad(Redirect::All, Activation::Tanh).1, grad(Redirect::Off, Activation::Tanh).1);
    }
}
