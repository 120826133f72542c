//! Class activation mappings: maps at the resolution of a layer's feature maps, built from
//! its activations `A` (`[K, h, w]`) and, for most, the gradient `G` of the target's score
//! with respect to them.

pub mod eigencam;
pub mod gradcam;
pub mod gradcam_pp;
pub mod hirescam;
pub mod layercam;
pub mod scorecam;
pub mod xgradcam;

use burn::tensor::{Tensor, activation::relu};

/// `ReLU(sum_k w_k A_k)`: the weighted combination every CAM ends with.
///
/// # Shapes
/// `a`: `[K, h, w]`, `weights`: `[K]`; returns `[h, w]`
pub(crate) fn weighted(a: Tensor<3>, weights: Tensor<1>) -> Tensor<2> {
    let [k, h, w] = a.dims();
    relu((a * weights.reshape([k, 1, 1])).sum_dim(0).reshape([h, w]))
}

/// Spatial sum per channel.
///
/// # Shapes
/// `t`: `[K, h, w]`; returns `[K]`
pub(crate) fn spatial_sum(t: Tensor<3>) -> Tensor<1> {
    let [k, h, w] = t.dims();
    t.reshape([k, h * w]).sum_dim(1).reshape([k])
}
