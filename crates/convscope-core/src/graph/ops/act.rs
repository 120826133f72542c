//! Elementwise activations (`act`), and how a rectifier's gradient can be redirected for
//! feature visualisation.

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, arity, one};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    kernels::{self, Clamp},
    tensor_data::HostTensor,
};

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
    /// x * Φ(x), with erf (exact) or with tanh (approximate)
    Gelu {
        /// The tanh approximation.
        #[serde(default)]
        tanh: bool,
    },
    /// x if x > 0 else alpha * (e^x - 1)
    Elu {
        /// Scale of the negative part.
        alpha: f32,
    },
    /// gamma * (x if x > 0 else alpha * (e^x - 1))
    Selu {
        /// Scale of the negative part.
        alpha: f32,
        /// Scale of the whole.
        gamma: f32,
    },
    /// ln(1 + e^x)
    Softplus,
    /// e^x
    Exp,
    /// √x
    Sqrt,
    /// -x
    Neg,
    /// |x|
    Abs,
    /// erf(x)
    Erf,
    /// 1 / x
    Reciprocal,
    /// ln(x)
    Log,
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
            Activation::Gelu { .. } => "gelu",
            Activation::Elu { .. } => "elu",
            Activation::Selu { .. } => "selu",
            Activation::Softplus => "softplus",
            Activation::Exp => "exp",
            Activation::Sqrt => "sqrt",
            Activation::Neg => "neg",
            Activation::Abs => "abs",
            Activation::Erf => "erf",
            Activation::Reciprocal => "reciprocal",
            Activation::Log => "log",
        }
    }

    /// A rectifier's cap (ReLU's is infinite): where a redirected gradient stops passing.
    /// `None` for every other function, whose gradient is never redirected.
    pub fn cap(&self) -> Option<f32> {
        match self {
            Activation::Relu => Some(f32::INFINITY),
            Activation::Relu6 => Some(6.0),
            Activation::Clip { max, .. } => Some(*max),
            _ => None,
        }
    }

    /// The bounds, for the activations that are a clamp (ReLU, ReLU6, clip).
    pub fn clamp(&self) -> Option<Clamp> {
        match *self {
            Activation::Relu => Some(Clamp { min: 0.0, max: f32::INFINITY }),
            Activation::Relu6 => Some(Clamp { min: 0.0, max: 6.0 }),
            Activation::Clip { min, max } => Some(Clamp { min, max }),
            _ => None,
        }
    }

    /// Its values have their floor at 0 (ReLU, ReLU6, a clip from 0): a unit at 0 is off.
    pub fn rectified(&self) -> bool {
        match self {
            Activation::Relu | Activation::Relu6 => true,
            Activation::Clip { min, max } => *min == 0.0 && *max > 0.0,
            _ => false,
        }
    }
}

/// Elementwise activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Act(pub Activation);

impl OpDef for Act {
    fn kind(&self) -> String {
        self.0.name().into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Same
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        arity(ins, 1)?;
        Ok(ins[0].clone())
    }

    fn props(&self) -> LayerProps {
        LayerProps { rectified: self.0.rectified(), ..LayerProps::default() }
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        Rc::new(self.clone())
    }
}

impl Kernel for Act {
    fn apply(&self, mut inputs: Vec<Value>, redirect: Redirect) -> Result<Value> {
        let a = self.0;
        Ok(one(&mut inputs)?.map(|t| redirected_spatial(t, a, redirect), |t| redirected_flat(t, a, redirect)))
    }
}

/// Apply an activation to a tensor of any rank.
pub fn apply_activation<const D: usize>(x: Tensor<D>, act: Activation) -> Tensor<D> {
    match act {
        // convscope's own kernel where it runs: one pass, and one backward pass.
        Activation::Relu | Activation::Relu6 | Activation::Clip { .. } if kernels::runs_on(&x) => kernels::clamp(x, act.clamp().expect("a clamp")),
        Activation::Relu => activation::relu(x),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        // ONNX: min(max(x, min), max), so everything is `max` when min > max.
        Activation::Clip { min, max } => x.clamp_min(min).clamp_max(max),
        Activation::LeakyRelu { alpha } => activation::leaky_relu(x, alpha as f64),
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::HardSigmoid { alpha, beta } => (x * alpha + beta).clamp(0.0, 1.0),
        Activation::HardSwish => x.clone() * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Activation::Tanh => tanh(x),
        Activation::Silu => activation::silu(x),
        Activation::Gelu { tanh: false } => x.clone() * ((x / std::f32::consts::SQRT_2).erf() + 1.0) * 0.5,
        Activation::Gelu { tanh: true } => {
            let cube = x.clone() * x.clone() * x.clone();
            let inner = (x.clone() + cube * 0.044715) * (2.0f32 / std::f32::consts::PI).sqrt();
            x * (inner.tanh() + 1.0) * 0.5
        }
        Activation::Elu { alpha } => elu(x, alpha),
        Activation::Selu { alpha, gamma } => elu(x, alpha) * gamma,
        // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), without overflow.
        Activation::Softplus => activation::relu(x.clone()) + x.abs().neg().exp().log1p(),
        Activation::Exp => x.exp(),
        Activation::Sqrt => x.sqrt(),
        Activation::Neg => x.neg(),
        Activation::Abs => x.abs(),
        Activation::Erf => x.erf(),
        Activation::Reciprocal => x.recip(),
        Activation::Log => x.log(),
    }
}

