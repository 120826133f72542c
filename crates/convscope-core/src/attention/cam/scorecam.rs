//! Score-CAM: Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
//! Neural Networks", CVPR-W 2020 (arXiv:1910.01279): each channel, upsampled to the input and
//! min-max normalised to `H_k`, masks the image; its weight is how much that raises the
//! target's probability over a blank input, `w_k = p(X * H_k) - p(X_b)` with `X_b = 0`;
//! `L = ReLU(sum_k w_k A_k)`. No gradients: one forward pass per channel.
//!
//! With `Options::max_channels` set, only that many channels are scored, the ones with the
//! highest peak activation (the others weigh 0): a speed/fidelity trade the page uses.

use burn::tensor::{
    Tensor,
    module::interpolate,
    ops::{InterpolateMode, InterpolateOptions},
};

use super::weighted;
use crate::{
    Result,
    attention::{Cost, Explain, Method, MethodInfo, Options, Resolution},
};

/// Score-CAM.
pub struct ScoreCam;

impl Method for ScoreCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "scorecam",
            name: "Score-CAM",
            paper: "Wang et al. 2020 (arXiv:1910.01279): w_k = p(X * up(A_k)) - p(0)",
            resolution: Resolution::Layer,
        }
    }

    fn cost(&self, o: &Options, _: [usize; 2]) -> Cost {
        // The channels scored, and the blank image.
        if o.max_channels > 0 { Cost { forward: o.max_channels + 1, ..Cost::default() } } else { Cost { forward: 1, per_channel: true, ..Cost::default() } }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let mut a = x.activation()?;
        let [k, h, w] = a.dims();
        let limit = x.options.max_channels;
        if limit > 0 && limit < k {
            let peaks = a.clone().reshape([k, h * w]).max_dim(1).reshape([k]);
            let (_, idx) = peaks.topk_with_indices(limit, 0);
            a = a.select(0, idx);
        }
        let [k, _, _] = a.dims();
        let [_, c, ih, iw] = x.input.dims();
        let device = x.input.device();
        let blank = x.scores(Tensor::zeros([1, c, ih, iw], &device), true)?;
        let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size([ih, iw]);
        let mut weights = Vec::new();
        let step = x.options.batch.max(1);
        for s in (0..k).step_by(step) {
            let e = (s + step).min(k);
            let up = interpolate(a.clone().slice([s..e, 0..h, 0..w]).reshape([1, e - s, h, w]), options.clone()).reshape([e - s, ih * iw]);
            let lo = up.clone().min_dim(1);
            let span = up.clone().max_dim(1) - lo.clone();
            // A constant channel masks everything out (weight = p(0) - p(0) = 0).
            let nonzero = span.clone().greater_elem(1e-12).float();
            let masks = (up - lo) / (span + (nonzero.clone().neg() + 1.0)) * nonzero;
            let masked = x.input.clone() * masks.reshape([e - s, 1, ih, iw]);
            weights.push(x.scores(masked, true)? - blank.clone());
        }
        Ok(weighted(a, Tensor::cat(weights, 0)))
    }
}
