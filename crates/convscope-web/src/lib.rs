//! convscope in the browser: a narrow, typed boundary over `convscope-core`.
//!
//! Bytes and typed arrays come in, typed arrays and small JSON objects go out, and every
//! export returns `Result<_, JsError>` so bad input becomes a message in the page rather than
//! a panic. The page does no tensor maths.

#![warn(missing_docs)]

mod logger;

use burn::tensor::Device;
use convscope_core::{
    Model, RgbaImage,
    preprocess::Preprocess,
};
use wasm_bindgen::prelude::*;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js(v: &impl serde::Serialize) -> Result<JsValue, JsError> {
    let s = serde_json::to_string(v).map_err(js_err)?;
    js_sys::JSON::parse(&s).map_err(|_| JsError::new("internal: bad JSON"))
}

/// The compute device the page runs on.
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: String,
    note: String,
}

#[wasm_bindgen]
impl Engine {
    /// Start on WebGPU when `backend` is `"webgpu"` or `"auto"` and the browser gives an
    /// adapter, else on the CPU (`"cpu"` forces it). Never fails: a WebGPU failure falls back
    /// to the CPU and says why in [`Engine::note`].
    pub async fn create(backend: String) -> Engine {
        console_error_panic_hook::set_once();
        logger::init();
        if backend == "cpu" {
            return Engine { device: Device::flex(), backend: "cpu".into(), note: "CPU chosen".into() };
        }
        match Device::wgpu_options().init_async().await {
            Ok(device) => Engine { device, backend: "webgpu".into(), note: String::new() },
            Err(e) => Engine {
                device: Device::flex(),
                backend: "cpu".into(),
                note: format!("WebGPU unavailable ({e}); running on the CPU"),
            },
        }
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why the engine is on the backend it is on (empty when it got what it asked for).
    #[wasm_bindgen(getter)]
    pub fn note(&self) -> String {
        self.note.clone()
    }

    /// Load a `.csm` model file.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, bytes: &[u8]) -> Result<WebModel, JsError> {
        let model = Model::from_bytes(bytes, &self.device).map_err(js_err)?;
        Ok(WebModel { model })
    }
}

/// A loaded model.
#[wasm_bindgen]
pub struct WebModel {
    model: Model,
}

#[wasm_bindgen]
impl WebModel {
    /// `{name, description, input: {channels, height, width, ...}, layers: [{id, kind, shape}], classes}`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let m = &self.model;
        to_js(&serde_json::json!({
            "name": m.name,
            "description": m.description,
            "input": m.input,
            "layers": m.graph.layers(),
            "classes": m.graph.info(m.graph.output()).shape[0],
        }))
    }

    /// The top `k` classes for an RGBA image: `[{index, label, prob, logit}]`.
    /// `fit` is `"whole"` (default preprocessing) or `"center-crop"` (87.5% centre crop,
    /// bicubic: the usual ImageNet evaluation).
    pub async fn predict(&self, rgba: Vec<u8>, width: usize, height: usize, k: usize, fit: String) -> Result<JsValue, JsError> {
        let logits = self.logits(rgba, width, height, fit).await?;
        to_js(&self.model.top_k(&logits, k))
    }

    /// All logits for an RGBA image (see [`WebModel::predict`] for `fit`).
    pub async fn logits(&self, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Vec<f32>, JsError> {
        let image = RgbaImage::new(width, height, rgba).map_err(js_err)?;
        let input = Preprocess::named(&fit).map_err(js_err)?.to_tensor(&image, &self.model.input, self.model.graph.device()).map_err(js_err)?;
        let (logits, _) = self.model.graph.forward(input, &[]).map_err(js_err)?;
        let data = logits.into_data_async().await.map_err(|e| js_err(format!("{e:?}")))?;
        data.try_to_vec::<f32>().map_err(|e| js_err(format!("{e:?}")))
    }

    /// The image as the model sees it (resized, before normalisation), RGBA8 at the input size.
    #[wasm_bindgen(js_name = modelView)]
    pub fn model_view(&self, rgba: Vec<u8>, width: usize, height: usize, fit: String) -> Result<Vec<u8>, JsError> {
        let image = RgbaImage::new(width, height, rgba).map_err(js_err)?;
        let rgb = Preprocess::named(&fit).map_err(js_err)?.resize(&image, &self.model.input).map_err(js_err)?;
        Ok(rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect())
    }
}
