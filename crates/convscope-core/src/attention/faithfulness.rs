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
//! The probe images are built on the device from masks made on the host; [`faithfulness`]
//! runs them, reads the probabilities back and judges each score against the random map's
//! ([`Comparison`]), so that the CLI, the figures and the page say the same.

use burn::tensor::{Tensor, TensorData, module::avg_pool2d, ops::AvgPoolOptions};
use serde::{Deserialize, Serialize};

use super::{AttentionMap, Explain, Target};
use crate::{Error, Result, readback::read, rng::Rng};

/// Steps of the deletion and insertion curves unless told otherwise (5% of the pixels each).
pub const STEPS: usize = 20;

/// Two scores closer than this are a tie ("no better than random").
pub const TIE: f32 = 0.005;

/// The highlighted region of a normalised map: values at least this.
pub const HIGHLIGHT: f32 = 0.5;

/// The curves and the scores of one map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The random map's probabilities on one image: the image itself, then its deletion and
/// insertion curves. They depend on the image, the target, the steps and the seed only, not
/// on the map scored, so a caller that scores several maps of one image keeps this and
/// hands it back (the page does; it must drop it when the image changes).
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    target: Target,
    steps: usize,
    seed: u64,
    probabilities: Vec<f32>,
}

impl Baseline {
    /// A baseline from the random map's probabilities on an image for `target` over `steps`
    /// steps with `seed`: the image's, then `steps + 1` deletion and `steps + 1` insertion
    /// values (e.g. kept from an earlier session of the same image).
    pub fn new(target: Target, steps: usize, seed: u64, probabilities: Vec<f32>) -> Result<Self> {
        if probabilities.len() != 2 * steps + 3 {
            return Err(Error::BadInput(format!("{} probabilities for {steps} steps; expected {}", probabilities.len(), 2 * steps + 3)));
        }
        Ok(Self { target, steps, seed, probabilities })
    }
}

/// Which way a score compares with the random map's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Better than the random map by more than [`TIE`].
    Better,
    /// Worse than the random map by more than [`TIE`].
    Worse,
    /// Within [`TIE`] of it: no better than random.
    Tie,
}

/// One score of a map beside the random map's, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What is scored, e.g. `deletion AUC`.
    pub name: String,
    /// The map's score.
    pub ours: f32,
    /// The random map's.
    pub random: f32,
    /// Lower is better (deletion, keep drop); else higher is.
    pub lower_is_better: bool,
    /// The score is a fraction best shown as a percentage.
    pub percent: bool,
    /// How it compares.
    pub verdict: Verdict,
}

impl Comparison {
    fn new(name: String, ours: f32, random: f32, lower_is_better: bool, percent: bool) -> Self {
        let verdict = if (ours - random).abs() < TIE {
            Verdict::Tie
        } else if (ours < random) == lower_is_better {
            Verdict::Better
        } else {
            Verdict::Worse
        };
        Self { name, ours, random, lower_is_better, percent, verdict }
    }
}

/// A map's faithfulness and the random map's, with the three comparisons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The map's curves and scores.
    pub ours: Faithfulness,
    /// The random map's, keeping as many pixels.
    pub random: Faithfulness,
    /// Deletion AUC, insertion AUC and keep drop, each judged against the random map.
    pub comparisons: Vec<Comparison>,
}

impl Scores {
    /// Judge `ours` against `random`.
    pub fn new(ours: Faithfulness, random: Faithfulness) -> Self {
        let comparisons = vec![
            Comparison::new("deletion AUC".into(), ours.deletion_auc, random.deletion_auc, true, false),
            Comparison::new("insertion AUC".into(), ours.insertion_auc, random.insertion_auc, false, false),
            Comparison::new(format!("keep the top {:.0}%: confidence drop", ours.kept_fraction * 100.0), ours.keep_drop, random.keep_drop, true, true),
        ];
        Self { ours, random, comparisons }
    }
}

/// Score `map` for request `x` against the random map (seeded by the request) keeping as
/// many pixels, over `steps` steps (2 to 100). `baseline` is the random map's curves from an
/// earlier call on the same image (ignored unless its target, steps and seed match); the
/// baseline returned is for the next call.
pub async fn faithfulness(x: &Explain<'_>, map: &AttentionMap, steps: usize, baseline: Option<Baseline>) -> Result<(Scores, Baseline)> {
    let steps = steps.clamp(2, 100);
    let [_, c, h, w] = x.input.dims();
    let importance = map.resized(w, h);
    let keep = default_keep(&importance);
    let random = random_map(w, h, x.options.seed);
    let n = 2 * steps + 3;
    let fits = |b: &Baseline| b.target == x.target && b.steps == steps && b.seed == x.options.seed;
    let baseline = baseline.filter(fits);
    // Our probes and the random map's kept image, and the random map's curves unless kept.
    let _task = crate::progress::task(n + 1 + if baseline.is_some() { 0 } else { n });
    let baseline = match baseline {
        Some(b) => b,
        None => {
            // The image and the random map's curves (its kept image depends on the map's keep).
            let curves = probes(x, &random, steps, keep)?.slice([0..n - 1, 0..c, 0..h, 0..w]);
            let probabilities = read(x.scores(Tensor::cat(vec![x.input.clone(), curves], 0), true)?).await?;
            Baseline { target: x.target, steps, seed: x.options.seed, probabilities }
        }
    };
    let p = read(x.scores(Tensor::cat(vec![probes(x, &importance, steps, keep)?, kept(x, &random, keep)?], 0), true)?).await?;
    let whole = baseline.probabilities[0];
    let ours = score(&p[..n], steps, whole, keep)?;
    let random = score(&[&baseline.probabilities[1..], &p[n..]].concat(), steps, whole, keep)?;
    Ok((Scores::new(ours, random), baseline))
}
