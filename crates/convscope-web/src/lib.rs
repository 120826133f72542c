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
//!   [`ActivationsView`], [`AttentionView`], [`PatternRun`]; and [`ExampleIndex`], the dataset
//!   examples of a set of images.

#![warn(missing_docs)]

mod activations;
mod alloc;
mod analysis;
mod attention;
mod examples;
mod js;
mod logger;
mod model;
mod patterns;

pub use activations::ActivationsView;
pub use alloc::live_bytes;
pub use analysis::Analysis;
pub use attention::AttentionView;
pub use examples::ExampleIndex;
pub use model::WebModel;
pub use patterns::PatternRun;

use burn::tensor::Device;
use convscope_core::{Model, adapter::AdapterInfo, onnx};
use js::js_err;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, prelude::*};

/// What the browser says of its WebGPU adapter (in a page or a worker); `None` when it has
/// no WebGPU or gives no adapter.
async fn adapter_info() -> Option<AdapterInfo> {
    let get = |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k)).ok().filter(|v| !v.is_undefined() && !v.is_null());
    let gpu = get(&get(&js_sys::global().into(), "navigator")?, "gpu")?;
    let request: js_sys::Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    // The adapter burn's wgpu start-up asks for (high performance), so the one judged is the one used.
    let options = js_sys::Object::new();
    Reflect::set(&options, &JsValue::from_str("powerPreference"), &JsValue::from_str("high-performance")).ok()?;
    let promise: js_sys::Promise = request.call1(&gpu, &options).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok().filter(|a| !a.is_null() && !a.is_undefined())?;
    let info = get(&adapter, "info");
    let text = |k: &str| info.as_ref().and_then(|i| get(i, k)?.as_string()).unwrap_or_default();
    // Newer browsers say it in `info`, older ones on the adapter.
    let flagged = |o: &JsValue| get(o, "isFallbackAdapter").and_then(|v| v.as_bool()).unwrap_or(false);
    Some(AdapterInfo {
        vendor: text("vendor"),
        architecture: text("architecture"),
        device: text("device"),
        description: text("description"),
        fallback: info.as_ref().is_some_and(flagged) || flagged(&adapter),
    })
}

/// Where a backend choice runs and why.
#[derive(serde::Serialize)]
struct Choice {
    /// `"webgpu"` or `"cpu"`.
    backend: String,
    /// Why, in words.
    note: String,
}

/// The backend choice `choice` gives here: `"cpu"` and `"webgpu"` are taken as they are;
/// `"auto"` takes WebGPU on a hardware adapter and the CPU where the browser has no WebGPU or
/// only a software adapter ([`AdapterInfo::software`]: ~20x slower than the CPU backend).
async fn choose(choice: &str) -> Choice {
    let (backend, note) = match choice {
        "cpu" => ("cpu", "the CPU was chosen".to_string()),
        "webgpu" => ("webgpu", "WebGPU was chosen".to_string()),
        _ => match adapter_info().await {
            None => ("cpu", "auto chose the CPU: this browser gives no WebGPU adapter".to_string()),
            Some(info) => match info.software() {
                Some(why) => ("cpu", format!("auto chose the CPU: {why}, about 20 times slower here than the CPU backend; choose WebGPU to use it anyway")),
                None => ("webgpu", format!("auto chose WebGPU on {}", info.describe())),
            },
        },
    };
    Choice { backend: backend.into(), note }
}

/// Where backend choice `choice` (`auto`, `webgpu` or `cpu`) runs in this browser, and why:
/// `{backend: "webgpu" | "cpu", note}`. The page creates that backend's [`Engine`].
#[wasm_bindgen(js_name = chooseBackend)]
pub async fn choose_backend(choice: String) -> Result<JsValue, JsError> {
    js::to_js(&choose(&choice).await)
}

/// Call `listener(done, total)` as long work runs the network batch by batch (the slow
/// attention methods, faithfulness, the sanity check; counted in images), or stop with
/// `null`. The worker that runs that work sets it to post its progress to the page.
#[wasm_bindgen(js_name = onProgress)]
pub fn on_progress(listener: Option<js_sys::Function>) {
    convscope_core::progress::listen(listener.map(|f| -> convscope_core::progress::Listener {
        Box::new(move |done, total| {
            // A listener that throws must not stop the work it reports on.
            let _ = f.call2(&JsValue::NULL, &(done as u32).into(), &(total as u32).into());
        })
    }));
}

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
    /// Start on `backend`: `"cpu"` or `"webgpu"` (any adapter, software ones too), or
    /// `"auto"` ([`choose_backend`]). Never fails: a WebGPU failure falls back to the CPU, and
    /// [`Engine::note`] says why.
    pub async fn create(backend: String) -> Engine {
        console_error_panic_hook::set_once();
        logger::init();
        let backend = if backend == "auto" { choose("auto").await.backend } else { backend };
        if backend == "cpu" {
            return Engine::on_cpu(String::new());
        }
        #[cfg(feature = "webgpu")]
        {
            convscope_core::fusion::turn_off();
            match Device::wgpu_options().init_async().await {
                Ok(device) => Engine { device, backend: "webgpu".into(), note: String::new() },
                Err(e) => Engine::on_cpu(format!("WebGPU unavailable ({e}); running on the CPU")),
            }
        }
        #[cfg(not(feature = "webgpu"))]
        Engine::on_cpu("this build has no WebGPU; running on the CPU".into())
    }

    /// The CPU engine, with `note` saying why it is not on WebGPU (empty when the CPU was asked
    /// for; from the page when it could not load the WebGPU build).
    #[wasm_bindgen(js_name = onCpu)]
    pub fn on_cpu(note: String) -> Engine {
        console_error_panic_hook::set_once();
        logger::init();
        Engine { device: Device::flex(), backend: "cpu".into(), note }
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why the engine is not on the backend it was asked for (empty when it is).
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
