//! A loaded model: what it is, its predictions, and analyses of images for the views.

use std::rc::Rc;

use convscope_core::{
    LayerId, Model, RgbaImage,
    preprocess::{Preprocess, normalise},
};
use wasm_bindgen::prelude::*;

use crate::{
    analysis::{Analysis, Seen},
    js::{js_err, read_back, test_hooks, test_only, to_js},
};

/// A loaded model. Views and analyses share it; it holds no image.
#[wasm_bindgen]
pub struct WebModel {
    pub(crate) model: Rc<Model>,
}

impl WebModel {
    pub(crate) fn new(model: Model) -> Self {
        Self { model: Rc::new(model) }
    }

    /// The normalised input tensor `[1, C, H, W]` and the image as the model sees it (RGB8
    /// at the input size).
    fn input(&self, rgba: Vec<u8>, width: usize, height: usize, fit: &str) -> Result<(burn::tensor::Tensor<4>, Vec<u8>), JsError> {
        let image = RgbaImage::new(width, height, rgba).map_err(js_err)?;
        let pre = Preprocess::named(fit).map_err(js_err)?;
        let rgb = pre.resize(&image, &self.model.input).map_err(js_err)?;
        let tensor = burn::tensor::Tensor::from_data(normalise(&rgb, &self.model.input), self.model.graph.device());
        Ok((tensor, rgb))
    }
}

#[wasm_bindgen]
impl WebModel {
    /// `{name, description, input: {channels, height, width, ...}, layers: [{id, kind, shape,
    /// rectified, weighted, flattens}], classes, labels, patternLayer}` (`labels`: how many
    /// classes have names; `patternLayer`: the layer the patterns view starts on).
    pub fn info(&self) -> Result<JsValue, JsError> {
        let m = &self.model;
        to_js(&serde_json::json!({
            "name": m.name,
            "description": m.description,
            "input": m.input,
            "layers": m.graph.layers(),
            "classes": m.graph.info(m.graph.output()).shape[0],
            "labels": m.labels.len(),
            "patternLayer": convscope_core::patterns::default_layer(&m.graph).map(|l| m.graph.info(l).id.clone()),
            "preset": convscope_core::preprocess::preset_of(&m.input.mean, &m.input.std, m.input.channels).map(|p| p.id),
        }))
    }

    /// Run the network on an RGBA image and keep every layer's output on the device, for
    /// any number of views: an [`Analysis`]. `name` titles its figures; `fit` is `"whole"` or
    /// `"center-crop"` (87.5% centre crop, bicubic: the usual ImageNet evaluation).
    pub async fn analyse(&self, name: String, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Analysis, JsError> {
        let (input, rgb) = self.input(rgba, width, height, &fit)?;
        let all: Vec<LayerId> = (0..self.model.graph.layers().len()).map(LayerId).collect();
        let (logits, layers) = self.model.graph.forward(input.clone(), &all).map_err(js_err)?;
        let logits = read_back(logits).await?;
        Ok(Analysis::new(Seen::new(self.model.clone(), name, input, layers, rgb, logits)))
    }

    /// The top `k` classes for an RGBA image, without keeping activations (see
    /// [`WebModel::analyse`] for `fit`): `[{index, label, prob, logit}]`.
    pub async fn predict(&self, rgba: Vec<u8>, width: usize, height: usize, k: usize, fit: String) -> Result<JsValue, JsError> {
        let (input, _) = self.input(rgba, width, height, &fit)?;
        let (logits, _) = self.model.graph.forward(input, &[]).map_err(js_err)?;
        to_js(&self.model.top_k(&read_back(logits).await?, k))
    }

    /// All logits for an RGBA image (see [`WebModel::analyse`] for `fit`). For tests.
    pub async fn logits(&self, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Vec<f32>, JsError> {
        if !test_hooks() {
            return Err(test_only("logits"));
        }
        let (input, _) = self.input(rgba, width, height, &fit)?;
        let (logits, _) = self.model.graph.forward(input, &[]).map_err(js_err)?;
        read_back(logits).await
    }
}
