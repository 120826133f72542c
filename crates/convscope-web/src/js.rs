//! Everything that turns Rust values into JS ones and back: errors, JSON, plain objects,
//! pictures, read-backs, and the test flag. Every other module of the crate uses these; this
//! one uses none of them.

use std::sync::atomic::{AtomicBool, Ordering};

use convscope_core::render::Canvas;
use wasm_bindgen::prelude::*;

/// Any error as a JS `Error` with its message.
pub(crate) fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A serialisable value as a plain JS value (through JSON).
pub(crate) fn to_js(v: &impl serde::Serialize) -> Result<JsValue, JsError> {
    let s = serde_json::to_string(v).map_err(js_err)?;
    js_sys::JSON::parse(&s).map_err(|_| JsError::new("internal: bad JSON"))
}

/// Set a property of a plain JS object.
pub(crate) fn set(obj: &js_sys::Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(obj, &JsValue::from_str(key), value).map(|_| ()).map_err(|_| JsError::new("internal: cannot set a property"))
}

/// A picture as `{width, height, rgba: Uint8Array}`, ready for `ImageData`.
pub(crate) fn picture(c: &Canvas) -> Result<JsValue, JsError> {
    let obj = js_sys::Object::new();
    set(&obj, "width", &(c.width as u32).into())?;
    set(&obj, "height", &(c.height as u32).into())?;
    set(&obj, "rgba", &js_sys::Uint8Array::from(&c.pixels[..]).into())?;
    Ok(obj.into())
}

/// Read a tensor back to the host (the core's read-back, awaited).
pub(crate) async fn read_back<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f32>, JsError> {
    convscope_core::readback::read(t).await.map_err(js_err)
}

static TEST_HOOKS: AtomicBool = AtomicBool::new(false);

/// Let the numbers that only tests read (raw activations, raw attention maps, logits) cross
/// the boundary. Off by default: the page draws pictures the engine made and never needs them.
#[wasm_bindgen(js_name = enableTestHooks)]
pub fn enable_test_hooks() {
    TEST_HOOKS.store(true, Ordering::Relaxed);
}

/// Whether [`enable_test_hooks`] was called.
pub(crate) fn test_hooks() -> bool {
    TEST_HOOKS.load(Ordering::Relaxed)
}

/// The error for a test-only export called without the flag.
pub(crate) fn test_only(what: &str) -> JsError {
    JsError::new(&format!("{what} is for tests: call enableTestHooks() first"))
}
