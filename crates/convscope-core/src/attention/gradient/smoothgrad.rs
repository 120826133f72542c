//! SmoothGrad: Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017, Eq. 3:
//! the gradient averaged over `n` copies of the image with Gaussian noise of standard
//! deviation `sigma * (max - min)` of the input, then `max_c |.|` per pixel.

use burn::tensor::{Tensor, TensorData};

use super::max_abs_channel;
use crate::{
    Result,
    attention::{Cost, Explain, Method, MethodInfo, Options, Resolution},
    rng::Rng,
};

/// SmoothGrad.
pub struct SmoothGrad;

impl Method for SmoothGrad {
    fn info(&self) -> MethodInfo {
        MethodInfo { id: "smoothgrad", name: "SmoothGrad", paper: "Smilkov et al. 2017, Eq. 3: mean of gradients under noise", resolution: Resolution::Input }
    }

    fn cost(&self, o: &Options, _: [usize; 2]) -> Cost {
        Cost { backward: o.samples, ..Cost::default() }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let [_, c, h, w] = x.input.dims();
        let n = x.options.samples.max(1);
        let range = x.input.clone().max() - x.input.clone().min();
        let sigma = range.reshape([1, 1, 1, 1]) * x.options.noise;
        let noise = Tensor::<4>::from_data(TensorData::new(Rng::new(x.options.seed).normals(n * c * h * w), [n, c, h, w]), &x.input.device());
        let noisy = x.input.clone() + noise * sigma;
        let mean = x.input_gradients(noisy)?.mean_dim(0);
        Ok(max_abs_channel(mean))
    }
}
