//! The filter-patterns view's boundary: an activation-maximization run held by the model,
//! stepped a few steps per call so the caller (the page's worker) can draw progress between
//! calls and stop whenever it likes; plus the gallery figure and the channel's activation map
//! on the analysed image, drawn on the page's side.

use convscope_core::{
    LayerId,
    activations::{channel_maps, map_dims},
    patterns::{self, Fit, Options, Render, objective},
    render::{Colormap, Overlay, PictureGrid, Scale, ZoomFigure},
};
use wasm_bindgen::{JsCast, prelude::*};

use crate::{WebModel, activations::picture, js_err, model::no_image, read_back, to_js};

/// A run in progress.
pub(crate) struct PatternRun {
    render: Render,
    layer: LayerId,
    channels: Vec<usize>,
}

#[wasm_bindgen]
impl WebModel {
    /// Start optimizing one image per channel of `layer` (`channels`, at most 64) from
    /// seeded noise: `size` pixels, `fit` `"model"` (resized to the model's input, as Lucent
    /// does) or `"as-is"` (fed at its own size, cheaper; where the layer allows, else the
    /// model's input). Returns `{objective, channels, size, fit, rectified}`.
    #[wasm_bindgen(js_name = patternsStart)]
    pub fn patterns_start(&self, layer: String, channels: Vec<u32>, size: usize, seed: u32, fit: String) -> Result<JsValue, JsError> {
        let graph = &self.model.graph;
        let id = graph.layer(&layer).map_err(js_err)?;
        if channels.is_empty() || channels.len() > 64 {
            return Err(JsError::new(&format!("give 1 to 64 channels, not {}", channels.len())));
        }
        let channels: Vec<usize> = channels.into_iter().map(|c| c as usize).collect();
        let mut options = Options::sized(size);
        options.seed = seed as u64;
        options.fit = match fit.as_str() {
            "model" => Fit::ModelInput,
            "as-is" if graph.any_size_up_to(id) => Fit::AsIs,
            "as-is" => Fit::ModelInput,
            other => return Err(JsError::new(&format!("fit is `model` or `as-is`, not `{other}`"))),
        };
        let fit_used = if options.fit == Fit::AsIs { "as-is" } else { "model" };
        let render = Render::new(graph, &self.model.input, objective::channels(id, &channels), channels.len(), options).map_err(js_err)?;
        let info = graph.info(id);
        let out = serde_json::json!({
            "objective": render.objective().describe(graph), "channels": channels, "size": size, "fit": fit_used,
            "rectified": info.rectified(), "layer": info.id,
        });
        *self.patterns.borrow_mut() = Some(PatternRun { render, layer: id, channels });
        to_js(&out)
    }

    /// Run `n` more steps; returns the steps done so far.
    #[wasm_bindgen(js_name = patternsStep)]
    pub fn patterns_step(&self, n: usize) -> Result<usize, JsError> {
        let mut run = self.patterns.borrow_mut();
        let run = run.as_mut().ok_or_else(|| JsError::new("no pattern run was started"))?;
        run.render.step(n).map_err(js_err)?;
        Ok(run.render.steps())
    }

    /// The current patterns, RGBA8, one `size x size` image per channel after the other.
    #[wasm_bindgen(js_name = patternsImages)]
    pub async fn patterns_images(&self) -> Result<Vec<u8>, JsError> {
        let (image, c, size) = {
            let run = self.patterns.borrow();
            let run = run.as_ref().ok_or_else(|| JsError::new("no pattern run was started"))?;
            let image = run.render.image();
            let [_, c, h, _] = image.dims();
            (image, c, h)
        };
        Ok(patterns::to_rgba(&read_back(image).await?, c, size, size))
    }

    /// How strongly each pattern drives its own channel (the channel's mean on it).
    #[wasm_bindgen(js_name = patternsOwn)]
    pub async fn patterns_own(&self) -> Result<Vec<f32>, JsError> {
        let (means, channels) = {
            let run = self.patterns.borrow();
            let run = run.as_ref().ok_or_else(|| JsError::new("no pattern run was started"))?;
            (run.render.channel_means(run.layer).map_err(js_err)?, run.channels.clone())
        };
        let count = means.dims()[1];
        let means = read_back(means).await?;
        Ok(channels.iter().enumerate().map(|(i, &k)| means[i * count + k]).collect())
    }

    /// Drop the run (cancel, or done).
    #[wasm_bindgen(js_name = patternsStop)]
    pub fn patterns_stop(&self) {
        self.patterns.borrow_mut().take();
    }

    /// Channel `channel` of `layer` on the analysed image, over the image as the model saw
    /// it at `opacity` (negative: the map alone), `size` pixels on its longer side, on its own
    /// colour scale: `{width, height, rgba, lo, hi}`.
    #[wasm_bindgen(js_name = channelOnImage)]
    pub async fn channel_on_image(&self, layer: String, channel: usize, size: usize, opacity: f32) -> Result<JsValue, JsError> {
        let id = self.model.graph.layer(&layer).map_err(js_err)?;
        let value = self.slots.borrow()[0].as_ref().map(|s| s.layers[id.0].clone()).ok_or_else(no_image)?;
        let (_, h, w) = map_dims(&value);
        let map = read_back(channel_maps(&value, &[channel]).map_err(js_err)?.reshape([h * w])).await?;
        let lo = map.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let scale = Scale::fit(lo, hi, lo < 0.0);
        let colormap = Colormap::named("auto", lo < 0.0).map_err(js_err)?;
        let slots = self.slots.borrow();
        let rgb = slots[0].as_ref().map(|s| s.rgb.as_slice()).unwrap_or(&[]);
        let overlay = (opacity >= 0.0 && !rgb.is_empty()).then_some(Overlay { rgb, width: self.model.input.width, height: self.model.input.height, opacity });
        let fig = ZoomFigure { title: String::new(), map: &map, height: h, width: w, scale, colormap, size: size.clamp(16, 2048), overlay };
        let pic = picture(&fig.image())?;
        let obj: &js_sys::Object = pic.unchecked_ref();
        crate::set(obj, "lo", &lo.into())?;
        crate::set(obj, "hi", &hi.into())?;
        Ok(pic)
    }
}

/// A gallery of patterns as one labelled figure: `rgba` holds `labels.len()` images of
/// `size x size`; `notes` marks some (e.g. `OFF`), may be empty. `{width, height, rgba}`.
#[wasm_bindgen(js_name = patternGallery)]
pub fn pattern_gallery(rgba: Vec<u8>, size: usize, labels: Vec<String>, notes: Vec<String>, title: String, cols: usize, cell: usize) -> Result<JsValue, JsError> {
    if size == 0 || rgba.len() != labels.len() * size * size * 4 {
        return Err(JsError::new(&format!("{} bytes are not {} images of {size}x{size}", rgba.len(), labels.len())));
    }
    let grid = PictureGrid { title, rgba: &rgba, height: size, width: size, labels: &labels, notes: &notes, cols: cols.max(1), cell: cell.clamp(16, 1024) };
    picture(&grid.render())
}
