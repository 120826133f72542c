//! Attention maps as pictures: the normalised map over the image as the model saw it (or
//! alone, at its own resolution), with the method, the target, a legend and the scores.

use super::{AttentionMap, faithfulness::Faithfulness};
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

impl AttentionFigure<'_> {
    fn zoom(&self) -> ZoomFigure<'_> {
        ZoomFigure {
            title: self.title.clone(),
            map: &self.map.values,
            height: self.map.height,
            width: self.map.width,
            scale: Scale::fit(0.0, 1.0, false),
            colormap: self.colormap,
            size: self.size,
            overlay: self.overlay,
        }
    }

    /// The picture alone.
    pub fn image(&self) -> Canvas {
        self.zoom().image()
    }

    /// The picture with its title, a 0-1 legend and the notes: what is exported.
    pub fn render(&self) -> Canvas {
        let mut notes = self.notes.clone();
        if self.map.constant {
            notes.insert(0, CONSTANT.to_string());
        }
        with_notes(&self.zoom().render(), &notes)
    }
}

/// Figure lines for a map's faithfulness, against the random baseline when given.
pub fn faithfulness_notes(f: &Faithfulness, random: Option<&Faithfulness>) -> Vec<String> {
    let vs = |ours: f32, theirs: Option<f32>| match theirs {
        Some(r) => format!("{ours:.3} (random {r:.3})"),
        None => format!("{ours:.3}"),
    };
    vec![
        format!("deletion auc {} lower is better", vs(f.deletion_auc, random.map(|r| r.deletion_auc))),
        format!("insertion auc {} higher is better", vs(f.insertion_auc, random.map(|r| r.insertion_auc))),
        format!(
            "keep top {:.0}%: confidence drop {}",
            f.kept_fraction * 100.0,
            vs(f.keep_drop, random.map(|r| r.keep_drop))
        ),
    ]
}
