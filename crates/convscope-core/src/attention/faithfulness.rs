//! How far a map can be trusted, measured on the model itself.
//!
//! - **Deletion** (Petsiuk et al., "RISE", BMVC 2018): remove the pixels the map ranks highest
//!   first (set them to 0, the mean colour), in `steps` equal parts, and follow the target's
//!   probability; a faithful map makes it fall fast: a small area under the curve.
//! - **Insertion** (same paper): start from a blurred image and put the original pixels back
//!   in the same order; a faithful map makes the probability rise fast: a large area.
//! - **Keep drop**: only the highlighted region is kept (the pixels where the normalised map
//!   is at least [`HIGHLIGHT`], the rest set to 0), `max(0, p - p_kept) / p`; small when the
//!   region holds the evidence. (Chattopadhay et al.'s "average drop" multiplies the image by
//!   the map instead; that rewards maps that cover everything.)
//! - A **random map** (smooth noise, seeded) scored the same way, keeping the same number of
//!   pixels, is the baseline any map should beat.
//!
//! The probe images are built on the device from masks made on the host; reading the
//! probabilities back is the caller's (see [`faithfulness_now`] natively).

use burn::tensor::{Tensor, TensorData, module::avg_pool2d, ops::AvgPoolOptions};
use serde::Serialize;

use super::{AttentionMap, Explain};
use crate::{Error, Result, rng::Rng};

/// Steps of the deletion and insertion curves unless told otherwise (5% of the pixels each).
pub const STEPS: usize = 20;

/// The highlighted region of a normalised map: values at least this.
pub const HIGHLIGHT: f32 = 0.5;

/// The curves and the scores of one map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faithfulness {
    /// Fraction of pixels removed (deletion) or inserted (insertion) at each point.
    pub fractions: Vec<f32>,
    /// Target probability as pixels are removed, most important first.
    pub deletion: Vec<f32>,
    /// Target probability as pixels are put back into the blurred image.
    pub insertion: Vec<f32>,
    /// Area under the deletion curve (lower is better).
    pub deletion_auc: f32,
    /// Area under the insertion curve (higher is better).
    pub insertion_auc: f32,
    /// Target probability on the whole image.
    pub probability: f32,
    /// Fraction of the pixels kept for the keep drop.
    pub kept_fraction: f32,
    /// Target probability with only those pixels kept.
    pub kept_probability: f32,
    /// `max(0, p - p_kept) / p` (lower is better).
    pub keep_drop: f32,
}

/// The pixel order of a map at input resolution: most important first, ties by position.
fn order(importance: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..importance.len()).collect();
    idx.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
    idx
}

/// The fraction of a normalised map (at input resolution) that is highlighted.
pub fn highlighted(importance: &[f32]) -> f32 {
    importance.iter().filter(|&&v| v >= HIGHLIGHT).count() as f32 / importance.len().max(1) as f32
}

/// The fraction kept for the keep drop: the highlighted fraction, at least 5% and at most
/// 95% of the image (a map with a few bright pixels still keeps a region).
pub fn default_keep(importance: &[f32]) -> f32 {
    highlighted(importance).clamp(0.05, 0.95)
}

/// Masks `[counts.len(), 1, H, W]` on the device: mask `i` is 1 on the `counts[i]` most
/// important pixels of `importance` (`H * W` values), 0 elsewhere.
fn top_masks(x: &Explain<'_>, importance: &[f32], counts: &[usize]) -> Result<Tensor<4>> {
    let [_, _, h, w] = x.input.dims();
    if importance.len() != h * w {
        return Err(Error::BadInput(format!("the map has {} values, the input {h}x{w} pixels", importance.len())));
    }
    let n = h * w;
    let rank = order(importance);
    let mut masks = vec![0f32; counts.len() * n];
    for (i, &k) in counts.iter().enumerate() {
        for &p in &rank[..k.min(n)] {
            masks[i * n + p] = 1.0;
        }
    }
    Ok(Tensor::from_data(TensorData::new(masks, [counts.len(), 1, h, w]), &x.input.device()))
}

/// How many pixels of `n` the keep drop keeps for fraction `keep`.
fn kept_count(keep: f32, n: usize) -> usize {
    ((keep.clamp(0.0, 1.0) * n as f32).round() as usize).min(n)
}

