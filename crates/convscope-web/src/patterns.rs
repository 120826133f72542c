//! The filter-patterns view's boundary: an activation-maximization run, its own handle over a
//! model, stepped a few steps per call so the caller (a worker) can draw progress between
//! calls and stop whenever it likes (`free()`); plus the gallery figure.

use convscope_core::{
    LayerId,
    patterns::{self, Fit, Options, Render, objective},
    render::PictureGrid,
};
use wasm_bindgen::prelude::*;

use crate::{
    WebModel,
    js::{js_err, picture, read_back, to_js},
};

/// An optimization in progress: one image per channel of a layer.
#[wasm_bindgen]
pub struct PatternRun {
    render: Render,
    layer: LayerId,
    channels: Vec<usize>,
    info: serde_json::Value,
}

#[wasm_bindgen]
impl PatternRun {
    /// Start optimizing one image per channel of `layer` of `model` (`channels`, at most 64)
    /// from seeded noise: `size` pixels, `fit` `"model"` (resized to the model's input, as
    /// Lucent does) or `"as-is"` (fed at its own size, cheaper; where the layer allows, else
    /// the model's input).
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WebModel, layer: String, channels: Vec<u32>, size: usize, seed: u32, fit: String) -> Result<PatternRun, JsError> {
        let graph = &model.model.graph;
        let id = graph.layer(&layer).map_err(js_err)?;
        if channels.is_empty() || channels.len() > 64 {
            return Err(JsError::new(&format!("give 1 to 64 channels, not {}", channels.len())));
        }
        let total = graph.info(id).shape[0];
        let channels: Vec<usize> = channels.into_iter().map(|c| c as usize).collect();
        if let Some(c) = channels.iter().find(|&&c| c >= total) {
            return Err(JsError::new(&format!("channel {c} does not exist: {layer} has {total} channels")));
        }
        let mut options = Options::sized(size);
        options.seed = seed as u64;
        options.fit = match fit.as_str() {
            "model" => Fit::ModelInput,
            "as-is" if graph.any_size_up_to(id) => Fit::AsIs,
            "as-is" => Fit::ModelInput,
            other => {
                return Err(JsError::new(&format!("fit is `model` or `as-is`, not `{other}`")));
            }
        };
        let fit_used = if options.fit == Fit::AsIs { "as-is" } else { "model" };
        let render = Render::new(graph, &model.model.input, objective::channels(id, &channels), channels.len(), options).map_err(js_err)?;
        let info = graph.info(id);
        let info = serde_json::json!({
            "objective": render.objective().describe(graph), "channels": channels, "size": size, "fit": fit_used,
            "rectified": info.rectified(), "layer": info.id,
        });
        Ok(PatternRun { render, layer: id, channels, info })
    }

    /// `{objective, channels, size, fit, rectified, layer}`: what runs (`fit` as used).
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.info)
    }

    /// Run `n` more steps; returns the steps done so far.
    pub fn step(&mut self, n: usize) -> Result<usize, JsError> {
        self.render.step(n).map_err(js_err)?;
        Ok(self.render.steps())
    }

    /// The current patterns, RGBA8, one `size x size` image per channel after the other.
    pub async fn images(&self) -> Result<Vec<u8>, JsError> {
        let image = self.render.image();
        let [_, c, h, _] = image.dims();
        Ok(patterns::to_rgba(&read_back(image).await?, c, h, h))
    }

    /// How strongly each pattern drives its own channel (the channel's mean on it), and
    /// which channels it leaves off: `{values, off}`.
    pub async fn own(&self) -> Result<JsValue, JsError> {
        let means = read_back(self.render.channel_means(self.layer).map_err(js_err)?).await?;
        to_js(&patterns::own(self.render.graph().info(self.layer), &means, &self.channels))
    }
}

/// A gallery of patterns as one labelled figure: `rgba` holds `labels.len()` images of
/// `size x size`; `notes` marks some (e.g. `OFF`), may be empty. `{width, height, rgba}`.
#[wasm_bindgen(js_name = patternGallery)]
pub fn pattern_gallery(
    rgba: Vec<u8>,
    size: usize,
    labels: Vec<String>,
    notes: Vec<String>,
    title: String,
    cols: usize,
    cell: usize,
) -> Result<JsValue, JsError> {
    if size == 0 || rgba.len() != labels.len() * size * size * 4 {
        return Err(JsError::new(&format!("{} bytes are not {} images of {size}x{size}", rgba.len(), labels.len())));
    }
    let grid = PictureGrid { title, rgba: &rgba, height: size, width: size, labels: &labels, notes: &notes, cols: cols.max(1), cell: cell.clamp(16, 1024) };
    picture(&grid.render())
}
