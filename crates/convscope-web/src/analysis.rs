//! One image's pass through a model, kept on the device: every view that shows this image
//! (the page's activations and attention views, any number of embedded figures) reads it
//! instead of running the network again.

use std::{cell::RefCell, rc::Rc};

use convscope_core::{
    Model, Value,
    activations::{ChannelStats, channel_maps, map_dims},
    examples,
    render::{Colormap, Overlay, Scale, ZoomFigure},
};
use wasm_bindgen::{JsCast, prelude::*};

use crate::js::{js_err, picture, read_back, set, to_js};

/// What an analysis holds; views keep an `Rc` of it.
pub(crate) struct Seen {
    pub model: Rc<Model>,
    /// File name, for figure titles.
    pub name: String,
    /// The normalised input tensor, `[1, C, H, W]` (on the device).
    pub input: burn::tensor::Tensor<4>,
    /// Every layer's output, in network order (on the device).
    pub layers: Vec<Value>,
    /// The image as the model saw it: RGB8 at the input size.
    pub rgb: Vec<u8>,
    /// The logits, on the host.
    pub logits: Vec<f32>,
    /// Per-channel statistics of the layers looked at so far, in network order.
    pub stats: RefCell<Vec<Option<Vec<ChannelStats>>>>,
}

impl Seen {
    pub(crate) fn new(model: Rc<Model>, name: String, input: burn::tensor::Tensor<4>, layers: Vec<Value>, rgb: Vec<u8>, logits: Vec<f32>) -> Self {
        let stats = RefCell::new(vec![None; layers.len()]);
        Self { model, name, input, layers, rgb, logits, stats }
    }

    /// The image as an overlay at `opacity` (`None` for a negative one: the map alone).
    pub(crate) fn overlay(&self, opacity: f32) -> Option<Overlay<'_>> {
        (opacity >= 0.0).then_some(Overlay { rgb: &self.rgb, width: self.model.input.width, height: self.model.input.height, opacity })
    }
}

/// An analysed image: its top classes, the image as the model saw it, and every layer's
/// output for the views. Free it (`free()`) when no view shows it any more.
#[wasm_bindgen]
pub struct Analysis {
    seen: Rc<Seen>,
}

impl Analysis {
    pub(crate) fn new(seen: Seen) -> Self {
        Self { seen: Rc::new(seen) }
    }

    /// The shared pass, for a view to keep.
    pub(crate) fn seen(&self) -> Rc<Seen> {
        self.seen.clone()
    }
}

#[wasm_bindgen]
impl Analysis {
    /// The image's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.seen.name.clone()
    }

    /// The top `k` classes: `[{index, label, prob, logit}]`.
    pub fn top(&self, k: usize) -> Result<JsValue, JsError> {
        to_js(&self.seen.model.top_k(&self.seen.logits, k))
    }

    /// The image as the model sees it (resized, before normalisation), RGBA8 at the input
    /// size.
    #[wasm_bindgen(js_name = modelView)]
    pub fn model_view(&self) -> Vec<u8> {
        self.seen.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
    }

    /// Channel `channel` of `layer` on this image, over the image as the model saw it at
    /// `opacity` (negative: the map alone), `size` pixels on its longer side, on its own
    /// colour scale: `{width, height, rgba, lo, hi}`.
    #[wasm_bindgen(js_name = channelOnImage)]
    pub async fn channel_on_image(&self, layer: String, channel: usize, size: usize, opacity: f32) -> Result<JsValue, JsError> {
        let seen = self.seen.clone();
        let id = seen.model.graph.layer(&layer).map_err(js_err)?;
        let value = seen.layers[id.0].clone();
        let (_, h, w) = map_dims(&value);
        let map = read_back(channel_maps(&value, &[channel]).map_err(js_err)?.reshape([h * w])).await?;
        let lo = map.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let scale = Scale::fit(lo, hi, lo < 0.0);
        let colormap = Colormap::named("auto", lo < 0.0).map_err(js_err)?;
        let fig =
            ZoomFigure { title: String::new(), map: &map, height: h, width: w, scale, colormap, size: size.clamp(16, 2048), overlay: seen.overlay(opacity) };
        let pic = picture(&fig.image())?;
        let obj: &js_sys::Object = pic.unchecked_ref();
        set(obj, "lo", &lo.into())?;
        set(obj, "hi", &hi.into())?;
        Ok(pic)
    }

    /// A dataset example's tile: the part of the image (as the model saw it) that position
    /// `(y, x)` of `layer` sees, with channel `channel`'s map over it at `opacity`, on a scale
    /// from 0 (or the map's least value) to `hi` (the channel's best example: tiles of one
    /// channel compare), `size` pixels on the longer side. `{width, height, rgba, value}`:
    /// `value` is the channel's value at that position on this image.
    #[wasm_bindgen(js_name = exampleTile)]
    #[allow(clippy::too_many_arguments)]
    pub async fn example_tile(&self, layer: String, channel: usize, y: usize, x: usize, hi: f32, size: usize, opacity: f32) -> Result<JsValue, JsError> {
        let seen = self.seen.clone();
        let g = &seen.model.graph;
        let id = g.layer(&layer).map_err(js_err)?;
        let value = seen.layers[id.0].clone();
        let (c, h, w) = map_dims(&value);
        if channel >= c || y >= h || x >= w {
            return Err(JsError::new(&format!("{layer} has {c} channels of {h}x{w}: no channel {channel} at ({y}, {x})")));
        }
        let map = read_back(channel_maps(&value, &[channel]).map_err(js_err)?.reshape([h * w])).await?;
        let lo = map.iter().copied().fold(0.0f32, f32::min);
        let (ih, iw) = (seen.model.input.height, seen.model.input.width);
        let fig = ZoomFigure {
            title: String::new(),
            map: &map,
            height: h,
            width: w,
            scale: Scale::fit(lo, hi.max(lo + f32::EPSILON), lo < 0.0),
            colormap: Colormap::named("auto", lo < 0.0).map_err(js_err)?,
            size: ih.max(iw),
            overlay: seen.overlay(opacity),
        };
        let region = examples::seen(g.info(id).field, y, x, ih, iw);
        let pic = picture(&examples::tile(&fig.image(), region, size.clamp(16, 1024)))?;
        set(pic.unchecked_ref(), "value", &map[y * w + x].into())?;
        Ok(pic)
    }
}
