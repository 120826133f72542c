//! Orders of channels, so the ones that respond most are easy to find.

use super::ChannelStats;
use crate::{Error, Result};

/// What to sort channels by (strongest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankBy {
    /// Channel number, ascending.
    Index,
    /// Largest value.
    Max,
    /// Mean value.
    Mean,
    /// Fraction of units above zero.
    Active,
}

impl RankBy {
    /// `index`, `max`, `mean` or `active`.
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "index" => Ok(Self::Index),
            "max" => Ok(Self::Max),
            "mean" => Ok(Self::Mean),
            "active" => Ok(Self::Active),
            other => Err(Error::BadInput(format!("unknown ranking `{other}`; use index, max, mean or active"))),
        }
    }

    /// Channel numbers in this order; ties (and NaN) keep channel order.
    pub fn order(self, stats: &[ChannelStats]) -> Vec<usize> {
        let key = |s: &ChannelStats| match self {
            Self::Index => 0.0,
            Self::Max => s.max,
            Self::Mean => s.mean,
            Self::Active => s.active,
        };
        let mut order: Vec<usize> = (0..stats.len()).collect();
        let k = |i: usize| {
            let v = key(&stats[i]);
            if v.is_nan() { f32::NEG_INFINITY } else { v }
        };
        order.sort_by(|&a, &b| k(b).total_cmp(&k(a)).then(a.cmp(&b)));
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_strongest_first_with_ties_in_channel_order() {
        let s = |max: f32, mean: f32, active: f32| ChannelStats { min: 0.0, max, mean, active };
        let stats = [s(1.0, 0.1, 0.9), s(3.0, 0.1, 0.2), s(2.0, 0.5, 0.2), s(f32::NAN, 0.0, 0.0)];
        assert_eq!(RankBy::Index.order(&stats), vec![0, 1, 2, 3]);
        assert_eq!(RankBy::Max.order(&stats), vec![1, 2, 0, 3]);
        assert_eq!(RankBy::Mean.order(&stats), vec![2, 0, 1, 3]);
        assert_eq!(RankBy::Active.order(&stats), vec![0, 1, 2, 3]);
        assert!(RankBy::named("loud").is_err());
    }
}
