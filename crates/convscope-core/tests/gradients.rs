//! Gradients from burn's autodiff through the graph agree with finite differences, with
//! respect to the input and to an inner layer's activation, on every backend.

mod common;

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use common::{XorShift, devices, to_vec};
use convscope_core::graph::ops::*;
use convscope_core::{
    Graph, Value,
    graph::{Activation, GraphSpec, INPUT, NodeSpec, OpSpec},
    tensor_data::HostTensor,
};

const IN: [usize; 3] = [3, 9, 9];
const CLASS: usize = 1;

fn node(id: &str, op: OpSpec, inputs: &[&str]) -> NodeSpec {
    NodeSpec { id: id.into(), op, inputs: inputs.iter().map(|s| s.to_string()).collect() }
}

/// conv (stride 2, TF-style asymmetric padding) -> BN -> ReLU6 -> depthwise conv -> tanh,
/// residual add, global average pool, linear.
fn tiny_graph(device: &Device) -> Graph {
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    let mut t = HashMap::new();
    let mut put = |name: &str, shape: Vec<usize>, scale: f32, offset: f32| {
        let n = shape.iter().product();
        let data = rng.vec(n, scale).into_iter().map(|v| v + offset).collect();
        t.insert(name.to_string(), HostTensor::new(shape, data).unwrap());
    };
    put("c1.w", vec![4, 3, 3, 3], 0.5, 0.0);
    put("c1.b", vec![4], 0.2, 0.0);
    put("bn.g", vec![4], 0.3, 1.0);
    put("bn.b", vec![4], 0.2, 0.5);
    put("bn.m", vec![4], 0.2, 0.0);
    put("bn.v", vec![4], 0.3, 1.0);
    put("dw.w", vec![4, 1, 3, 3], 0.6, 0.0);
    put("fc.w", vec![3, 4], 1.0, 0.0);
    put("fc.b", vec![3], 0.1, 0.0);
    let conv = |w: &str, b: Option<&str>, stride, padding, groups| {
        OpSpec::Conv2d(Conv2d { weight: w.into(), bias: b.map(Into::into), stride: [stride; 2], padding, dilation: [1, 1], groups, act: None })
    };
    let spec = GraphSpec {
        input_shape: IN,
        nodes: vec![
            node("c1", conv("c1.w", Some("c1.b"), 2, [[0, 1], [0, 1]], 1), &[INPUT]),
            node("bn", OpSpec::BatchNorm(BatchNorm { gamma: "bn.g".into(), beta: "bn.b".into(), mean: "bn.m".into(), var: "bn.v".into(), eps: 1e-3 }), &["c1"]),
            node("a1", OpSpec::Act(Act(Activation::Relu6)), &["bn"]),
            node("dw", conv("dw.w", None, 1, [[1, 1], [1, 1]], 4), &["a1"]),
            node("a2", OpSpec::Act(Act(Activation::Tanh)), &["dw"]),
            node("block", OpSpec::Arith(Arith::of_two(ArithOp::Add)), &["a2", "a1"]),
            node("pool", OpSpec::GlobalAvgPool(GlobalAvgPool {}), &["block"]),
            node("logits", OpSpec::Linear(Linear { weight: "fc.w".into(), bias: Some("fc.b".into()) }), &["pool"]),
        ],
    };
    Graph::load(&spec, t, device).unwrap()
}

fn input() -> Vec<f32> {
    XorShift(42).vec(IN.iter().product(), 1.0)
}

fn logit(graph: &Graph, x: &[f32], device: &Device) -> f32 {
    let t = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [1, IN[0], IN[1], IN[2]]), device);
    let (logits, _) = graph.forward(t, &[]).unwrap();
    to_vec(logits)[CLASS]
}

/// `(f(x + h e_i) - f(x - h e_i)) / 2h` for every coordinate i, with h = 1e-2.
fn central_differences(x: &[f32], f: impl Fn(&[f32]) -> f32) -> Vec<f32> {
    let h = 1e-2;
    (0..x.len())
        .map(|i| {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

fn assert_close(backend: &str, what: &str, autodiff: &[f32], numeric: &[f32]) {
    let scale = autodiff.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "{backend} {what}: gradient is (nearly) zero, nothing is checked");
    for (i, (a, n)) in autodiff.iter().zip(numeric).enumerate() {
        assert!((a - n).abs() <= 2e-2 * scale, "{backend} {what}[{i}]: autodiff {a} vs finite difference {n} (scale {scale})");
    }
}

#[test]
fn input_gradient_matches_finite_differences() {
    for (backend, device) in devices() {
        let device = device.autodiff();
        let graph = tiny_graph(&device);
        let x = input();
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, IN[0], IN[1], IN[2]]), &device).require_grad();
        let (logits, _) = graph.forward(t.clone(), &[]).unwrap();
        let grads = logits.slice([0..1, CLASS..CLASS + 1]).sum().backward();
        let g = to_vec(t.grad(&grads).expect("input gradient"));
        let numeric = central_differences(&x, |v| logit(&graph, v, &device));
        assert_close(backend, "d logit / d input", &g, &numeric);
    }
}

#[test]
fn layer_gradient_matches_finite_differences_through_the_skip_connection() {
    for (backend, device) in devices() {
        let device = device.autodiff();
        let graph = tiny_graph(&device);
        let x = Tensor::<4>::from_data(TensorData::new(input(), [1, IN[0], IN[1], IN[2]]), &device);
        // a1 feeds both the depthwise branch and the residual add: its gradient has two paths.
        let trace = graph.forward_to(x, graph.layer("a1").unwrap()).unwrap();
        let Value::Spatial(act) = trace.activation().clone() else { panic!("a1 is spatial") };
        let act = act.detach().require_grad();
        let logits = graph.forward_from(&trace, Value::Spatial(act.clone())).unwrap();
        let grads = logits.slice([0..1, CLASS..CLASS + 1]).sum().backward();
        let g = to_vec(act.grad(&grads).expect("layer gradient"));
        let dims = act.dims();
        let a0 = to_vec(act.detach());
        let run = |v: &[f32]| {
            let t = Tensor::<4>::from_data(TensorData::new(v.to_vec(), dims), &device);
            to_vec(graph.forward_from(&trace, Value::Spatial(t)).unwrap())[CLASS]
        };
        let numeric = central_differences(&a0, run);
        assert_close(backend, "d logit / d a1", &g, &numeric);
        // Resuming from the untouched activation reproduces the plain forward pass.
        let full = to_vec(graph.forward(Tensor::from_data(TensorData::new(input(), [1, IN[0], IN[1], IN[2]]), &device), &[]).unwrap().0);
        let resumed = to_vec(graph.forward_from(&trace, trace.activation().clone()).unwrap());
        for (a, b) in full.iter().zip(&resumed) {
            assert!((a - b).abs() < 1e-5, "{backend}: resumed {b} vs full {a}");
        }
    }
}

#[test]
fn batch_norm_and_activation_are_folded_into_the_conv() {
    let graph = tiny_graph(&Device::flex());
    let ids: Vec<&str> = graph.layers().iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "block", "pool", "logits"]);
    assert_eq!(graph.layers()[0].kind, "conv2d+relu6");
    assert_eq!(graph.layers()[0].shape, vec![4, 4, 4]);
    assert_eq!(graph.layers()[1].kind, "conv2d (grouped)+tanh");
    assert_eq!(graph.last_spatial_layer(), graph.layer("block").ok());
}
