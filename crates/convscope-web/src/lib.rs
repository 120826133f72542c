//! convscope in the browser: a narrow, typed boundary over `convscope-core`.
//!
//! Bytes and typed arrays come in, typed arrays and small JSON objects go out, and every
//! export returns `Result<_, JsError>` so bad input becomes a message in the page rather than
//! a panic. The page does no tensor maths.
//!
//! The handles, and what each holds (modules depend downwards only: `js` <- `model` <-
//! `analysis` <- the views):
//! - [`Engine`]: the device (WebGPU or the CPU); loads models.
//! - [`WebModel`]: one loaded model; classifies, and analyses an image into an [`Analysis`].
//! - [`Analysis`]: one image's pass through the network (every layer kept on the device),
//!   shared by any number of views.
//! - The views, each a small handle over a model and the analyses it shows:
//!   [`ActivationsView`], [`AttentionView`], [`PatternRun`].

#![warn(missing_docs)]

mod activations;
mod analysis;
mod attention;
mod js;
mod logger;
mod model;
mod patterns;

pub use activations::ActivationsView;
pub use analysis::Analysis;
pub use attention::AttentionView;
pub use model::WebModel;
pub use patterns::PatternRun;

use burn::tensor::Device;
use convscope_core::{Model, onnx};
use js::js_err;
use wasm_bindgen::prelude::*;

/// The named normalisations an imported model can take: `[{id, label, mean, std}]`,
/// ImageNet's first (the form's menu; the model's own is `info().preset`).
#[wasm_bindgen(js_name = onnxPresets)]
pub fn onnx_presets() -> Result<JsValue, JsError> {
    js::to_js(&convscope_core::preprocess::PRESETS)
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
            Err(e) => Engine { device: Device::flex(), backend: "cpu".into(), note: format!("WebGPU unavailable ({e}); running on the CPU") },
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
        Ok(WebModel::new(model))
    }

    /// Import an ONNX model (its bytes stay in the page). `mean` and `std` are as a person
    /// types them, on pixel values 0..255: `R, G, B`, one number, or empty for the model's
    /// default (ImageNet's for RGB, 0 and 255 for grey); `bgr` when the model takes blue,
    /// green, red planes; `labels` is a labels file's text (one class per line, or JSON), or
    /// empty. The values in effect are in `info().input`, and their preset in `info().preset`.
    #[wasm_bindgen(js_name = loadOnnx)]
    pub fn load_onnx(&self, bytes: &[u8], name: String, mean: String, std: String, bgr: bool, labels: String) -> Result<WebModel, JsError> {
        let pre = onnx::Preprocessing::parse(&mean, &std, bgr, labels).map_err(js_err)?;
        let model = onnx::load(bytes, &name, &pre, &self.device).map_err(js_err)?;
        Ok(WebModel::new(model))
    }
}
