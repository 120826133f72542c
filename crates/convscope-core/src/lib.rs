//! convscope's core: CNN models as graphs of named layers on a burn `Device`, and the
//! algorithms that look inside them.
//!
//! Nothing here does I/O or touches the DOM: callers hand in bytes and a device, and get
//! tensors and numbers back. The only thing awaited is a read-back ([`readback`]), so the
//! orchestrators that read back (a prediction, a map, its faithfulness, the sanity check) are
//! `async`: the page awaits them and the CLI blocks on them. The same code runs on the CPU
//! (`Device::flex()`), natively on wgpu, and in the browser on WebGPU.

#![warn(missing_docs)]

pub mod activations;
pub mod adapter;
pub mod attention;
mod error;
pub mod examples;
pub mod format;
pub mod fusion;
pub mod graph;
pub mod kernels;
pub mod model;
pub mod onnx;
pub mod patterns;
pub mod preprocess;
pub mod progress;
pub mod readback;
pub mod render;
pub mod rng;
pub mod sparse;
pub mod tensor_data;

pub use error::{DEVICE_LOST, Error, Result};
pub use graph::{Graph, LayerId, LayerInfo, Trace, Value};
pub use model::{Model, Prediction, Prepared};
pub use preprocess::{InputSpec, RgbaImage};
