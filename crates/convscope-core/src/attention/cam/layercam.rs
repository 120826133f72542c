//! LayerCAM: Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
//! Localization", IEEE TIP 30, 2021: every location weighted by its own positive
//! gradient, `L = ReLU(sum_k ReLU(G_k) * A_k)`.

use burn::tensor::{Tensor, activation::relu};

use crate::{
    Result,
    attention::{Explain, Method, MethodInfo, Resolution},
};

/// LayerCAM.
pub struct LayerCam;

impl Method for LayerCam {
    fn info(&self) -> MethodInfo {
        MethodInfo { id: "layercam", name: "LayerCAM", paper: "Jiang et al. 2021 (IEEE TIP 30): L = ReLU(sum ReLU(G) A)", resolution: Resolution::Layer }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let (a, g) = x.layer_gradient()?;
        let [_, h, w] = a.dims();
        Ok(relu((relu(g) * a).sum_dim(0).reshape([h, w])))
    }
}
