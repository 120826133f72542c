//! Each op against a naive implementation written out here, on every backend: convolution
//! with groups, stride, dilation and asymmetric padding; pooling with padding; the rest.

mod common;

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use common::{XorShift, devices, to_vec};
use convscope_core::graph::ops::*;
use convscope_core::{
    Graph,
    graph::{Activation, GraphSpec, INPUT, NodeSpec, OpSpec},
    tensor_data::HostTensor,
};

/// Run a graph whose nodes end in a flatten, return the flat output of `node` for `x`.
fn run(nodes: Vec<NodeSpec>, tensors: HashMap<String, HostTensor>, shape: [usize; 3], x: &[f32], device: &Device) -> Vec<f32> {
    let mut nodes = nodes;
    let last = nodes.last().unwrap().id.clone();
    nodes.push(NodeSpec { id: "out".into(), op: OpSpec::Flatten(Flatten {}), inputs: vec![last] });
    let graph = Graph::load(&GraphSpec { input_shape: shape, nodes }, tensors, device).unwrap();
    let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [1, shape[0], shape[1], shape[2]]), device);
    to_vec(graph.forward(input, &[]).unwrap().0)
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: got {g}, want {w}");
    }
}

#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f32],
    [c, h, w]: [usize; 3],
    k: &[f32],
    [o, kh, kw]: [usize; 3],
    b: &[f32],
    stride: usize,
    pad: [[usize; 2]; 2],
    dil: usize,
    groups: usize,
) -> (Vec<f32>, [usize; 3]) {
    let oh = (h + pad[0][0] + pad[0][1] - dil * (kh - 1) - 1) / stride + 1;
    let ow = (w + pad[1][0] + pad[1][1] - dil * (kw - 1) - 1) / stride + 1;
    let (cin_g, cout_g) = (c / groups, o / groups);
    let mut out = vec![0f32; o * oh * ow];
    for oc in 0..o {
        let g = oc / cout_g;
        for y in 0..oh {
            for xx in 0..ow {
                let mut acc = b[oc];
                for ic in 0..cin_g {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (y * stride + ky * dil) as isize - pad[0][0] as isize;
                            let ix = (xx * stride + kx * dil) as isize - pad[1][0] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let cc = g * cin_g + ic;
                            acc += x[(cc * h + iy as usize) * w + ix as usize] * k[((oc * cin_g + ic) * kh + ky) * kw + kx];
                        }
                    }
                }
                out[(oc * oh + y) * ow + xx] = acc;
            }
        }
    }
    (out, [o, oh, ow])
}

#[test]
fn convolution_matches_naive_loops() {
    // (in shape, out channels, kernel, stride, padding, dilation, groups)
    #[allow(clippy::type_complexity)]
    let cases: [([usize; 3], usize, [usize; 2], usize, [[usize; 2]; 2], usize, usize); 4] = [
        ([3, 7, 6], 4, [3, 3], 2, [[0, 1], [0, 1]], 1, 1), // TF "same" stride 2
        ([4, 8, 8], 4, [5, 5], 1, [[2, 2], [2, 2]], 1, 4), // depthwise 5x5
        ([4, 9, 9], 6, [3, 3], 1, [[2, 2], [2, 2]], 2, 2), // grouped, dilated
        ([2, 5, 7], 3, [1, 3], 1, [[0, 0], [1, 0]], 1, 1), // non-square kernel, one-sided pad
    ];
    for (backend, device) in devices() {
        let mut rng = XorShift(7);
        for (n, (shape, o, [kh, kw], stride, pad, dil, groups)) in cases.into_iter().enumerate() {
            let x = rng.vec(shape.iter().product(), 1.0);
            let k = rng.vec(o * shape[0] / groups * kh * kw, 0.5);
            let b = rng.vec(o, 0.1);
            let (want, _) = naive_conv(&x, shape, &k, [o, kh, kw], &b, stride, pad, dil, groups);
            let mut t = HashMap::new();
            t.insert("k".to_string(), HostTensor::new(vec![o, shape[0] / groups, kh, kw], k).unwrap());
            t.insert("b".to_string(), HostTensor::new(vec![o], b).unwrap());
            let op =
                OpSpec::Conv2d(Conv2d { weight: "k".into(), bias: Some("b".into()), stride: [stride; 2], padding: pad, dilation: [dil; 2], groups, act: None });
            let got = run(vec![NodeSpec { id: "c".into(), op, inputs: vec![INPUT.into()] }], t, shape, &x, &device);
            close(&format!("{backend} conv case {n}"), &got, &want);
        }
    }
}

