//! Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", ICCV 2017, Eq. 1-2: `w_k = mean_ij dy/dA_k,ij`,
//! `L = ReLU(sum_k w_k A_k)`.

use burn::tensor::Tensor;

use super::{spatial_sum, weighted};
use crate::{
    Result,
    attention::{Explain, Method, MethodInfo, Resolution},
};

/// Grad-CAM.
pub struct GradCam;

impl Method for GradCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "gradcam",
            name: "Grad-CAM",
            paper: "Selvaraju et al. 2017, Eq. 1-2: w_k = mean G, L = ReLU(sum w_k A_k)",
            resolution: Resolution::Layer,
        }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let (a, g) = x.layer_gradient()?;
        let [_, h, w] = a.dims();
        Ok(weighted(a, spatial_sum(g) / (h * w) as f32))
    }
}
