//! The ONNX importer on arbitrary bytes: it must return a model or an error, never panic,
//! hang or run out of memory. What it imports is also loaded onto the CPU device (shape and
//! weight checks, the load-time folds), so a graph the importer accepts cannot crash later.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(imported) = convscope_core::onnx::import(data) {
        let _ = convscope_core::graph::Graph::load(&imported.graph, imported.weights, &burn::tensor::Device::flex());
    }
});
