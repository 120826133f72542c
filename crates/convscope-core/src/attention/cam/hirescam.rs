//! HiResCAM: Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
//! convolutional neural networks", 2020 (arXiv:2011.08891): the gradient multiplies the activation
//! element-wise instead of being averaged first, `L = ReLU(sum_k G_k * A_k)`.

use burn::tensor::{Tensor, activation::relu};

use crate::{
    Result,
    attention::{Explain, Method, MethodInfo, Resolution},
};

/// HiResCAM.
pub struct HiResCam;

impl Method for HiResCam {
    fn info(&self) -> MethodInfo {
        MethodInfo { id: "hirescam", name: "HiResCAM", paper: "Draelos & Carin 2020 (arXiv:2011.08891): L = ReLU(sum G A)", resolution: Resolution::Layer }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let (a, g) = x.layer_gradient()?;
        let [_, h, w] = a.dims();
        Ok(relu((g * a).sum_dim(0).reshape([h, w])))
    }
}
