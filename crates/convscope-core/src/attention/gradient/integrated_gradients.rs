//! Integrated Gradients: Sundararajan et al., "Axiomatic Attribution for Deep Networks",
//! ICML 2017, Eq. 1 approximated by the midpoint rule (Sec. 5): with the baseline
//! `x' = 0` (the mean image in normalised input space),
//! `IG_i = (x_i - x'_i) * 1/m sum_k dF/dx_i (x' + (k - 1/2)/m (x - x'))`.
//! Completeness (`sum_i IG_i = F(x) - F(x')`) holds up to the quadrature error, which
//! shrinks as `m` grows. The map is `|sum_c IG_c|` per pixel.

use burn::tensor::{Tensor, TensorData};

use crate::{
    Result,
    attention::{Cost, Explain, Method, MethodInfo, Options, Resolution},
};

/// Integrated Gradients.
pub struct IntegratedGradients;

/// The attributions `IG`, `[1, C, H, W]`, with `steps` points on the path from 0 to the input.
pub fn attributions(x: &Explain<'_>, steps: usize) -> Result<Tensor<4>> {
    let m = steps.max(1);
    let alphas: Vec<f32> = (0..m).map(|k| (k as f32 + 0.5) / m as f32).collect();
    let alphas = Tensor::<4>::from_data(TensorData::new(alphas, [m, 1, 1, 1]), &x.input.device());
    let path = x.input.clone() * alphas;
    let mean = x.input_gradients(path)?.mean_dim(0);
    Ok(x.input.clone() * mean)
}

impl Method for IntegratedGradients {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "integrated-gradients",
            name: "Integrated Gradients",
            paper: "Sundararajan et al. 2017, Eq. 1 (midpoint rule, baseline 0): |sum_c IG_c|",
            resolution: Resolution::Input,
        }
    }

    fn cost(&self, o: &Options, _: [usize; 2]) -> Cost {
        Cost { backward: o.steps, ..Cost::default() }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let ig = attributions(x, x.options.steps)?;
        let [_, _, h, w] = ig.dims();
        Ok(ig.sum_dim(1).reshape([h, w]).abs())
    }
}
