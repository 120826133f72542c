//! Per-channel statistics, computed on the device so only four numbers a channel come back.

use burn::tensor::Tensor;
use serde::Serialize;

use crate::Value;

/// How a channel responded on one image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChannelStats {
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// Mean value.
    pub mean: f32,
    /// Fraction of units above zero.
    pub active: f32,
}

impl ChannelStats {
    /// Parse the rows of [`stats_tensor`], read back.
    pub fn from_rows(rows: &[f32]) -> Vec<Self> {
        rows.chunks_exact(4).map(|r| Self { min: r[0], max: r[1], mean: r[2], active: r[3] }).collect()
    }
}

/// Each channel's `[min, max, mean, fraction > 0]` for the first image of the batch; a flat
/// layer's features count as channels of one unit.
///
/// # Shapes
/// `value`: `[batch, C, H, W]` or `[batch, C]`; returns `[C, 4]`
pub fn stats_tensor(value: &Value) -> Tensor<2> {
    let (c, h, w) = super::map_dims(value);
    let rows: Tensor<2> = value.clone().flatten().narrow(0, 0, 1).reshape([c, h * w]);
    let active = rows.clone().greater_elem(0.0).float().mean_dim(1);
    Tensor::cat(vec![rows.clone().min_dim(1), rows.clone().max_dim(1), rows.mean_dim(1), active], 1)
}
