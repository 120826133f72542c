//! Attention maps as pictures: the normalised map over the image as the model saw it (or
//! alone, at its own resolution), with the method, the target, a legend and the scores.

use super::{
    AttentionMap, MethodInfo, Resolution,
    faithfulness::{Scores, Verdict},
};
use crate::render::{Canvas, Colormap, Overlay, Scale, ZoomFigure, with_notes};

/// What the figure says when a map is constant.
pub const CONSTANT: &str = "the map is constant: no region stands out for this target";

/// One attention map, ready to draw.
#[derive(Debug, Clone)]
pub struct AttentionFigure<'a> {
    /// First line, e.g. `chelsea.png efficientnet-lite0 grad-cam head tabby`.
    pub title: String,
    /// The map.
    pub map: &'a AttentionMap,
    /// The image under it (RGB8 at the model's input size) and the map's opacity over it;
    /// `None` draws the raw map as blocks.
    pub overlay: Option<Overlay<'a>>,
    /// Colormap of the map.
    pub colormap: Colormap,
    /// Pixels on the longer side.
    pub size: usize,
    /// Lines under the legend (scores); the constant-map message is added by itself.
    pub notes: Vec<String>,
}

/// Maps with more cells than this are pixel-level (saliency, Integrated Gradients, ...):
/// drawn with their top [`SATURATE`] saturated, as Captum's visualisation does, or a few
/// extreme pixels leave the rest invisible.
const PIXEL_LEVEL: usize = 4096;

/// Fraction of a pixel-level map's cells drawn at full colour.
pub const SATURATE: f32 = 0.01;

/// The colour scale of a map: 0 to 1, or 0 to the `1 - SATURATE` quantile for pixel-level maps.
pub fn display_scale(map: &AttentionMap) -> Scale {
    if map.values.len() <= PIXEL_LEVEL || map.constant {
        return Scale::fit(0.0, 1.0, false);
    }
    let mut v = map.values.clone();
    let k = ((v.len() as f32) * (1.0 - SATURATE)) as usize;
    let at = k.min(v.len() - 1);
    let (_, q, _) = v.select_nth_unstable_by(at, f32::total_cmp);
    Scale::fit(0.0, q.max(1e-6), false)
}

impl AttentionFigure<'_> {
    fn zoom(&self) -> ZoomFigure<'_> {
        ZoomFigure {
            title: self.title.clone(),
            map: &self.map.values,
            height: self.map.height,
            width: self.map.width,
            scale: display_scale(self.map),
            colormap: self.colormap,
            size: self.size,
            overlay: self.overlay,
        }
    }

    /// The picture alone.
    pub fn image(&self) -> Canvas {
        self.zoom().image()
    }

    /// The picture with its title, a legend of the normalised values and the notes: what is
    /// exported.
    pub fn render(&self) -> Canvas {
        let mut notes = self.notes.clone();
        if self.map.constant {
            notes.insert(0, CONSTANT.to_string());
        }
        with_notes(&self.zoom().render(), &notes)
    }
}

/// Where a method's map lives, in words: `at layer head` or `at the input`.
pub fn location(info: &MethodInfo, layer: &str) -> String {
    match info.resolution {
        Resolution::Layer => format!("at layer {layer}"),
        Resolution::Input => "at the input".to_string(),
    }
}

/// Figure and terminal lines for a map's faithfulness against the random map's.
pub fn faithfulness_notes(s: &Scores) -> Vec<String> {
    s.comparisons
        .iter()
        .map(|c| {
            let judged = match c.verdict {
                Verdict::Better => "better than random",
                Verdict::Worse => "worse than random",
                Verdict::Tie => "no better than random",
            };
            format!("{} {:.3} (random {:.3}; {} is better): {judged}", c.name, c.ours, c.random, if c.lower_is_better { "lower" } else { "higher" })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_level_maps_saturate_their_top_percent_and_small_maps_do_not() {
        let small = AttentionMap::new((0..49).map(|i| i as f32).collect(), 7, 7).unwrap();
        assert_eq!(display_scale(&small).hi, 1.0);
        // 10000 cells: all 0.01 except 50 at 1.0 (0.5%): the scale tops out at 0.01.
        let mut raw = vec![0.01f32; 10_000];
        raw[0] = 0.0;
        raw[1..51].fill(1.0);
        let big = AttentionMap::new(raw, 100, 100).unwrap();
        assert!((display_scale(&big).hi - 0.01).abs() < 1e-6, "{:?}", display_scale(&big));
    }
}
