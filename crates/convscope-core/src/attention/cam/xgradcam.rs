//! XGrad-CAM: Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation
//! of CNNs", BMVC 2020 (arXiv:2008.02312): `w_k = sum_ij (A_k,ij / sum_ab A_k,ab) dy/dA_k,ij`,
//! `L = ReLU(sum_k w_k A_k)`.

use burn::tensor::Tensor;

use super::{spatial_sum, weighted};
use crate::{
    Result,
    attention::{Explain, Method, MethodInfo, Resolution},
};

/// XGrad-CAM.
pub struct XGradCam;

impl Method for XGradCam {
    fn info(&self) -> MethodInfo {
        MethodInfo { id: "xgradcam", name: "XGrad-CAM", paper: "Fu et al. 2020 (arXiv:2008.02312): w_k = sum (A / sum A) G", resolution: Resolution::Layer }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let (a, g) = x.layer_gradient()?;
        let [k, _, _] = a.dims();
        // A channel that sums to 0 contributes nothing (its weight is 0, as with eps = 1e-7
        // in the authors' code).
        let sum_a = spatial_sum(a.clone()).reshape([k, 1, 1]) + 1e-7;
        Ok(weighted(a.clone(), spatial_sum(a.clone() / sum_a * g)))
    }
}