#[test]
fn pooling_matches_naive_loops() {
    let shape = [2, 5, 6];
    let x: Vec<f32> = XorShift(3).vec(60, 2.0);
    let at = |c: usize, y: isize, xx: isize| -> Option<f32> { (y >= 0 && xx >= 0 && y < 5 && xx < 6).then(|| x[(c * 5 + y as usize) * 6 + xx as usize]) };
    // 3x3 windows, stride 2, padding 1 on every side.
    let (oh, ow) = ((5 + 2 - 3) / 2 + 1, (6 + 2 - 3) / 2 + 1);
    let (mut max, mut avg_incl, mut avg_excl) = (vec![], vec![], vec![]);
    for c in 0..2 {
        for y in 0..oh {
            for xx in 0..ow {
                let cells: Vec<f32> = (0..3)
                    .flat_map(|dy| (0..3).map(move |dx| (dy, dx)))
                    .filter_map(|(dy, dx)| at(c, (y * 2 + dy) as isize - 1, (xx * 2 + dx) as isize - 1))
                    .collect();
                max.push(cells.iter().copied().fold(f32::NEG_INFINITY, f32::max));
                avg_incl.push(cells.iter().sum::<f32>() / 9.0);
                avg_excl.push(cells.iter().sum::<f32>() / cells.len() as f32);
            }
        }
    }
    let gmax: Vec<f32> = (0..2).map(|c| x[c * 30..(c + 1) * 30].iter().copied().fold(f32::NEG_INFINITY, f32::max)).collect();
    let gavg: Vec<f32> = (0..2).map(|c| x[c * 30..(c + 1) * 30].iter().sum::<f32>() / 30.0).collect();
    for (backend, device) in devices() {
        let one = |op: OpSpec| run(vec![NodeSpec { id: "p".into(), op, inputs: vec![INPUT.into()] }], HashMap::new(), shape, &x, &device);
        let pad = [[1, 1], [1, 1]];
        close(
            &format!("{backend} max"),
            &one(OpSpec::MaxPool2d(MaxPool2d { kernel: [3, 3], stride: [2, 2], padding: pad, dilation: [1, 1], ceil_mode: false })),
            &max,
        );
        close(
            &format!("{backend} avg incl"),
            &one(OpSpec::AvgPool2d(AvgPool2d { kernel: [3, 3], stride: [2, 2], padding: pad, count_include_pad: true, ceil_mode: false, dilation: [1, 1] })),
            &avg_incl,
        );
        close(
            &format!("{backend} avg excl"),
            &one(OpSpec::AvgPool2d(AvgPool2d { kernel: [3, 3], stride: [2, 2], padding: pad, count_include_pad: false, ceil_mode: false, dilation: [1, 1] })),
            &avg_excl,
        );
        close(&format!("{backend} global max"), &one(OpSpec::GlobalMaxPool(GlobalMaxPool {})), &gmax);
        close(&format!("{backend} global avg"), &one(OpSpec::GlobalAvgPool(GlobalAvgPool {})), &gavg);
    }
}

