//! Filter patterns: the optimization loop against an exact oracle, every objective making
//! its loss go down, finite-difference checks of every parameterization and transform,
//! seeded repeatability, and units that start dead still getting a pattern.

mod common;

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use common::{XorShift, devices, load_model, to_vec};
use convscope_core::graph::ops::*;
use convscope_core::{
    Graph, InputSpec,
    graph::{GraphSpec, INPUT, NodeSpec, OpSpec},
    patterns::{
        Basis, Fit, Options, Param, Render, Squash,
        objective::{self, Objective},
        transform::{Drawn, Fill},
    },
    tensor_data::HostTensor,
};

/// Input spec whose normalisation is the identity: the network sees the image's values.
fn identity_input(channels: usize, size: usize) -> InputSpec {
    InputSpec { channels, height: size, width: size, mean: [0.0; 3], std: [255.0; 3], bgr: false }
}

/// Plain gradient steps on the image, nothing random.
fn plain(size: usize, squash: Squash) -> Options {
    Options {
        size,
        basis: Basis::Pixel,
        decorrelate: false,
        squash,
        transforms: vec![],
        fit: Fit::ModelInput,
        learning_rate: 0.05,
        init_sd: 0.01,
        redirect_steps: 0,
        seed: 1,
    }
}

/// `y = <w, x>`: one convolution whose kernel covers the whole 3x6x6 image.
fn linear_unit(device: &Device) -> (Graph, Vec<f32>) {
    let w = XorShift(0x5eed_1234_abcd_0077).vec(3 * 6 * 6, 1.0);
    let t: HashMap<String, HostTensor> = [("w".to_string(), HostTensor::new(vec![1, 3, 6, 6], w.clone()).unwrap())].into();
    let spec = GraphSpec {
        input_shape: [3, 6, 6],
        nodes: vec![
            NodeSpec {
                id: "unit".into(),
                op: OpSpec::Conv2d(Conv2d {
                    weight: "w".into(),
                    bias: None,
                    stride: [1, 1],
                    padding: [[0, 0], [0, 0]],
                    dilation: [1, 1],
                    groups: 1,
                    act: None,
                }),
                inputs: vec![INPUT.into()],
            },
            NodeSpec { id: "out".into(), op: OpSpec::Flatten(Flatten {}), inputs: vec!["unit".into()] },
        ],
    };
    (Graph::load(&spec, t, device).unwrap(), w)
}

#[test]
fn linear_unit_under_an_l2_bound_goes_to_w_over_its_norm() {
    for (backend, device) in devices() {
        let (g, w) = linear_unit(&device);
        let norm = w.iter().map(|v| v * v).sum::<f32>().sqrt();
        let obj = objective::channel(g.layer("unit").unwrap(), 0, None);
        let mut r = Render::new(&g, &identity_input(3, 6), obj, 1, Options { learning_rate: 0.02, ..plain(6, Squash::L2Ball(1.0)) }).unwrap();
        r.step(400).unwrap();
        let x = to_vec(r.image());
        let err = x.iter().zip(&w).map(|(a, b)| (a - b / norm).abs()).fold(0f32, f32::max);
        let len = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(err < 2e-3, "{backend}: max |x - w/|w|| = {err}");
        assert!((len - 1.0).abs() < 1e-4, "{backend}: |x| = {len}");
        // The loss is -<w, x>, which reaches -|w| at the optimum.
        let loss = to_vec(r.loss().unwrap())[0];
        assert!((loss + norm).abs() < 1e-3 * norm, "{backend}: loss {loss}, -|w| = {}", -norm);
    }
}