/// The probe images for a map given at the input's resolution (`H * W` values in `[0, 1]`):
/// `steps + 1` deletion images, `steps + 1` insertion images, then the image with only its
/// `keep` most important fraction of pixels, `[2 * steps + 3, C, H, W]`.
pub fn probes(x: &Explain<'_>, importance: &[f32], steps: usize, keep: f32) -> Result<Tensor<4>> {
    let steps = steps.max(1);
    let n = importance.len();
    let counts: Vec<usize> = (0..=steps).map(|t| (t * n + steps / 2) / steps).collect();
    let shown = top_masks(x, importance, &counts)?;
    let hidden = shown.clone().neg() + 1.0;
    let deletion = x.input.clone() * hidden.clone();
    let insertion = blur(x.input.clone()) * hidden + x.input.clone() * shown;
    Ok(Tensor::cat(vec![deletion, insertion, kept(x, importance, keep)?], 0))
}

/// The image with only the `keep` most important fraction of its pixels (the rest set to 0,
/// the mean colour), `[1, C, H, W]`: the last of [`probes`]' images on its own.
pub fn kept(x: &Explain<'_>, importance: &[f32], keep: f32) -> Result<Tensor<4>> {
    Ok(x.input.clone() * top_masks(x, importance, &[kept_count(keep, importance.len())])?)
}

/// Two box blurs of 21 pixels (about a Gaussian of sigma 8.5 at 224 px): the insertion
/// curve's start, which keeps colours but no shapes.
fn blur(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let k = (h.min(w) / 10) | 1;
    let options = AvgPoolOptions { kernel_size: [k, k], stride: [1, 1], padding: [(k / 2, k / 2), (k / 2, k / 2)], count_include_pad: false, ceil_mode: false };
    avg_pool2d(avg_pool2d(x, options.clone()), options)
}

/// The scores from the probabilities of [`probes`]' images, in that order.
pub fn score(probabilities: &[f32], steps: usize, probability: f32, kept_fraction: f32) -> Result<Faithfulness> {
    let steps = steps.max(1);
    if probabilities.len() != 2 * steps + 3 {
        return Err(Error::BadInput(format!("{} probabilities for {steps} steps; expected {}", probabilities.len(), 2 * steps + 3)));
    }
    let deletion = probabilities[..=steps].to_vec();
    let insertion = probabilities[steps + 1..2 * steps + 2].to_vec();
    let kept_probability = probabilities[2 * steps + 2];
    let auc = |c: &[f32]| c.windows(2).map(|p| (p[0] + p[1]) / 2.0).sum::<f32>() / steps as f32;
    Ok(Faithfulness {
        fractions: (0..=steps).map(|t| t as f32 / steps as f32).collect(),
        deletion_auc: auc(&deletion),
        insertion_auc: auc(&insertion),
        deletion,
        insertion,
        probability,
        kept_fraction,
        kept_probability,
        keep_drop: if probability > 0.0 { ((probability - kept_probability) / probability).max(0.0) } else { 0.0 },
    })
}

/// The random baseline: uniform noise on a 7x7 grid, upsampled to `width x height` and
/// normalised, from `seed`.
pub fn random_map(width: usize, height: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0x5eed);
    let grid: Vec<f32> = (0..49).map(|_| rng.uniform()).collect();
    AttentionMap::new(grid, 7, 7).expect("7x7").resized(width, height)
}

/// Native only: probe, run and score `map` for request `x`, and the random map (seeded by
/// the request) keeping as many pixels, in one batch: `(ours, random)`.
#[cfg(not(target_arch = "wasm32"))]
pub fn faithfulness_now(x: &Explain<'_>, map: &AttentionMap, steps: usize) -> Result<(Faithfulness, Faithfulness)> {
    let [_, _, h, w] = x.input.dims();
    let importance = map.resized(w, h);
    let keep = default_keep(&importance);
    let random = random_map(w, h, x.options.seed);
    let batch = Tensor::cat(vec![x.input.clone(), probes(x, &importance, steps, keep)?, probes(x, &random, steps, keep)?], 0);
    let p = super::read(x.scores(batch, true)?)?;
    let n = 2 * steps.max(1) + 3;
    Ok((score(&p[1..1 + n], steps, p[0], keep)?, score(&p[1 + n..], steps, p[0], keep)?))
}
