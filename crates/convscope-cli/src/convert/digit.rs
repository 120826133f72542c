//! The digit CNN from PyPI `digit-recognizer-py` 0.1.0: three conv-ReLU-maxpool stages and
//! two linear layers, 1x28x28 grey input.

use std::collections::HashMap;

use convscope_core::graph::ops::*;
use convscope_core::{
    format::ModelFile,
    graph::{Activation, INPUT, OpSpec},
    preprocess::InputSpec,
    tensor_data::HostTensor,
};

use super::{Builder, header};

pub fn build(source: HashMap<String, HostTensor>) -> Result<ModelFile, String> {
    let mut b = Builder::new(source);
    let mut x = INPUT.to_string();
    for (i, layer) in [0, 3, 6].into_iter().enumerate() {
        let n = i + 1;
        let src = format!("conv_layers.{layer}");
        let c = b.conv(&format!("conv{n}.conv"), &x, &format!("{src}.weight"), Some(&format!("{src}.bias")), 1, [[1, 1]; 2], 1)?;
        let c = b.act(&format!("conv{n}"), &c, Activation::Relu);
        let pool = OpSpec::MaxPool2d(MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [[0, 0]; 2], dilation: [1, 1], ceil_mode: false });
        x = b.node(&format!("pool{n}"), pool, &[&c]);
    }
    let x = b.node("flatten", OpSpec::Flatten(Flatten {}), &[&x]);
    let x = b.linear("fc1.linear", &x, "fc_layers.0")?;
    let x = b.act("fc1", &x, Activation::Relu);
    b.linear("logits", &x, "fc_layers.2")?;
    let input = InputSpec { channels: 1, height: 28, width: 28, mean: [0.1307 * 255.0; 3], std: [0.3081 * 255.0; 3], bgr: false };
    let labels = (0..10).map(|d| d.to_string()).collect();
    b.finish(header("digit-cnn", "Handwritten digit CNN, 10 classes, white digit on black (PyPI digit-recognizer-py 0.1.0, MIT)", input, labels))
}