/// On both devices (on wgpu, burn's fusion is off: see `convscope_core::fusion`; with it on,
/// the neuron and direction objectives here went uphill in every run).
#[test]
fn every_objective_lowers_its_loss_within_a_few_steps() {
    let mut failed = vec![];
    for (backend, device) in devices() {
        let m = load_model("digit-cnn", &device);
        let g = &m.graph;
        let l = |id: &str| g.layer(id).unwrap();
        let dir: Vec<f32> = XorShift(9).vec(64, 1.0);
        // From a photo (start_from): every layer has live units and gradients, where the grey
        // start leaves the digit CNN's `conv1` off and the later layers at their biases.
        let options = Options { basis: Basis::Fourier, decorrelate: true, redirect_steps: 0, ..plain(28, Squash::Sigmoid) };
        let grey = convscope_core::preprocess::Preprocess::default().resize(&common::sample("chelsea.png"), &m.input).unwrap();
        let photo: Vec<f32> = grey.chunks(3).map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0).collect();
        // Image i of a batch is the photo shifted right by 7i pixels (diversity needs them
        // to differ).
        let start = |obj: Objective, batch: usize| {
            let mut r = Render::new(g, &m.input, obj, batch, options.clone()).unwrap();
            let pixels: Vec<f32> =
                (0..batch).flat_map(|i| (0..28 * 28).map(move |p| (p / 28, (p % 28 + 28 - 7 * i % 28) % 28))).map(|(y, x)| photo[y * 28 + x]).collect();
            r.start_from(&pixels).unwrap();
            r
        };
        // Channels switched on by the photo (a switched-off one has loss 0 until its
        // pre-activation crosses zero).
        let alive_where = |id: &str, k: usize, centre: bool| -> Vec<usize> {
            let r = start(objective::channel(l(id), 0, None), 1);
            let x = r.image() * 255.0 / m.input.std[0] - m.input.mean[0] / m.input.std[0];
            let a = g.activations(x, &[l(id)]).unwrap()[0].clone().spatial("test").unwrap();
            let [_, c, h, w] = a.dims();
            let a = if centre { to_vec(a.slice([0..1, 0..c, h / 2..h / 2 + 1, w / 2..w / 2 + 1])) } else { to_vec(a.mean_dim(3).mean_dim(2)) };
            // The strongest first: a unit that is on only through its bias has no gradient.
            let mut on: Vec<usize> = (0..c).filter(|&i| a[i] > 0.0).collect();
            on.sort_by(|&i, &j| a[j].total_cmp(&a[i]));
            on.truncate(k);
            on
        };
        let alive = |id: &str, k: usize| alive_where(id, k, false);
        let (c1, c2, c3) = (alive("conv1", 2), alive("conv2", 1), alive("conv3", 3));
        let cases: Vec<(Objective, usize)> = vec![
            (objective::channel(l("conv2"), c2[0], None), 1),
            (objective::channels(l("conv1"), &c1), 2),
            (objective::neuron(l("conv3"), alive_where("conv3", 1, true)[0], Some(0)), 1),
            (objective::class(g, 4, None), 1),
            (objective::deepdream(l("conv2"), None), 1),
            (objective::diversity(l("conv2")), 3),
            (objective::direction(l("conv2"), dir, None), 1),
            (objective::channel(l("conv3"), c3[1], None) * 2.0 - objective::channel(l("conv3"), c3[2], None) + objective::diversity(l("conv1")) * 0.5, 2),
        ];
        for (obj, batch) in cases {
            let what = obj.describe(g);
            let mut r = start(obj, batch);
            r.step(1).unwrap();
            let first = to_vec(r.loss().unwrap())[0];
            r.step(10).unwrap();
            let last = to_vec(r.loss().unwrap())[0];
            if last >= first - 1e-4 * first.abs().max(1.0) {
                failed.push(format!("{backend}: `{what}` went from {first} to {last}"));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn objectives_describe_themselves_and_refuse_what_does_not_exist() {
    let m = load_model("digit-cnn", &Device::flex());
    let g = &m.graph;
    let conv2 = g.layer("conv2").unwrap();
    let obj = objective::channel(conv2, 3, None) - objective::diversity(conv2) * 100.0;
    assert_eq!(obj.describe(g), "channel 3 of conv2 - 100 x diversity of conv2");
    assert_eq!(objective::channels(conv2, &[0, 1, 2]).describe(g), "channels 0-2 of conv2, one per image");
    assert_eq!((-objective::neuron(conv2, 1, Some(0))).describe(g), "-centre unit of channel 1 of conv2 (image 0)");
    let err = |obj: Objective, batch: usize| Render::new(g, &m.input, obj, batch, Options::default()).unwrap_err().to_string();
    assert!(err(objective::channel(conv2, 64, None), 1).contains("layer `conv2` has 64 channels (0..63); channel 64 does not exist"));
    assert!(err(objective::class(g, 10, None), 1).contains("channel 10 does not exist"));
    assert!(err(objective::diversity(conv2), 1).contains("needs 2 or more"));
    assert!(err(objective::channels(conv2, &[1, 2]), 3).contains("2 channels for a batch of 3 images"));
    assert!(err(objective::direction(conv2, vec![1.0; 5], None), 1).contains("the direction has 5 values, layer `conv2` has 64 channels"));
    assert!(err(objective::neuron(conv2, 0, Some(4)), 2).contains("batch element 4 does not exist"));
    // The digit CNN flattens before its classifier: the logits need the model's input size.
    let as_is = Options { fit: Fit::AsIs, size: 56, ..Options::default() };
    let e = Render::new(g, &m.input, objective::class(g, 1, None), 1, as_is.clone()).unwrap_err().to_string();
    assert!(e.contains("layer `logits` needs the model's input size (28x28)"), "{e}");
    assert!(Render::new(g, &m.input, objective::channel(conv2, 1, None), 1, as_is).is_ok());
}

/// `sum(R * f(p))` and its gradient by autodiff, for a fixed random `R`.
fn grad_and_value(f: &dyn Fn(Tensor<4>) -> Tensor<4>, p: Tensor<4>, r: &Tensor<4>) -> (Vec<f32>, f32) {
    let leaf = p.autodiff().require_grad();
    let y = (f(leaf.clone()) * r.clone()).sum();
    let v = to_vec(y.clone())[0];
    let grads = y.backward();
    (to_vec(leaf.grad(&grads).unwrap()), v)
}

fn value(f: &dyn Fn(Tensor<4>) -> Tensor<4>, p: Vec<f32>, shape: [usize; 4], r: &Tensor<4>, device: &Device) -> f64 {
    to_vec((f(Tensor::from_data(TensorData::new(p, shape), device)) * r.clone()).sum())[0] as f64
}

/// Central differences at 12 coordinates agree with autodiff.
fn finite_difference_check(name: &str, f: &dyn Fn(Tensor<4>) -> Tensor<4>, shape: [usize; 4], device: &Device) {
    let n: usize = shape.iter().product();
    let mut rng = XorShift(0xfd_0001 + n as u64);
    let p = rng.vec(n, 1.0);
    let out_shape = f(Tensor::from_data(TensorData::new(p.clone(), shape), device)).dims();
    let r = Tensor::<4>::from_data(TensorData::new(rng.vec(out_shape.iter().product(), 1.0), out_shape), device);
    let (grad, _) = grad_and_value(f, Tensor::from_data(TensorData::new(p.clone(), shape), device), &r);
    let h = 1e-2f32;
    for k in 0..12 {
        let i = (k * 7919 + 13) % n;
        let (mut up, mut down) = (p.clone(), p.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (value(f, up, shape, &r, device) - value(f, down, shape, &r, device)) / (2.0 * h as f64);
        let tol = 2e-2 * fd.abs().max(grad[i].abs() as f64).max(0.05);
        assert!((fd - grad[i] as f64).abs() < tol, "{name}: d/dp[{i}] autodiff {} vs finite difference {fd}", grad[i]);
    }
}

#[test]
fn gradients_of_every_parameterization_and_transform_match_finite_differences() {
    for (backend, device) in devices() {
        for basis in [Basis::Pixel, Basis::Fourier] {
            for decorrelate in [false, true] {
                for squash in [Squash::Sigmoid, Squash::L2Ball(2.0)] {
                    let p = Param::new(basis, decorrelate, squash, [3, 6, 7], &device);
                    let shape = p.param_shape(2);
                    let name = format!("{backend} {basis:?} decorrelate={decorrelate} {squash:?}");
                    finite_difference_check(&name, &|x| p.image(x), shape, &device);
                }
            }
        }
        let transforms = [
            Drawn::Pad(2, Fill::Constant(0.5)),
            Drawn::Pad(3, Fill::Reflect),
            Drawn::Crop { px: 3, dy: 1, dx: 2 },
            Drawn::Scale(1.3),
            Drawn::Scale(0.8),
            Drawn::Rotate(7.0),
            Drawn::Rotate(-25.0),
        ];
        for t in transforms {
            finite_difference_check(&format!("{backend} {t:?}"), &|x| t.apply(x), [2, 3, 9, 8], &device);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_images() {
    for (backend, device) in devices() {
        let m = load_model("digit-cnn", &device);
        let obj = || objective::channels(m.graph.layer("conv2").unwrap(), &[0, 1]);
        let run = |seed: u64| {
            let mut r = Render::new(&m.graph, &m.input, obj(), 2, Options { size: 40, seed, ..Options::default() }).unwrap();
            r.step(6).unwrap();
            to_vec(r.image())
        };
        let a = run(7);
        assert_eq!(a, run(7), "{backend}");
        let b = run(8);
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(diff > 0.05, "{backend}: seeds 7 and 8 differ by at most {diff}");
    }
}

/// Standard deviation of each image of `[batch, C, H, W]` host values, over pixels and
/// channels.
fn spread(images: &[f32], batch: usize) -> Vec<f32> {
    images
        .chunks(images.len() / batch)
        .map(|img| {
            let mean = img.iter().sum::<f32>() / img.len() as f32;
            (img.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / img.len() as f32).sqrt()
        })
        .collect()
}

/// Each image's own channel, `[batch]`: the mean of channel `channels[i]` of image `i`.
fn own_means(m: &convscope_core::Model, layer: convscope_core::LayerId, images: Tensor<4>, channels: &[usize]) -> Vec<f32> {
    let c = m.input.channels;
    let scale: Vec<f32> = (0..c).map(|i| 255.0 / m.input.std[i]).collect();
    let shift: Vec<f32> = (0..c).map(|i| -m.input.mean[i] / m.input.std[i]).collect();
    let d = images.device();
    let x = images * Tensor::<4>::from_data(TensorData::new(scale, [1, c, 1, 1]), &d) + Tensor::<4>::from_data(TensorData::new(shift, [1, c, 1, 1]), &d);
    let a = to_vec(m.graph.activations(x, &[layer]).unwrap()[0].clone().spatial("test").unwrap().mean_dim(3).mean_dim(2));
    let n = a.len() / channels.len();
    channels.iter().enumerate().map(|(i, &k)| a[i * n + k]).collect()
}

#[test]
fn every_channel_of_the_digit_cnn_gets_a_pattern() {
    let device = Device::flex();
    let m = load_model("digit-cnn", &device);
    for id in ["conv1", "conv2", "conv3"] {
        let layer = m.graph.layer(id).unwrap();
        let channels: Vec<usize> = (0..m.graph.info(layer).shape[0]).collect();
        let n = channels.len();
        let mut r = Render::new(&m.graph, &m.input, objective::channels(layer, &channels), n, Options::sized(28)).unwrap();
        r.step(if id == "conv3" { 192 } else { 96 }).unwrap();
        // Every channel's pattern is a picture, not flat grey, and nearly every one switches
        // its channel on (some of `conv3`'s need more than 192 steps; 23 of them are off for
        // every sample photo too).
        for (i, s) in spread(&to_vec(r.image()), n).iter().enumerate() {
            assert!(*s > 0.02, "{id} channel {i}: a flat image (std {s})");
        }
        let own = own_means(&m, layer, r.image(), &channels);
        let off: Vec<usize> = (0..n).filter(|&k| own[k] <= 0.0).collect();
        println!("{id}: off for their own pattern: {off:?}");
        let allowed = if id == "conv3" { n / 4 } else { n / 10 };
        assert!(off.len() <= allowed, "{id}: {} of {n} channels are off for their own pattern: {off:?}", off.len());
    }
}

/// Every channel of EfficientNet-Lite0's first layer is switched on by its pattern, unless no
/// input at all can switch it on. The first layer is linear before its ReLU6, so its largest
/// value over the valid input box is at the vertex `sign(w)`: if even that leaves the unit
/// off, the channel is dead for every image.
#[test]
fn stem_channels_get_patterns_unless_no_image_can_switch_them_on() {
    let device = Device::flex();
    let m = load_model("efficientnet-lite0", &device);
    let stem = m.graph.layer("stem").unwrap();
    let channels: Vec<usize> = (0..32).collect();
    let options = Options { size: 64, fit: Fit::AsIs, ..Options::default() };
    let mut r = Render::new(&m.graph, &m.input, objective::channels(stem, &channels), 32, options).unwrap();
    r.step(64).unwrap();
    let own = own_means(&m, stem, r.image(), &channels);
    let (lo, hi) = (-m.input.mean[0] / m.input.std[0], (255.0 - m.input.mean[0]) / m.input.std[0]);
    let mut dead = vec![];
    for k in channels {
        if own[k] > 0.0 {
            continue;
        }
        // w by the gradient of the pre-activation at the centre unit (rectifier redirected).
        let leaf = Tensor::<4>::zeros([1, 3, 64, 64], &device).autodiff().require_grad();
        let a = m.graph.redirected().activations(leaf.clone(), &[stem]).unwrap();
        let grads = objective::neuron(stem, k, None).loss(&a).unwrap().backward();
        let w = to_vec(leaf.grad(&grads).unwrap());
        let best: Vec<f32> = w.iter().map(|g| if *g < 0.0 { hi } else { lo }).collect();
        let top = m.graph.activations(Tensor::from_data(TensorData::new(best, [1, 3, 64, 64]), &device), &[stem]).unwrap();
        let (h, wd) = (top[0].dims()[2], top[0].dims()[3]);
        let centre = to_vec(top[0].clone().spatial("t").unwrap())[k * h * wd + (h / 2) * wd + wd / 2];
        assert!(centre <= 0.0, "stem channel {k}: off for its pattern, but the best input gives it {centre}");
        dead.push(k);
    }
    println!("stem channels no input switches on: {dead:?}");
    assert!(dead.len() <= 4, "dead stem channels: {dead:?}");
}

/// A deep layer's channels each get a pattern of their own. Redirecting every rectifier of
/// every image for the first steps (the earlier scheme) linearised EfficientNet-Lite0 and
/// sent every channel's image the same way: `head`'s 8 patterns were one picture, 5 of them
/// off. Only an image whose gradient vanishes may fall back on the redirected network.
#[test]
fn deep_layer_patterns_differ_from_channel_to_channel() {
    let device = Device::flex();
    let m = load_model("efficientnet-lite0", &device);
    let head = m.graph.layer("head").unwrap();
    let channels: Vec<usize> = (0..4).collect();
    let options = Options { size: 64, fit: Fit::AsIs, ..Options::default() };
    let mut r = Render::new(&m.graph, &m.input, objective::channels(head, &channels), 4, options).unwrap();
    r.step(24).unwrap();
    let own = own_means(&m, head, r.image(), &channels);
    println!("head channels' means on their own patterns: {own:?}");
    assert!(own.iter().all(|v| *v > 0.0), "head channels off for their own pattern: {own:?}");
    let images = to_vec(r.image());
    let one = images.len() / 4;
    for i in 0..4 {
        for j in i + 1..4 {
            let (a, b) = (&images[i * one..(i + 1) * one], &images[j * one..(j + 1) * one]);
            let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / one as f32;
            println!("head patterns {i} and {j}: mean difference {diff:.4}");
            assert!(diff > 0.05, "head channels {i} and {j} got nearly the same pattern (mean difference {diff})");
        }
    }
}

#[test]
fn the_default_layer_is_a_third_of_the_way_through_the_feature_maps() {
    let device = burn::tensor::Device::flex();
    for (model, want) in [("efficientnet-lite0", "blocks.5"), ("digit-cnn", "conv2")] {
        let m = common::load_model(model, &device);
        let layer = convscope_core::patterns::default_layer(&m.graph).unwrap();
        assert_eq!(m.graph.info(layer).id, want, "{model}");
    }
}

/// The fault that kept the test above on the CPU, in the graph: the input gradient of a
/// channel of the digit CNN through `scale * f(pixels)` on wgpu, against the CPU's. With burn's
/// fusion on it was wrong (off by about its own size) for any squash `f` (sigmoid, exp or tanh
/// forms, the Fourier basis), right for the identity; plain-burn reductions in `fusion.rs`.
#[test]
fn the_gradient_through_a_squashed_image_matches_the_cpu_on_wgpu() {
    use burn::tensor::activation::sigmoid;
    let grad = |device: &Device, squash: bool| -> Vec<f32> {
        let m = load_model("digit-cnn", device);
        let conv2 = m.graph.layer("conv2").unwrap();
        let x0: Vec<f32> = (0..28 * 28).map(|i| ((i * 7919 % 101) as f32 / 50.0) - 1.0).collect();
        let leaf = Tensor::<4>::from_data(TensorData::new(x0, [1, 1, 28, 28]), &device.clone().autodiff()).require_grad();
        let x = if squash { sigmoid(leaf.clone()) * 3.0 } else { leaf.clone() * 3.0 };
        let a = m.graph.activations(x, &[conv2]).unwrap();
        let grads = objective::channel(conv2, 3, None).loss(&a).unwrap().backward();
        to_vec(leaf.grad(&grads).unwrap())
    };
    let Some((_, wgpu)) = devices().into_iter().find(|(name, _)| *name == "wgpu") else { return };
    for squash in [false, true] {
        let (c, g) = (grad(&Device::flex(), squash), grad(&wgpu, squash));
        let scale = c.iter().map(|v| v.abs()).fold(0.0, f32::max);
        let worst = c.iter().zip(&g).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst <= 1e-4 * scale, "squash {squash}: wgpu's gradient is off by {worst} (its largest value {scale})");
    }
}

/// `gate` (a 3x3 convolution of the 1x6x6 image, one weight for all nine pixels, then a ReLU,
/// two channels with biases `bias`) and `unit` (a 1x1 copy of it): image `i` maximizes
/// `unit`'s channel `i`, which only `gate`'s channel `i` reaches.
fn gated_units(bias: [f32; 2], device: &Device) -> Graph {
    let tensors: HashMap<String, HostTensor> = [
        ("gw".to_string(), HostTensor::new(vec![2, 1, 3, 3], vec![1.0; 18]).unwrap()),
        ("gb".to_string(), HostTensor::new(vec![2], bias.to_vec()).unwrap()),
        ("uw".to_string(), HostTensor::new(vec![2, 2, 1, 1], vec![1.0, 0.0, 0.0, 1.0]).unwrap()),
    ]
    .into();
    let conv = |weight: &str, bias: Option<&str>, act| {
        OpSpec::Conv2d(Conv2d {
            weight: weight.into(),
            bias: bias.map(Into::into),
            stride: [1, 1],
            padding: [[0, 0], [0, 0]],
            dilation: [1, 1],
            groups: 1,
            act,
        })
    };
    let spec = GraphSpec {
        input_shape: [1, 6, 6],
        nodes: vec![
            NodeSpec { id: "gate".into(), op: conv("gw", Some("gb"), Some(Activation::Relu)), inputs: vec![INPUT.into()] },
            NodeSpec { id: "unit".into(), op: conv("uw", None, None), inputs: vec!["gate".into()] },
            NodeSpec { id: "out".into(), op: OpSpec::Flatten(Flatten {}), inputs: vec!["unit".into()] },
        ],
    };
    Graph::load(&spec, tensors, device).unwrap()
}

/// The redirected gradient is computed only for the steps that need it: an image whose own
/// gradient vanishes (its rectifier is off for every pixel) takes it, in every step of the
/// redirect window and none after; when every image has a gradient of its own the step
/// computes one gradient. The same natively on wgpu, to the same images.
#[test]
fn the_redirected_gradient_is_computed_only_when_an_image_needs_it() {
    let options = Options { redirect_steps: 4, ..plain(6, Squash::Sigmoid) };
    let run = |bias: [f32; 2], device: &Device| {
        let graph = gated_units(bias, device);
        let unit = graph.layer("unit").unwrap();
        let mut r = Render::new(&graph, &identity_input(1, 6), objective::channels(unit, &[0, 1]), 2, options.clone()).unwrap();
        let start = to_vec(r.image());
        r.step(6).unwrap();
        (r.redirected_steps(), start, to_vec(r.image()))
    };
    let moved = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let cpu = Device::flex();
    // Both gates on: one gradient a step.
    let (n, start, live) = run([100.0, 100.0], &cpu);
    assert_eq!(n, 0, "every image has a gradient of its own, yet {n} steps computed the redirected one");
    assert!(moved(&start, &live) > 0.01, "the images did not move");
    // Image 1's gate off for every image it can be: it needs the redirected gradient while
    // the window lasts, and it moves by it; so do both images when both gates are off.
    for bias in [[100.0, -100.0], [-100.0, -100.0]] {
        let (n, start, end) = run(bias, &cpu);
        assert_eq!(n, 4, "gate biases {bias:?}: {n} steps computed the redirected gradient, the window is 4");
        let one = end.len() / 2;
        for i in 0..2 {
            let d = moved(&start[i * one..(i + 1) * one], &end[i * one..(i + 1) * one]);
            assert!(d > 0.01, "gate biases {bias:?}: image {i} did not move ({d})");
        }
    }
    for (name, device) in devices().into_iter().filter(|(name, _)| *name != "cpu") {
        let (n, _, there) = run([100.0, 100.0], &device);
        assert_eq!(n, 0, "{name}: {n} steps computed the redirected gradient");
        let d = moved(&live, &there);
        assert!(d < 1e-5, "{name}: the images differ from the CPU's by {d}");
        let (n, ..) = run([100.0, -100.0], &device);
        assert_eq!(n, 4, "{name}: {n} steps computed the redirected gradient, the window is 4");
    }
}
