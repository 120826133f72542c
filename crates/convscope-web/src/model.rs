//! A loaded model in the page, with the images it has seen: the classifier's results and
//! every layer's activations per image slot (0: the image, 1: the one it is compared with),
//! so switching layers never runs the network again.

use std::cell::RefCell;

use convscope_core::{
    LayerId, Model, RgbaImage, Value,
    activations::ChannelStats,
    preprocess::{Preprocess, normalise},
};
use wasm_bindgen::prelude::*;

use crate::{js_err, read_back, to_js};

/// Image slots: the image and the one it is compared with.
pub(crate) const SLOTS: usize = 2;

/// One image's pass through the network.
pub(crate) struct Seen {
    /// File name, for figure titles.
    pub name: String,
    /// The normalised input tensor, `[1, C, H, W]` (on the device).
    pub input: burn::tensor::Tensor<4>,
    /// Every layer's output, in network order (on the device).
    pub layers: Vec<Value>,
    /// The image as the model saw it: RGB8 at the input size.
    pub rgb: Vec<u8>,
    /// Per-channel statistics of the layers looked at so far (read back with their first
    /// page of maps), in network order.
    pub stats: Vec<Option<Vec<ChannelStats>>>,
}

/// A loaded model.
#[wasm_bindgen]
pub struct WebModel {
    pub(crate) model: Model,
    pub(crate) slots: RefCell<[Option<Seen>; SLOTS]>,
    pub(crate) view: RefCell<Option<crate::activations::HostView>>,
    /// The attention maps shown, one per pane.
    pub(crate) attention: RefCell<[Option<crate::attention::Shown>; crate::attention::PANES]>,
    /// The random map's deletion and insertion probabilities for the image in slot 0:
    /// `(target, steps, [p(image), deletion..., insertion...])`.
    pub(crate) random_curves: RefCell<Option<(convscope_core::attention::Target, usize, Vec<f32>)>>,
    /// The filter-pattern optimization in progress.
    pub(crate) patterns: RefCell<Option<crate::patterns::PatternRun>>,
}

impl WebModel {
    pub(crate) fn new(model: Model) -> Self {
        Self { model, slots: RefCell::new([None, None]), view: RefCell::new(None), attention: RefCell::new([None, None]), random_curves: RefCell::new(None), patterns: RefCell::new(None) }
    }

    fn input(&self, rgba: Vec<u8>, width: usize, height: usize, fit: &str) -> Result<(burn::tensor::Tensor<4>, Vec<u8>), JsError> {
        let image = RgbaImage::new(width, height, rgba).map_err(js_err)?;
        let pre = Preprocess::named(fit).map_err(js_err)?;
        let rgb = pre.resize(&image, &self.model.input).map_err(js_err)?;
        let tensor = burn::tensor::Tensor::from_data(normalise(&rgb, &self.model.input), self.model.graph.device());
        Ok((tensor, rgb))
    }
}

/// The error when no image is in slot 0.
pub(crate) fn no_image() -> JsError {
    JsError::new("no image has been analysed yet")
}

pub(crate) fn check_slot(slot: usize) -> Result<usize, JsError> {
    if slot < SLOTS { Ok(slot) } else { Err(JsError::new(&format!("image slot {slot} does not exist; use 0 or 1"))) }
}

#[wasm_bindgen]
impl WebModel {
    /// `{name, description, input: {channels, height, width, ...}, layers: [{id, kind, shape}],
    /// classes, labels}` (`labels`: how many classes have names).
    pub fn info(&self) -> Result<JsValue, JsError> {
        let m = &self.model;
        to_js(&serde_json::json!({
            "name": m.name,
            "description": m.description,
            "input": m.input,
            "layers": m.graph.layers(),
            "classes": m.graph.info(m.graph.output()).shape[0],
            "labels": m.labels.len(),
        }))
    }

    /// Run the network on an RGBA image, keep every layer's activations in image slot `slot`
    /// (0 or 1) for the activations view, and return the top `k` classes:
    /// `[{index, label, prob, logit}]`. `fit` is `"whole"` or `"center-crop"` (87.5% centre
    /// crop, bicubic: the usual ImageNet evaluation).
    #[allow(clippy::too_many_arguments)]
    pub async fn analyse(&self, slot: usize, name: String, rgba: Vec<u8>, width: usize, height: usize, fit: String, k: usize) -> Result<JsValue, JsError> {
        let slot = check_slot(slot)?;
        let (input, rgb) = self.input(rgba, width, height, &fit)?;
        let all: Vec<LayerId> = (0..self.model.graph.layers().len()).map(LayerId).collect();
        let (logits, layers) = self.model.graph.forward(input.clone(), &all).map_err(js_err)?;
        let logits = read_back(logits).await?;
        let stats = vec![None; layers.len()];
        self.slots.borrow_mut()[slot] = Some(Seen { name, input, layers, rgb, stats });
        self.view.borrow_mut().take();
        if slot == 0 {
            *self.attention.borrow_mut() = [None, None];
            self.random_curves.borrow_mut().take();
        }
        to_js(&self.model.top_k(&logits, k))
    }

    /// Forget the image in `slot` (e.g. when the comparison is closed).
    #[wasm_bindgen(js_name = clearSlot)]
    pub fn clear_slot(&self, slot: usize) -> Result<(), JsError> {
        self.slots.borrow_mut()[check_slot(slot)?] = None;
        self.view.borrow_mut().take();
        Ok(())
    }

    /// The top `k` classes for an RGBA image, without keeping activations (see
    /// [`WebModel::analyse`] for `fit`).
    pub async fn predict(&self, rgba: Vec<u8>, width: usize, height: usize, k: usize, fit: String) -> Result<JsValue, JsError> {
        let logits = self.logits(rgba, width, height, fit).await?;
        to_js(&self.model.top_k(&logits, k))
    }

    /// All logits for an RGBA image (see [`WebModel::analyse`] for `fit`).
    pub async fn logits(&self, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Vec<f32>, JsError> {
        let (input, _) = self.input(rgba, width, height, &fit)?;
        let (logits, _) = self.model.graph.forward(input, &[]).map_err(js_err)?;
        read_back(logits).await
    }

    /// The image in `slot` as the model sees it (resized, before normalisation), RGBA8 at
    /// the input size.
    #[wasm_bindgen(js_name = modelView)]
    pub fn model_view(&self, slot: usize) -> Result<Vec<u8>, JsError> {
        let slots = self.slots.borrow();
        let seen = slots[check_slot(slot)?].as_ref().ok_or_else(|| JsError::new(&format!("no image in slot {slot}")))?;
        Ok(seen.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect())
    }
}
