//! Gradients on wgpu against the CPU's, in plain burn ops: the reductions of the fault that
//! made every gradient view wrong on the GPU with burn 0.22.1's operation fusion (see
//! `convscope_core::fusion`). Each case is an op whose backward reads a saved tensor (sigmoid,
//! exp, `x * x`; or `x * 3`, which saves none) under a pooling, or under a convolution and ReLU
//! (and a channel slice). With fusion on, 8 of the 16 came out wrong on Mesa lavapipe (every
//! sigmoid and exp case: ops whose backward reads their own output), off by about their own
//! size; unfused, all 16 agree to 1e-9. Builds leave fusion out; to check a newer burn,
//! `CONVSCOPE_TEST_FUSION=on cargo test --release -p convscope-core --features fusion --test
//! fusion` compiles it in and leaves it on.

mod common;

use burn::tensor::{
    Device, DeviceKind, Tensor, TensorData,
    activation::{relu, sigmoid},
    module::{avg_pool2d, conv2d, max_pool2d},
    ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions},
};
use common::{XorShift, to_vec};

/// The input gradient of `loss(before(x))` for a 28x28 one-channel `x`.
fn gradient(device: &Device, before: &str, after: &str) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let x0: Vec<f32> = (0..28 * 28).map(|i| ((i * 7919 % 101) as f32 / 50.0) - 1.0).collect();
    let leaf = Tensor::<4>::from_data(TensorData::new(x0, [1, 1, 28, 28]), &ad).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(XorShift(3).vec(32 * 9, 1.0), [32, 1, 3, 3]), &ad);
    let b = Tensor::<1>::from_data(TensorData::new(XorShift(5).vec(32, 0.1), [32]), &ad);
    let x = match before {
        "3 * x" => leaf.clone() * 3.0,
        "sigmoid(x)" => sigmoid(leaf.clone()),
        "exp(x)" => leaf.clone().exp(),
        _ => leaf.clone() * leaf.clone(),
    };
    let conv = |x| conv2d(x, w.clone(), Some(b.clone()), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    let loss = match after {
        "max pool" => max_pool2d(x, MaxPoolOptions { kernel_size: [2, 2], stride: [2, 2], padding: [(0, 0); 2], dilation: [1, 1], ceil_mode: false }).mean(),
        "avg pool" => {
            avg_pool2d(x, AvgPoolOptions { kernel_size: [2, 2], stride: [2, 2], padding: [(0, 0); 2], count_include_pad: true, ceil_mode: false }).mean()
        }
        "conv, relu" => relu(conv(x)).mean(),
        _ => -relu(conv(x)).slice([0..1, 2..3, 0..28, 0..28]).mean(),
    };
    to_vec(leaf.grad(&loss.backward()).unwrap())
}

#[test]
fn input_gradients_on_wgpu_equal_the_cpus() {
    if std::env::var("CONVSCOPE_TEST_BACKENDS").as_deref() == Ok("cpu") {
        return;
    }
    if std::env::var("CONVSCOPE_TEST_FUSION").as_deref() != Ok("on") {
        convscope_core::fusion::turn_off();
    }
    let wgpu = Device::wgpu(DeviceKind::DefaultDevice);
    let mut wrong = vec![];
    for after in ["max pool", "avg pool", "conv, relu", "conv, relu, channel 2"] {
        for before in ["3 * x", "sigmoid(x)", "exp(x)", "x * x"] {
            let (cpu, gpu) = (gradient(&Device::flex(), before, after), gradient(&wgpu, before, after));
            let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 1e-5, "{after} of {before}: the CPU's gradient is zero, nothing to compare");
            let worst = cpu.iter().zip(&gpu).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            println!("{after} of {before}: largest difference {worst:.3e} against largest value {scale:.3e}");
            if worst > 1e-4 * scale {
                wrong.push(format!("{after} of {before}: off by {worst} (largest value {scale})"));
            }
        }
    }
    assert!(wrong.is_empty(), "wgpu's gradients differ from the CPU's: {wrong:#?}");
}