#[test]
fn elementwise_ops_match_their_formulas() {
    let shape = [2, 2, 2];
    let x: Vec<f32> = vec![-7.0, -2.0, -0.5, 0.0, 0.25, 1.0, 3.0, 8.0];
    type F = fn(f32) -> f32;
    let cases: Vec<(Activation, F)> = vec![
        (Activation::Relu, |v| v.max(0.0)),
        (Activation::Relu6, |v| v.clamp(0.0, 6.0)),
        (Activation::Clip { min: -1.0, max: 2.0 }, |v| v.clamp(-1.0, 2.0)),
        (Activation::LeakyRelu { alpha: 0.1 }, |v| if v > 0.0 { v } else { 0.1 * v }),
        (Activation::Sigmoid, |v| 1.0 / (1.0 + (-v).exp())),
        (Activation::HardSigmoid { alpha: 0.2, beta: 0.5 }, |v| (0.2 * v + 0.5).clamp(0.0, 1.0)),
        (Activation::HardSwish, |v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0)),
        (Activation::Tanh, f32::tanh),
        (Activation::Silu, |v| v / (1.0 + (-v).exp())),
    ];
    for (backend, device) in devices() {
        for (act, f) in &cases {
            let got = run(vec![NodeSpec { id: "a".into(), op: OpSpec::Act(Act(*act)), inputs: vec![INPUT.into()] }], HashMap::new(), shape, &x, &device);
            let want: Vec<f32> = x.iter().map(|v| f(*v)).collect();
            close(&format!("{backend} {}", act.name()), &got, &want);
        }
        // add, mul, concat, reshape, softmax wired together.
        let nodes = vec![
            NodeSpec { id: "sum".into(), op: OpSpec::Arith(Arith::of_two(ArithOp::Add)), inputs: vec![INPUT.into(), INPUT.into()] },
            NodeSpec { id: "sq".into(), op: OpSpec::Arith(Arith::of_two(ArithOp::Mul)), inputs: vec![INPUT.into(), INPUT.into()] },
            NodeSpec { id: "cat".into(), op: OpSpec::Concat(Concat { axis: 0 }), inputs: vec!["sum".into(), "sq".into()] },
            NodeSpec { id: "flat".into(), op: OpSpec::Reshape(Reshape { shape: vec![16] }), inputs: vec!["cat".into()] },
            NodeSpec { id: "soft".into(), op: OpSpec::Softmax(Softmax { axis: 0 }), inputs: vec!["flat".into()] },
        ];
        let got = run(nodes, HashMap::new(), shape, &x, &device);
        let cat: Vec<f32> = x.iter().map(|v| 2.0 * v).chain(x.iter().map(|v| v * v)).collect();
        let m = cat.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let s: f32 = cat.iter().map(|v| (v - m).exp()).sum();
        let want: Vec<f32> = cat.iter().map(|v| (v - m).exp() / s).collect();
        close(&format!("{backend} add/mul/concat/reshape/softmax"), &got, &want);
    }
}

#[test]
fn the_grad_cam_layer_is_a_map_of_the_image_not_a_channels_last_value() {
    // conv [4, 6, 6] -> relu -> transpose to [6, 6, 4] (channels last, as ConvNeXt's layer
    // norms see their input) -> flatten -> linear. The CAM layer is the relu's map: the
    // transposed value's last two axes (6 x 4) are no map's height and width.
    let mut t = HashMap::new();
    t.insert("w".to_string(), HostTensor::new(vec![4, 1, 3, 3], vec![0.1; 36]).unwrap());
    t.insert("fc".to_string(), HostTensor::new(vec![2, 144], vec![0.01; 288]).unwrap());
    let conv = Conv2d { weight: "w".into(), bias: None, stride: [1, 1], padding: [[1, 1], [1, 1]], dilation: [1, 1], groups: 1, act: None };
    let nodes = vec![
        NodeSpec { id: "conv".into(), op: OpSpec::Conv2d(conv), inputs: vec![INPUT.into()] },
        NodeSpec {
            id: "pad".into(),
            op: OpSpec::Pad(Pad { pads: vec![[0, 0], [0, 0], [0, 0]], value: 0.0, mode: PadMode::Constant }),
            inputs: vec!["conv".into()],
        },
        NodeSpec { id: "last".into(), op: OpSpec::Transpose(Transpose { perm: vec![1, 2, 0] }), inputs: vec!["pad".into()] },
        NodeSpec { id: "flat".into(), op: OpSpec::Flatten(Flatten {}), inputs: vec!["last".into()] },
        NodeSpec { id: "fc".into(), op: OpSpec::Linear(Linear { weight: "fc".into(), bias: None }), inputs: vec!["flat".into()] },
    ];
    let graph = Graph::load(&GraphSpec { input_shape: [1, 6, 6], nodes }, t, &Device::flex()).unwrap();
    assert_eq!(graph.info(graph.last_spatial_layer().unwrap()).id, "pad");
}