/// tanh, exact near 0 on every device: WGSL's tanh loses the small values to cancellation
/// (about 1e-3 relative at 1e-4), so below 1e-2 it is the series x - x^3 / 3 (next term
/// 2x^5 / 15, under 2e-9 relative there).
fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let small = x.clone().abs().lower_elem(1e-2);
    let series = x.clone() - x.clone() * x.clone() * x.clone() / 3.0;
    x.tanh().mask_where(small, series)
}

fn elu<const D: usize>(x: Tensor<D>, alpha: f32) -> Tensor<D> {
    let negative = (x.clone().clamp_max(0.0).exp() - 1.0) * alpha;
    activation::relu(x) + negative
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

/// A spatial activation with its gradient redirected as `redirect` says (only rectifiers',
/// [`Activation::cap`]; every other function keeps its own gradient).
///
/// # Shapes
/// `x`: `[batch, C, H, W]`; returns the same
pub fn redirected_spatial(x: Tensor<4>, act: Activation, redirect: Redirect) -> Tensor<4> {
    let Some(cap) = act.cap() else { return apply_activation(x, act) };
    match redirect {
        Redirect::Off => apply_activation(x, act),
        Redirect::All if cap == f32::INFINITY => apply_activation(x.clone(), act).detach() + x.clone() - x.detach(),
        Redirect::All => {
            let below = x.clone().lower_equal_elem(cap).float().detach();
            apply_activation(x.clone(), act).detach() + (x.clone() - x.detach()) * below
        }
        Redirect::Dead => {
            let dead = x.clone().max_dim(3).max_dim(2).lower_equal_elem(0.0).float().detach();
            // Above a cap the objective still wants more: optimize the pre-activation there
            // (Lucid's `_pre_relu` layers), or every unit freezes once it reaches the cap.
            let pass = if cap == f32::INFINITY {
                dead
            } else {
                let over = x.clone().greater_elem(cap).float().detach();
                (over + dead).clamp_max(1.0)
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
        // Smooth activations keep their own gradient, whatever the redirect.
        for act in [Activation::Tanh, Activation::LeakyRelu { alpha: 0.1 }, Activation::Gelu { tanh: false }, Activation::Elu { alpha: 1.0 }] {
            for r in [Redirect::All, Redirect::Dead] {
                assert_eq!(grad(r, act).1, grad(Redirect::Off, act).1, "{act:?}");
            }
        }
    }

    #[test]
    fn only_rectifiers_from_zero_are_rectified() {
        assert!(Activation::Relu.rectified() && Activation::Relu6.rectified());
        assert!(Activation::Clip { min: 0.0, max: 6.0 }.rectified());
        assert!(!Activation::Clip { min: -1.0, max: 1.0 }.rectified());
        assert!(!Activation::LeakyRelu { alpha: 0.1 }.rectified());
        assert!(!Activation::HardSwish.rectified() && !Activation::Gelu { tanh: false }.rectified());
    }

    #[test]
    fn smooth_functions_match_their_formulas() {
        let d = Device::flex();
        let xs = [-3.0f32, -0.5, 0.0, 0.7, 4.0];
        let x = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [5]), &d);
        let run = |a| apply_activation(x.clone(), a).into_data().try_to_vec::<f32>().unwrap();
        // GELU(x) = x Φ(x); Φ from the erf of a known table: Φ(-3) = 0.0013499, Φ(0.7) = 0.7580363.
        let g = run(Activation::Gelu { tanh: false });
        assert!((g[0] - -3.0 * 0.001_349_9).abs() < 1e-5 && (g[3] - 0.7 * 0.758_036_3).abs() < 1e-5, "{g:?}");
        let sp = run(Activation::Softplus);
        for (v, x) in sp.iter().zip(xs) {
            assert!((v - (1.0 + x.exp()).ln()).abs() < 1e-5, "softplus({x}) = {v}");
        }
        let e = run(Activation::Selu { alpha: 1.673_263_2, gamma: 1.050_701 });
        assert!((e[0] - 1.050_701 * 1.673_263_2 * ((-3.0f32).exp() - 1.0)).abs() < 1e-5 && (e[4] - 1.050_701 * 4.0).abs() < 1e-5, "{e:?}");
    }
}
