//! A loaded model: what it is, its predictions, and analyses of images for the views.

use std::rc::Rc;

use convscope_core::{LayerId, Model, Prepared, RgbaImage, preprocess::Preprocess};
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

    /// An RGBA image from the page made ready for the model ([`Model::prepare`]).
    fn prepare(&self, rgba: Vec<u8>, width: usize, height: usize, fit: &str) -> Result<Prepared, JsError> {
        let image = RgbaImage::new(width, height, rgba).map_err(js_err)?;
        self.model.prepare(&image, &Preprocess::named(fit).map_err(js_err)?).map_err(js_err)
    }
}

#[wasm_bindgen]
impl WebModel {
    /// A new activations view of this model. The views are made by the model (not by `new
    /// ActivationsView(model)` in the page): a page may hold two wasm instances, the CPU
    /// build and the WebGPU build, and a view must come from its model's own.
    #[wasm_bindgen(js_name = activationsView)]
    pub fn activations_view(&self) -> crate::ActivationsView {
        crate::ActivationsView::new(self)
    }

    /// A new attention view of this model (see [`WebModel::activations_view`]).
    #[wasm_bindgen(js_name = attentionView)]
    pub fn attention_view(&self) -> crate::AttentionView {
        crate::AttentionView::new(self)
    }

    /// A dataset examples index of this model read from its JSON (`ExampleIndex.fromJson`,
    /// from this model's own instance; see [`WebModel::activations_view`]).
    #[wasm_bindgen(js_name = exampleIndex)]
    pub fn example_index(&self, json: &str) -> Result<crate::ExampleIndex, JsError> {
        crate::ExampleIndex::from_json(self, json)
    }

    /// `{name, description, input: {channels, height, width, ...}, layers: [{id, kind, shape,
    /// rectified, weighted, flattens}], classes, labels, patternLayer, preset, drawable}`
    /// (`labels`: how many classes have names; `patternLayer`: the layer the patterns view
    /// starts on; `drawable`: a small one-channel input, offered the drawing pad).
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
            "drawable": m.input.drawable(),
        }))
    }

    /// Run the network on an RGBA image and keep every layer's output on the device, for
    /// any number of views: an [`Analysis`]. `name` titles its figures; `fit` is `"whole"` or
    /// `"center-crop"` (87.5% centre crop, bicubic: the usual ImageNet evaluation).
    pub async fn analyse(&self, name: String, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Analysis, JsError> {
        let Prepared { input, rgb } = self.prepare(rgba, width, height, &fit)?;
        let all: Vec<LayerId> = (0..self.model.graph.layers().len()).map(LayerId).collect();
        let (logits, layers) = self.model.graph.forward(input.clone(), &all).map_err(js_err)?;
        let logits = read_back(logits).await?;
        Ok(Analysis::new(Seen::new(self.model.clone(), name, input, layers, rgb, logits)))
    }

    /// The top `k` classes for an RGBA image, without keeping activations (see
    /// [`WebModel::analyse`] for `fit`): `[{index, label, prob, logit}]`.
    pub async fn predict(&self, rgba: Vec<u8>, width: usize, height: usize, k: usize, fit: String) -> Result<JsValue, JsError> {
        let input = self.prepare(rgba, width, height, &fit)?.input;
        to_js(&self.model.top_k(&self.model.logits(input).await.map_err(js_err)?, k))
    }

    /// All logits for an RGBA image (see [`WebModel::analyse`] for `fit`). For tests.
    pub async fn logits(&self, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Vec<f32>, JsError> {
        if !test_hooks() {
            return Err(test_only("logits"));
        }
        let input = self.prepare(rgba, width, height, &fit)?.input;
        self.model.logits(input).await.map_err(js_err)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use burn::tensor::Device;
    use convscope_core::readback::block;

    use super::*;

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The bundled EfficientNet-Lite0 on the CPU, as the page loads it.
    pub(crate) fn bundled() -> WebModel {
        let bytes = std::fs::read(repo().join("weights/efficientnet-lite0.csm")).expect("bundled model");
        WebModel::new(Model::from_bytes(&bytes, &Device::flex()).expect("it loads"))
    }

    /// A sample's pixels as the page hands them over: RGBA8, width, height.
    pub(crate) fn pixels(name: &str) -> (Vec<u8>, usize, usize) {
        let img = image::open(repo().join("www/samples").join(name)).expect("sample").to_rgba8();
        let (w, h) = img.dimensions();
        (img.into_raw(), w as usize, h as usize)
    }

    pub(crate) fn analyse(model: &WebModel, name: &str) -> Analysis {
        let (rgba, w, h) = pixels(name);
        block(model.analyse(name.into(), rgba, w, h, "center-crop".into())).expect("analysed")
    }

    /// The page's pixels (a 451x300 image: width and height cannot be swapped unnoticed)
    /// reach the model as the CLI's do: the same input, the same logits, the same picture of
    /// what the model sees.
    #[test]
    fn the_page_prepares_an_image_as_the_cli_does() {
        let model = bundled();
        let (rgba, w, h) = pixels("chelsea.png");
        assert_ne!(w, h);
        let pre = Preprocess::named("center-crop").unwrap();
        let cli = model.model.prepare(&RgbaImage::new(w, h, rgba.clone()).unwrap(), &pre).unwrap();
        let want = block(model.model.logits(cli.input)).unwrap();
        let seen = analyse(&model, "chelsea.png");
        assert_eq!(seen.seen().logits, want);
        assert_eq!(seen.model_view(), cli.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect::<Vec<_>>());
        crate::js::enable_test_hooks();
        assert_eq!(block(model.logits(rgba, w, h, "center-crop".into())).unwrap(), want);
        // And they are the right ones: the numpy reference's top five for the f16 weights.
        let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(repo().join("tests/data/reference_top5.json")).unwrap()).unwrap();
        let top5: Vec<u64> = reference["chelsea.png"]["f16"].as_array().unwrap().iter().map(|e| e[0].as_u64().unwrap()).collect();
        assert_eq!(model.model.top_k(&want, 5).iter().map(|p| p.index as u64).collect::<Vec<_>>(), top5);
    }
}
