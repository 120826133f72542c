//! The ONNX importer on arbitrary bytes: it must return a model or an error, never panic,
//! hang or run out of memory. What it imports as an image classifier is loaded onto the CPU
//! device (shape and weight checks, the load-time folds); what it imports as tensors
//! (`import_tensors`, the node-test mode) is loaded too and, when small, run on zeros, so a
//! graph the importer accepts cannot crash later.
#![no_main]

use burn::tensor::{Device, Tensor};
use convscope_core::{graph::Graph, onnx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let device = Device::flex();
    if let Ok(imported) = onnx::import(data) {
        let _ = Graph::load(&imported.graph, imported.weights, &device);
    }
    if let Ok(imported) = onnx::import_tensors(data)
        && let Ok(graph) = Graph::load_any(&imported.graph, imported.weights, &device)
    {
        let [c, h, w] = graph.input_shape();
        let values: usize = graph.layers().iter().map(|l| l.shape.iter().product::<usize>()).sum::<usize>() + c * h * w;
        if values <= 1 << 16 {
            let x = Tensor::<4>::zeros([1, c, h, w], &device);
            let _ = graph.activations(x, &[graph.output()]);
        }
    }
});
