//! Perceptually uniform colormaps: sequential for non-negative data (post-ReLU maps),
//! diverging for signed data. No rainbow/JET: its lightness is not monotonic, so it invents
//! edges that are not in the data.

use serde::Serialize;

use super::colormap_tables::{CIVIDIS, COOLWARM, MAGMA, VIRIDIS};
use crate::{Error, Result};

/// A map from a position in `[0, 1]` to an sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// Sequential, blue-green-yellow (matplotlib's default; CC0).
    Viridis,
    /// Sequential, black-purple-orange-white.
    Magma,
    /// Sequential, safe for red-green colour blindness.
    Cividis,
    /// Sequential grey levels, black to white.
    Gray,
    /// Diverging blue-white-red (Moreland 2009): for signed data, zero in the middle.
    Coolwarm,
}

impl Colormap {
    /// Every colormap, sequential ones first.
    pub const ALL: [Colormap; 5] = [Self::Viridis, Self::Magma, Self::Cividis, Self::Gray, Self::Coolwarm];

    /// Its id: `viridis`, `magma`, `cividis`, `gray`, `coolwarm`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Viridis => "viridis",
            Self::Magma => "magma",
            Self::Cividis => "cividis",
            Self::Gray => "gray",
            Self::Coolwarm => "coolwarm",
        }
    }

    /// The colormap called `name`; `auto` picks by the data ([`Colormap::for_data`]).
    pub fn named(name: &str, signed: bool) -> Result<Self> {
        if name == "auto" {
            return Ok(Self::for_data(signed));
        }
        Self::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
            Error::BadInput(format!("unknown colormap `{name}`; use auto, {}", names.join(", ")))
        })
    }

    /// The fitting default: viridis for non-negative data, cool-warm for signed data.
    pub fn for_data(signed: bool) -> Self {
        if signed { Self::Coolwarm } else { Self::Viridis }
    }

    /// Whether zero sits in the middle of the colormap.
    pub fn diverging(self) -> bool {
        self == Self::Coolwarm
    }

    /// The colour at `t` (clamped to `[0, 1]`; NaN gives the colour at 0).
    pub fn color(self, t: f32) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let i = (t * 255.0).round() as usize;
        match self {
            Self::Viridis => VIRIDIS[i],
            Self::Magma => MAGMA[i],
            Self::Cividis => CIVIDIS[i],
            Self::Coolwarm => COOLWARM[i],
            Self::Gray => [i as u8; 3],
        }
    }

    /// `n` RGBA colours from 0 to 1: the legend's colour bar.
    pub fn ramp(self, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let [r, g, b] = self.color(i as f32 / (n.max(2) - 1) as f32);
                [r, g, b, 255]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative luminance (Rec. 709 on linearised sRGB).
    fn luminance([r, g, b]: [u8; 3]) -> f32 {
        let lin = |c: u8| {
            let c = c as f32 / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    #[test]
    fn sequential_maps_get_lighter_monotonically() {
        for cmap in [Colormap::Viridis, Colormap::Magma, Colormap::Cividis, Colormap::Gray] {
            let l: Vec<f32> = (0..=32).map(|i| luminance(cmap.color(i as f32 / 32.0))).collect();
            assert!(l.windows(2).all(|w| w[1] > w[0]), "{}: {l:?}", cmap.name());
        }
    }

    #[test]
    fn diverging_map_is_lightest_in_the_middle_and_balanced() {
        let c = Colormap::Coolwarm;
        let mid = luminance(c.color(0.5));
        for i in 0..16 {
            let t = i as f32 / 32.0;
            let (lo, hi) = (luminance(c.color(0.5 - t - 1.0 / 32.0)), luminance(c.color(0.5 + t + 1.0 / 32.0)));
            assert!(lo < mid && hi < mid);
            assert!((lo - hi).abs() < 0.06, "arms differ in lightness at {t}: {lo} vs {hi}");
        }
        assert!(c.color(0.0)[2] > c.color(0.0)[0], "negative end is blue");
        assert!(c.color(1.0)[0] > c.color(1.0)[2], "positive end is red");
    }

    #[test]
    fn names_round_trip_and_auto_follows_the_sign() {
        for c in Colormap::ALL {
            assert_eq!(Colormap::named(c.name(), false).unwrap(), c);
        }
        assert_eq!(Colormap::named("auto", false).unwrap(), Colormap::Viridis);
        assert_eq!(Colormap::named("auto", true).unwrap(), Colormap::Coolwarm);
        let err = Colormap::named("jet", false).unwrap_err().to_string();
        assert!(err.contains("unknown colormap `jet`") && err.contains("viridis"), "{err}");
    }

    #[test]
    fn out_of_range_and_nan_positions_are_clamped() {
        let c = Colormap::Viridis;
        assert_eq!(c.color(f32::NAN), c.color(0.0));
        assert_eq!(c.color(-3.0), c.color(0.0));
        assert_eq!(c.color(7.0), c.color(1.0));
        assert_eq!(c.ramp(3).len(), 12);
    }
}
