//! Grad-CAM++: Chattopadhay et al., "Grad-CAM++: Improved Visual Explanations for Deep
//! Convolutional Networks", WACV 2018 (arXiv:1710.11063): the closed form of alpha for an
//! exponential output, as in the authors' code,
//! `alpha_k,ij = G^2 / (2 G^2 + sum_ab A_k,ab G^3)` (0 where `G = 0`),
//! `w_k = sum_ij alpha_k,ij ReLU(G_k,ij)`, `L = ReLU(sum_k w_k A_k)`.

use burn::tensor::{Tensor, activation::relu};

use super::{spatial_sum, weighted};
use crate::{
    Result,
    attention::{Explain, Method, MethodInfo, Resolution},
};

/// Grad-CAM++.
pub struct GradCamPlusPlus;

impl Method for GradCamPlusPlus {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "gradcam++",
            name: "Grad-CAM++",
            paper: "Chattopadhay et al. 2018 (arXiv:1710.11063): w_k = sum alpha ReLU(G), alpha = G^2 / (2G^2 + sum A G^3)",
            resolution: Resolution::Layer,
        }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let (a, g) = x.layer_gradient()?;
        let [k, _, _] = a.dims();
        let g2 = g.clone() * g.clone();
        let g3 = g2.clone() * g.clone();
        let sum_a = spatial_sum(a.clone()).reshape([k, 1, 1]);
        let denom = g2.clone() * 2.0 + g3 * sum_a;
        // Where the denominator vanishes so does G^2 (or nearly): alpha is 0 there.
        let nonzero = denom.clone().abs().greater_elem(1e-12).float();
        let safe = denom + (nonzero.clone().neg() + 1.0);
        let alpha = g2 / safe * nonzero;
        Ok(weighted(a, spatial_sum(alpha * relu(g))))
    }
}
