//! The model-parameter randomization test (Adebayo et al., "Sanity Checks for Saliency
//! Maps", NeurIPS 2018, Sec. 3.1): re-draw the network's weights at random from the top
//! layer down, one more layer each step, and compare each map with the trained model's by
//! Spearman rank correlation. A map that explains the model must change as the model is
//! destroyed; one that stays put (an edge detector) is flagged.

use serde::Serialize;

use super::AttentionMap;
use crate::{Graph, LayerId};

/// A map whose rank correlation with the trained model's map is still at least this once
/// every layer is randomized is flagged as insensitive to the model.
pub const FLAG_AT: f32 = 0.5;

/// One step of the cascade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The lowest layer randomized at this step (every weighted layer above it is too).
    pub layer: String,
    /// How many weighted layers are randomized.
    pub randomized: usize,
    /// Spearman rank correlation with the trained model's map (0 when either is constant).
    pub rho: f32,
    /// The map was constant at this step.
    pub constant: bool,
}

/// The cascade's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Steps, fewest layers randomized first.
    pub steps: Vec<Step>,
    /// The last step's correlation is still at least [`FLAG_AT`]: the map does not depend on
    /// the weights.
    pub flagged: bool,
    /// The verdict in words, as the CLI and the page print it.
    pub summary: &'static str,
}

impl Report {
    /// Build a report from its steps.
    pub fn new(steps: Vec<Step>) -> Self {
        let flagged = steps.last().is_some_and(|s| s.rho.abs() >= FLAG_AT);
        let summary = if flagged {
            "FLAGGED: the map hardly changes when the model's weights are randomized, so it does not explain this model"
        } else {
            "passed: the map changes as the model's weights are randomized"
        };
        Self { steps, flagged, summary }
    }
}

/// The weighted layers from the top down: the order the cascade randomizes them in.
pub fn cascade(graph: &Graph) -> Vec<LayerId> {
    let mut l = graph.weighted_layers();
    l.reverse();
    l
}

/// How many layers are randomized at each of at most `points` steps: 1, 2, 4, ... and
/// always all of the `n` layers at the end.
pub fn counts(n: usize, points: usize) -> Vec<usize> {
    let mut out: Vec<usize> = std::iter::successors(Some(1usize), |c| Some(c * 2)).take_while(|&c| c < n).collect();
    out.push(n);
    while out.len() > points.max(1) {
        // Thin the middle, keep the first and the last.
        out.remove(out.len() / 2);
    }
    out.dedup();
    out
}

/// Spearman rank correlation (ties get their mean rank); 0 when either side is constant.
pub fn spearman(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "spearman of different lengths");
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - mean) * (y - mean);
        va += (x - mean).powi(2);
        vb += (y - mean).powi(2);
    }
    if va <= 0.0 || vb <= 0.0 { 0.0 } else { (cov / (va * vb).sqrt()) as f32 }
}

fn ranks(v: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// The graph of step `n` of the cascade: the top `n` weighted layers of `order` (see
/// [`cascade`]) randomized, seeded from the request's seed.
pub fn randomized_graph(graph: &Graph, order: &[LayerId], n: usize, seed: u64) -> Graph {
    graph.randomized(&order[..n], seed.wrapping_add(1))
}

impl Step {
    /// Compare the map of step `n` (randomized down to layer `layer`) with the trained model's.
    pub fn compare(base: &AttentionMap, map: &AttentionMap, layer: &str, n: usize) -> Self {
        let rho = if base.constant || map.constant { 0.0 } else { spearman(&base.raw, &map.raw) };
        Step { layer: layer.to_string(), randomized: n, rho, constant: map.constant }
    }
}

/// Run the cascade for `method` on request `x` at up to `points` steps (1 to 16), each
/// step's map compared with `base`, the trained model's map for the same request.
pub async fn sanity(x: &super::Explain<'_>, method: &dyn super::Method, base: &AttentionMap, points: usize) -> crate::Result<Report> {
    let order = cascade(x.graph);
    let mut steps = Vec::new();
    let counts = counts(order.len(), points.clamp(1, 16));
    let _task = crate::progress::task(counts.len() * x.passes(method));
    for n in counts {
        let graph = randomized_graph(x.graph, &order, n, x.options.seed);
        let req = super::Explain::new(&graph, x.input.clone(), x.target, Some(x.layer), x.options.clone())?;
        steps.push(Step::compare(base, &req.map(method).await?, &graph.info(order[n - 1]).id, n));
    }
    Ok(Report::new(steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_known_orders() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-6);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-6);
        // Monotone but not linear: still 1.
        assert!((spearman(&[1.0, 2.0, 3.0], &[1.0, 8.0, 27.0]) - 1.0).abs() < 1e-6);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
        // Ties: ranks [0.5, 0.5, 2] against [0, 1, 2].
        let r = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((r - 0.866_025_4).abs() < 1e-5, "{r}");
    }

    #[test]
    fn cascade_counts_double_and_end_with_all() {
        assert_eq!(counts(10, 10), vec![1, 2, 4, 8, 10]);
        assert_eq!(counts(1, 5), vec![1]);
        assert_eq!(counts(64, 4).first(), Some(&1));
        assert_eq!(counts(64, 4).last(), Some(&64));
        assert_eq!(counts(64, 4).len(), 4);
    }
}
