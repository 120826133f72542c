//! Attribution at the input's resolution: gradients of the target's score with respect to
//! the pixels, and occlusion. Maps are `[H, W]`; channels are combined per method.

pub mod integrated_gradients;
pub mod occlusion;
pub mod saliency;
pub mod smoothgrad;

use burn::tensor::Tensor;

/// `max_c |g_c|` per pixel of the first image (Simonyan et al.'s channel reduction).
///
/// # Shapes
/// `g`: `[1, C, H, W]`; returns `[H, W]`
pub(crate) fn max_abs_channel(g: Tensor<4>) -> Tensor<2> {
    let [_, _, h, w] = g.dims();
    g.abs().max_dim(1).reshape([h, w])
}
