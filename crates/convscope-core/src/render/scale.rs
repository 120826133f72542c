//! Colour scales: which value range a colormap spans.

use serde::Serialize;

/// The value range a colormap spans: `lo` gets its first colour, `hi` its last.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scale {
    /// Value at the colormap's start.
    pub lo: f32,
    /// Value at the colormap's end.
    pub hi: f32,
    /// Symmetric about zero (signed data, for a diverging colormap).
    pub signed: bool,
}

impl Scale {
    /// The scale for data from `min` to `max`: `[0, max]` for non-negative data (so colour
    /// means "how strongly it fires"), `[-a, a]` with `a = max(|min|, |max|)` for signed data
    /// (so zero sits in the middle of a diverging colormap). Non-finite bounds count as 0.
    pub fn fit(min: f32, max: f32, signed: bool) -> Self {
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        let (min, max) = (finite(min), finite(max));
        if signed {
            let a = min.abs().max(max.abs());
            Self { lo: -a, hi: a, signed: true }
        } else {
            Self { lo: 0.0, hi: max.max(0.0), signed: false }
        }
    }

    /// Where `v` falls on the colour axis, in `[0, 1]`. A range of zero width (a constant or
    /// empty map) puts every value at its middle if it is signed and at 0
    /// otherwise, never NaN; so does a NaN value.
    pub fn position(&self, v: f32) -> f32 {
        let width = self.hi - self.lo;
        let empty = width.is_nan() || width <= f32::EPSILON * self.hi.abs().max(self.lo.abs());
        if empty || v.is_nan() {
            return if self.signed { 0.5 } else { 0.0 };
        }
        ((v - self.lo) / width).clamp(0.0, 1.0)
    }

    /// The smallest scale covering both.
    pub fn union(self, other: Scale) -> Scale {
        Scale { lo: self.lo.min(other.lo), hi: self.hi.max(other.hi), signed: self.signed || other.signed }
    }
}

/// A value in at most 4 significant figures and few characters, for legends and labels:
/// `0`, `3.25`, `-0.0123`, `1.2e4`.
pub fn short_number(v: f32) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v == 0.0 {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    let a = v.abs();
    if !(1e-3..1e4).contains(&a) {
        let s = format!("{v:.2e}");
        // 1.20e4 -> 1.2e4
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_negative_data_starts_at_zero_and_signed_data_is_symmetric() {
        assert_eq!(Scale::fit(0.5, 6.0, false), Scale { lo: 0.0, hi: 6.0, signed: false });
        assert_eq!(Scale::fit(-2.0, 0.5, true), Scale { lo: -2.0, hi: 2.0, signed: true });
        assert_eq!(Scale::fit(-0.5, 3.0, true), Scale { lo: -3.0, hi: 3.0, signed: true });
        assert_eq!(Scale::fit(f32::NAN, f32::INFINITY, false), Scale { lo: 0.0, hi: 0.0, signed: false });
    }

    #[test]
    fn positions_are_in_range_and_never_nan() {
        let s = Scale::fit(0.0, 4.0, false);
        assert_eq!(s.position(0.0), 0.0);
        assert_eq!(s.position(1.0), 0.25);
        assert_eq!(s.position(4.0), 1.0);
        assert_eq!(s.position(9.0), 1.0);
        let d = Scale::fit(-2.0, 1.0, true);
        assert_eq!(d.position(0.0), 0.5);
        assert_eq!(d.position(-2.0), 0.0);
        for s in [Scale::fit(0.0, 0.0, false), Scale::fit(0.0, 0.0, true), Scale::fit(3.0, 3.0, false)] {
            for v in [0.0, 3.0, -1.0, f32::NAN] {
                let p = s.position(v);
                assert!((0.0..=1.0).contains(&p), "{s:?} at {v}: {p}");
            }
        }
        assert_eq!(Scale::fit(0.0, 0.0, false).position(0.0), 0.0, "an all-zero ReLU map is the lowest colour");
        assert_eq!(Scale::fit(0.0, 0.0, true).position(0.0), 0.5, "an all-zero signed map is the middle colour");
    }

    #[test]
    fn short_numbers_read_well() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(6.0), "6");
        assert_eq!(short_number(1.23456), "1.235");
        assert_eq!(short_number(-0.012345), "-0.01235");
        assert_eq!(short_number(12345.0), "1.23e4");
        assert_eq!(short_number(0.0001), "1e-4");
        assert_eq!(short_number(250.0), "250");
    }
}
