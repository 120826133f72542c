//! What the activations view computes: per-channel statistics of a layer (on the device),
//! channel rankings, colour scales shared across the images being compared, channel
//! selections, and the feature maps of chosen channels.
//!
//! The device-side parts ([`stats_tensor`], [`channel_maps`]) return tensors so the caller
//! decides how to read them back (synchronously natively, awaiting in the browser) and reads
//! back only what it draws.

mod channels;
mod maps;
mod rank;
mod stats;

pub use channels::parse_channels;
pub use maps::{channel_maps, map_dims};
pub use rank::RankBy;
pub use stats::{ChannelStats, stats_tensor};

use crate::{Error, Result, render::Scale};

/// How feature maps share a colour scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalisation {
    /// Each channel spans the colormap on its own: every map's pattern is visible.
    PerChannel,
    /// One scale for the whole layer: maps can be compared with each other.
    PerLayer,
}

impl Normalisation {
    /// `channel` or `layer`.
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "channel" => Ok(Self::PerChannel),
            "layer" => Ok(Self::PerLayer),
            other => Err(Error::BadInput(format!("unknown normalisation `{other}`; use channel or layer"))),
        }
    }
}

/// One colour scale per channel for a layer seen on one or more images: the scale covers
/// every image's values, so the same filter is drawn on the same scale in a comparison. The
/// data counts as signed when any value of the layer on any image is negative.
pub fn layer_scales(images: &[&[ChannelStats]], norm: Normalisation) -> Vec<Scale> {
    let channels = images.iter().map(|s| s.len()).max().unwrap_or(0);
    let signed = images.iter().flat_map(|s| s.iter()).any(|s| s.min < 0.0);
    let channel_range =
        |c: usize| images.iter().filter_map(|s| s.get(c)).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| (lo.min(s.min), hi.max(s.max)));
    match norm {
        Normalisation::PerChannel => (0..channels)
            .map(|c| {
                let (lo, hi) = channel_range(c);
                Scale::fit(lo, hi, signed)
            })
            .collect(),
        Normalisation::PerLayer => {
            let (lo, hi) = (0..channels).map(channel_range).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), (lo, hi)| (a.min(lo), b.max(hi)));
            vec![Scale::fit(lo, hi, signed); channels]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(min: f32, max: f32) -> ChannelStats {
        ChannelStats { min, max, mean: (min + max) / 2.0, active: 0.5 }
    }

    #[test]
    fn per_channel_scales_follow_each_channel_and_per_layer_share_one() {
        let a = [stats(0.0, 2.0), stats(0.0, 6.0), stats(0.0, 0.0)];
        let per_channel = layer_scales(&[&a], Normalisation::PerChannel);
        assert_eq!(per_channel.iter().map(|s| (s.lo, s.hi)).collect::<Vec<_>>(), vec![(0.0, 2.0), (0.0, 6.0), (0.0, 0.0)]);
        let per_layer = layer_scales(&[&a], Normalisation::PerLayer);
        assert!(per_layer.iter().all(|s| (s.lo, s.hi, s.signed) == (0.0, 6.0, false)));
    }

    #[test]
    fn one_negative_value_makes_the_whole_layer_signed() {
        let a = [stats(0.0, 2.0), stats(-1.0, 0.5)];
        let s = layer_scales(&[&a], Normalisation::PerChannel);
        assert_eq!((s[0].lo, s[0].hi, s[0].signed), (-2.0, 2.0, true));
        assert_eq!((s[1].lo, s[1].hi), (-1.0, 1.0));
    }

    #[test]
    fn compared_images_share_scales() {
        let a = [stats(0.0, 2.0), stats(0.0, 1.0)];
        let b = [stats(0.0, 1.0), stats(0.0, 5.0)];
        let s = layer_scales(&[&a, &b], Normalisation::PerChannel);
        assert_eq!((s[0].hi, s[1].hi), (2.0, 5.0));
        let s = layer_scales(&[&a, &b], Normalisation::PerLayer);
        assert!(s.iter().all(|s| s.hi == 5.0));
    }

    #[test]
    fn normalisation_names() {
        assert_eq!(Normalisation::named("layer").unwrap(), Normalisation::PerLayer);
        assert!(Normalisation::named("global").unwrap_err().to_string().contains("channel or layer"));
    }
}
