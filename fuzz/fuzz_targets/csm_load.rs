//! The `.csm` loader on arbitrary bytes: `Model::from_bytes` must return a model or an error,
//! never panic, hang or run out of memory (the header's JSON, its tensor index, the graph's
//! shapes and the weights' checks). A model it accepts is run on zeros when small, so a file
//! the loader accepts cannot crash the first prediction.
#![no_main]

use burn::tensor::Device;
use convscope_core::model::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let device = Device::flex();
    if let Ok(model) = Model::from_bytes(data, &device) {
        let graph = &model.graph;
        let [c, h, w] = graph.input_shape();
        let values: usize = graph.layers().iter().map(|l| l.shape.iter().product::<usize>()).sum::<usize>() + c * h * w;
        if values <= 1 << 16 {
            let x = burn::tensor::Tensor::<4>::zeros([1, c, h, w], &device);
            let _ = graph.activations(x, &[graph.output()]);
        }
    }
});
