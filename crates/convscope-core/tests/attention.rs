//! Attention maps: exact cases with known answers, the standard Grad-CAM definition on the
//! bundled EfficientNet-Lite0, the properties every method must keep, faithfulness against a
//! random map, and the randomization sanity check.

mod common;

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use common::{devices, load_model, repo, sample, to_vec};
use convscope_core::graph::ops::*;
use convscope_core::{
    Graph, Model,
    attention::{
        self, AttentionMap, Explain, METHODS, Options, Resolution, Target,
        faithfulness::{Baseline, STEPS, Verdict, faithfulness, probes, score},
        integrated_gradients_attributions,
        sanity::sanity,
    },
    format::ModelFile,
    graph::{Activation, GraphSpec, INPUT, NodeSpec, OpSpec, Padding2d},
    readback::block,
    tensor_data::HostTensor,
};

/// A method's map for a request, read back (the core's orchestrator, blocked on).
fn now(req: &Explain<'_>, method: &dyn attention::Method) -> AttentionMap {
    block(req.map(method)).unwrap()
}

fn node(id: &str, op: OpSpec, inputs: &[&str]) -> NodeSpec {
    NodeSpec { id: id.into(), op, inputs: inputs.iter().map(|s| s.to_string()).collect() }
}

fn conv(w: &str, b: &str, padding: Padding2d) -> OpSpec {
    OpSpec::Conv2d(Conv2d { weight: w.into(), bias: Some(b.into()), stride: [1, 1], padding, dilation: [1, 1], groups: 1, act: None })
}

fn tensors(list: &[(&str, Vec<usize>, Vec<f32>)]) -> HashMap<String, HostTensor> {
    list.iter().map(|(n, s, d)| (n.to_string(), HostTensor::new(s.clone(), d.clone()).unwrap())).collect()
}

fn image(graph: &Graph, data: Vec<f32>, device: &Device) -> Tensor<4> {
    let [c, h, w] = graph.input_shape();
    Tensor::from_data(TensorData::new(data, [1, c, h, w]), device)
}

/// Captum's `BasicModel_ConvNet_One_Conv`: a 3x3 conv of ones with biases [-50, -75] on a
/// 1x4x4 input, ReLU, flatten, a linear layer whose rows are five ones then three minus ones,
/// ReLU. The `keep` identity makes the conv's output before the ReLU a layer of its own (the
/// layer Captum hooks, `net.conv1`).
fn captum_net(device: &Device) -> Graph {
    let fc: Vec<f32> = (0..4).flat_map(|_| [1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0]).collect();
    let t =
        tensors(&[("c.w", vec![2, 1, 3, 3], vec![1.0; 18]), ("c.b", vec![2], vec![-50.0, -75.0]), ("fc.w", vec![4, 8], fc), ("fc.b", vec![4], vec![0.0; 4])]);
    let spec = GraphSpec {
        input_shape: [1, 4, 4],
        nodes: vec![
            node("conv1", conv("c.w", "c.b", [[0, 0], [0, 0]]), &[INPUT]),
            node("keep", OpSpec::Identity(Identity {}), &["conv1"]),
            node("relu1", OpSpec::Act(Act(Activation::Relu)), &["keep"]),
            node("flatten", OpSpec::Flatten(Flatten {}), &["relu1"]),
            node("fc1", OpSpec::Linear(Linear { weight: "fc.w".into(), bias: Some("fc.b".into()) }), &["flatten"]),
            node("relu2", OpSpec::Act(Act(Activation::Relu)), &["fc1"]),
        ],
    };
    Graph::load(&spec, t, device).unwrap()
}

#[test]
fn captum_hand_computed_grad_cam() {
    for (backend, device) in devices() {
        let g = captum_net(&device);
        let x = image(&g, (0..16).map(|v| v as f32).collect(), &device);
        let req = Explain::new(&g, x, Target::Class { class: 0 }, Some(g.layer("conv1").unwrap()), Options::default()).unwrap();
        let map = now(&req, attention::method("gradcam").unwrap());
        assert_eq!((map.height, map.width), (2, 2));
        // Captum's test_simple_input_conv: [[11.25, 13.5], [20.25, 22.5]].
        for (got, want) in map.raw.iter().zip([11.25, 13.5, 20.25, 22.5]) {
            assert!((got - want).abs() < 1e-4, "{backend}: {:?}", map.raw);
        }
    }
}

/// conv (3 -> 4 channels, 5x5, same padding, ReLU) -> global average pool -> linear (3
/// classes): the architecture CAM was defined for.
fn gap_net(device: &Device) -> (Graph, Vec<f32>) {
    let mut rng = common::XorShift(0x1234_5678_9abc_def1);
    let fc = rng.vec(12, 1.0);
    let t = tensors(&[
        ("c.w", vec![4, 3, 3, 3], rng.vec(108, 0.6)),
        ("c.b", vec![4], rng.vec(4, 0.2)),
        ("fc.w", vec![3, 4], fc.clone()),
        ("fc.b", vec![3], rng.vec(3, 0.5)),
    ]);
    let spec = GraphSpec {
        input_shape: [3, 5, 5],
        nodes: vec![
            node("conv", conv("c.w", "c.b", [[1, 1], [1, 1]]), &[INPUT]),
            node("relu", OpSpec::Act(Act(Activation::Relu)), &["conv"]),
            node("pool", OpSpec::GlobalAvgPool(GlobalAvgPool {}), &["relu"]),
            node("logits", OpSpec::Linear(Linear { weight: "fc.w".into(), bias: Some("fc.b".into()) }), &["pool"]),
        ],
    };
    (Graph::load(&spec, t, device).unwrap(), fc)
}

#[test]
fn on_a_gap_linear_head_grad_cam_weights_are_the_linear_weights_over_hw_and_grad_cam_equals_hirescam_and_cam() {
    for (backend, device) in devices() {
        let (g, fc) = gap_net(&device);
        let x = image(&g, common::XorShift(99).vec(75, 1.0), &device);
        let layer = g.layer("relu").unwrap();
        let (_, acts) = g.forward(x.clone(), &[layer]).unwrap();
        let a = to_vec(acts[0].clone().spatial("test").unwrap());
        for class in 0..3 {
            let req = Explain::new(&g, x.clone(), Target::Class { class }, Some(layer), Options::default()).unwrap();
            let (_, grad) = req.layer_gradient().unwrap();
            let grad = to_vec(grad);
            for k in 0..4 {
                let w: f32 = grad[k * 25..(k + 1) * 25].iter().sum::<f32>() / 25.0;
                assert!((w - fc[class * 4 + k] / 25.0).abs() < 1e-6, "{backend} class {class} channel {k}: {w}");
            }
            // CAM (Zhou et al. 2016): sum_k w_ck A_k; Grad-CAM's is that over H*W.
            let cam: Vec<f32> = (0..25).map(|p| (0..4).map(|k| fc[class * 4 + k] * a[k * 25 + p]).sum::<f32>().max(0.0) / 25.0).collect();
            for id in ["gradcam", "hirescam"] {
                let map = now(&req, attention::method(id).unwrap());
                for (p, (got, want)) in map.raw.iter().zip(&cam).enumerate() {
                    assert!((got - want).abs() < 1e-5, "{backend} {id} class {class} pixel {p}: {got} vs CAM {want}");
                }
            }
        }
    }
}

#[test]
fn integrated_gradients_completeness_error_shrinks_with_steps() {
    for (backend, device) in devices() {
        let (g, _) = gap_net(&device);
        let x = image(&g, common::XorShift(7).vec(75, 2.0), &device);
        let req = Explain::new(&g, x.clone(), Target::Class { class: 1 }, None, Options::default()).unwrap();
        let f = |t: Tensor<4>| to_vec(g.forward(t, &[]).unwrap().0)[1];
        let gap = f(x.clone()) - f(x.zeros_like());
        let errors: Vec<f32> =
            [4, 16, 64, 256].iter().map(|&m| (to_vec(integrated_gradients_attributions(&req, m).unwrap()).iter().sum::<f32>() - gap).abs()).collect();
        assert!(gap.abs() > 0.1, "{backend}: F(x) - F(0) = {gap} is too small to test");
        assert!(errors.windows(2).all(|e| e[1] < e[0]), "{backend}: completeness errors {errors:?} do not shrink");
        assert!(errors[3] < 2e-3 * gap.abs().max(1.0), "{backend}: error {} with 256 steps", errors[3]);
    }
}

fn check_map(what: &str, map: &AttentionMap, (h, w): (usize, usize)) {
    assert_eq!((map.height, map.width), (h, w), "{what}");
    assert!(map.values.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{what}: values outside [0, 1]");
    assert!(map.raw.iter().all(|v| v.is_finite() && *v >= 0.0), "{what}: raw values negative or not finite");
    if !map.constant {
        assert!(map.values.contains(&1.0) && map.values.contains(&0.0), "{what}: not min-max normalised");
    }
}

#[test]
fn every_method_gives_a_normalised_map_of_its_resolution_leaves_the_input_alone_and_repeats_for_a_seed() {
    let device = Device::flex();
    let model = load_model("digit-cnn", &device);
    let g = &model.graph;
    let layer = g.last_spatial_layer().unwrap();
    let [_, lh, lw] = g.info(layer).shape[..] else { panic!() };
    let digit: Vec<f32> = (0..784usize).map(|i| if (i % 28).abs_diff(14) < 3 && (4..24).contains(&(i / 28)) { 2.8 } else { -0.42 }).collect();
    let options = Options { samples: 6, steps: 8, window: 7, stride: 7, ..Options::default() };
    for (name, data) in [("digit", digit), ("constant", vec![0.3f32; 784])] {
        let x = image(g, data.clone(), &device);
        for m in METHODS {
            let id = m.info().id;
            let req = Explain::new(g, x.clone(), Target::Class { class: 1 }, None, options.clone()).unwrap();
            let map = now(&req, *m);
            let dims = match m.info().resolution {
                Resolution::Layer => (lh, lw),
                Resolution::Input => (28, 28),
            };
            check_map(&format!("{id} on {name}"), &map, dims);
            assert_eq!(to_vec(x.clone()), data, "{id} changed its input");
            assert_eq!(now(&req, *m), map, "{id} on {name}: same seed, different map");
        }
    }
    // The seed matters where there is randomness: SmoothGrad's noise.
    let x = image(g, (0..784).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect(), &device);
    let smooth = |seed| {
        let options = Options { seed, samples: 4, ..Options::default() };
        now(&Explain::new(g, x.clone(), Target::Class { class: 2 }, None, options).unwrap(), attention::method("smoothgrad").unwrap())
    };
    assert_eq!(smooth(1), smooth(1));
    assert_ne!(smooth(1).raw, smooth(2).raw, "SmoothGrad ignores its seed");
    // A constant image has no gradient structure: saliency of it is still a valid map.
    let flat = image(g, vec![0.0; 784], &device);
    let map = now(&Explain::new(g, flat, Target::Class { class: 3 }, None, options).unwrap(), attention::method("eigencam").unwrap());
    check_map("eigencam on zeros", &map, (lh, lw));
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let device = Device::flex();
    let model = load_model("digit-cnn", &device);
    let g = &model.graph;
    let x = image(g, vec![0.0; 784], &device);
    let err = |r: convscope_core::Result<Explain>| r.unwrap_err().to_string();
    let e = err(Explain::new(g, x.clone(), Target::Class { class: 10 }, None, Options::default()));
    assert!(e.contains("class 10") && e.contains("10 classes"), "{e}");
    let e = err(Explain::new(g, x.clone(), Target::Contrast { class: 3, against: 3 }, None, Options::default()));
    assert!(e.contains("two different classes"), "{e}");
    let e = err(Explain::new(g, x, Target::Class { class: 1 }, Some(g.layer("fc1").unwrap()), Options::default()));
    assert!(e.contains("fc1") && e.contains("feature maps"), "{e}");
    let e = attention::method("gradcam+++").err().unwrap().to_string();
    assert!(e.contains("gradcam+++") && e.contains("layercam") && e.contains("occlusion"), "{e}");
}

fn efficientnet(device: &Device) -> (Model, Tensor<4>, usize) {
    let model = load_model("efficientnet-lite0", device);
    let x = model.input_tensor(&sample("chelsea.png")).unwrap();
    let (logits, _) = model.graph.forward(x.clone(), &[]).unwrap();
    let top = model.top_k(&to_vec(logits), 1)[0].index;
    (model, x, top)
}

/// The standard definition written out on the host: `w_k = mean_ij d logit_c / dA_k,ij`,
/// `L = ReLU(sum_k w_k A_k)`. After `head` EfficientNet-Lite0 has a global average pool and
/// the linear classifier, so `d logit_c / dA_k,ij = W_ck / (h w)` exactly: the reference needs
/// no autodiff, only the classifier's weights from the model file.
#[test]
fn grad_cam_at_head_matches_the_standard_definition_on_efficientnet() {
    let file = ModelFile::from_bytes(&std::fs::read(repo().join("weights/efficientnet-lite0.csm")).unwrap()).unwrap();
    let spec = &file.header.graph;
    let kinds: Vec<&OpSpec> = spec.nodes.iter().rev().take(2).map(|n| &n.op).collect();
    let OpSpec::Linear(Linear { weight, .. }) = kinds[0] else { panic!("last layer is not linear") };
    assert!(matches!(kinds[1], OpSpec::GlobalAvgPool(GlobalAvgPool {})), "head is not followed by a global average pool");
    let fc = &file.tensors[weight];
    for (backend, device) in devices() {
        let (model, x, top) = efficientnet(&device);
        let g = &model.graph;
        let head = g.layer("head").unwrap();
        let (_, acts) = g.forward(x.clone(), &[head]).unwrap();
        let a = to_vec(acts[0].clone().spatial("test").unwrap());
        let (k, n) = (1280, 49);
        let w: Vec<f32> = (0..k).map(|c| fc.data[top * k + c] / n as f32).collect();
        let reference: Vec<f32> = (0..n).map(|p| (0..k).map(|c| w[c] * a[c * n + p]).sum::<f32>().max(0.0)).collect();
        let req = Explain::new(g, x, Target::Class { class: top }, None, Options::default()).unwrap();
        assert_eq!(req.layer, head, "the default layer is head");
        let map = now(&req, attention::method("gradcam").unwrap());
        let scale = reference.iter().fold(0f32, |m, v| m.max(*v));
        assert!(scale > 0.0);
        for (p, (got, want)) in map.raw.iter().zip(&reference).enumerate() {
            assert!((got - want).abs() <= 1e-4 * scale, "{backend} pixel {p}: {got} vs {want}");
        }
        // The peak is on the cat: chelsea's cat fills the centre and the left of the image.
        let (y, xx) = map.peak();
        assert!((1..=5).contains(&y) && xx <= 4, "{backend}: peak at {y},{xx}");
    }
}

#[test]
fn the_trace_of_an_earlier_pass_gives_the_same_map() {
    let device = Device::flex();
    let (model, x, top) = efficientnet(&device);
    let g = &model.graph;
    let all: Vec<_> = (0..g.layers().len()).map(convscope_core::LayerId).collect();
    let (_, values) = g.forward(x.clone(), &all).unwrap();
    let req = Explain::new(g, x, Target::Class { class: top }, None, Options::default()).unwrap();
    let traced = req.clone().with_trace(g.trace_of(req.layer, &values).unwrap());
    for id in ["gradcam", "layercam"] {
        let m = attention::method(id).unwrap();
        assert_eq!(now(&req, m), now(&traced, m), "{id}");
    }
}

#[test]
fn grad_cam_beats_a_random_map_on_deletion_and_insertion() {
    let device = Device::flex();
    let (model, x, top) = efficientnet(&device);
    let req = Explain::new(&model.graph, x, Target::Class { class: top }, None, Options::default()).unwrap();
    let map = now(&req, attention::method("gradcam").unwrap());
    let (scores, kept) = block(faithfulness(&req, &map, STEPS, None)).unwrap();
    let (ours, baseline) = (scores.ours.clone(), scores.random.clone());
    assert_eq!(ours.kept_fraction, baseline.kept_fraction, "the random map keeps as many pixels");
    eprintln!("grad-cam {ours:?}\nrandom {baseline:?}");
    assert!((ours.deletion[0] - ours.probability).abs() < 1e-4, "deletion starts from the whole image");
    assert!(ours.deletion[STEPS] < 0.05 && ours.insertion[STEPS] > ours.probability - 1e-3, "curves end where they must");
    assert!(ours.deletion_auc < baseline.deletion_auc, "deletion {} vs random {}", ours.deletion_auc, baseline.deletion_auc);
    assert!(ours.insertion_auc > baseline.insertion_auc, "insertion {} vs random {}", ours.insertion_auc, baseline.insertion_auc);
    assert!(ours.keep_drop < baseline.keep_drop, "keep drop {} vs random {}", ours.keep_drop, baseline.keep_drop);
    assert!(scores.comparisons.iter().all(|c| c.verdict == Verdict::Better), "{:?}", scores.comparisons);
    // The random map's curves are kept for the next map of the image: reusing them gives
    // exactly what scoring from nothing gives, and a baseline for another target is ignored.
    let plus = now(&req, attention::method("gradcam++").unwrap());
    let (reused, _) = block(faithfulness(&req, &plus, STEPS, Some(kept.clone()))).unwrap();
    assert_eq!(reused, block(faithfulness(&req, &plus, STEPS, None)).unwrap().0);
    // And they are reused, not recomputed: curves handed in are the random map's curves.
    let made_up = Baseline::new(req.target, STEPS, req.options.seed, vec![0.5; 2 * STEPS + 3]).unwrap();
    let (scored, _) = block(faithfulness(&req, &plus, STEPS, Some(made_up))).unwrap();
    assert!(scored.random.deletion.iter().chain(&scored.random.insertion).all(|&p| p == 0.5), "{:?}", scored.random);
    assert_eq!(scored.ours.probability, 0.5, "the image's probability comes with them");
    let other = Explain::new(&model.graph, req.input.clone(), Target::Class { class: (top + 1) % 1000 }, None, Options::default()).unwrap();
    let (stale, _) = block(faithfulness(&other, &map, STEPS, Some(kept))).unwrap();
    assert_eq!(stale, block(faithfulness(&other, &map, STEPS, None)).unwrap().0);
    assert_ne!(stale.random.deletion, scores.random.deletion, "another target, other curves");
}

#[test]
fn faithfulness_scores_are_areas_of_the_curves() {
    // Deletion 1, 0.5, 0; insertion 0, 0.5, 1; kept 0.25 of p = 1.
    let f = score(&[1.0, 0.5, 0.0, 0.0, 0.5, 1.0, 0.25], 2, 1.0, 0.5).unwrap();
    assert_eq!((f.deletion_auc, f.insertion_auc, f.keep_drop), (0.5, 0.5, 0.75));
    assert!(score(&[1.0; 5], 2, 1.0, 0.5).is_err());
    // Probes: step t removes the t/steps most important pixels.
    let device = Device::flex();
    let (g, _) = gap_net(&device);
    let x = image(&g, vec![1.0; 75], &device);
    let req = Explain::new(&g, x, Target::Class { class: 0 }, None, Options::default()).unwrap();
    let importance: Vec<f32> = (0..25).map(|i| i as f32 / 24.0).collect();
    let p = to_vec(probes(&req, &importance, 5, 0.2).unwrap());
    let plane = |i: usize| &p[i * 75..i * 75 + 25];
    assert_eq!(plane(0).iter().filter(|&&v| v == 0.0).count(), 0);
    assert_eq!(plane(1).iter().filter(|&&v| v == 0.0).count(), 5);
    assert!(plane(1)[20..].iter().all(|&v| v == 0.0), "the most important pixels go first");
    assert_eq!(plane(5).iter().filter(|&&v| v == 0.0).count(), 25);
    // The kept image: the top fifth only.
    assert_eq!(plane(12).iter().filter(|&&v| v == 1.0).count(), 5);
    assert!(plane(12)[20..].iter().all(|&v| v == 1.0));
}

#[test]
fn randomizing_the_model_decorrelates_grad_cam() {
    let device = Device::flex();
    let (model, x, top) = efficientnet(&device);
    let req = Explain::new(&model.graph, x, Target::Class { class: top }, None, Options::default()).unwrap();
    let gradcam = attention::method("gradcam").unwrap();
    let report = block(sanity(&req, gradcam, &now(&req, gradcam), 5)).unwrap();
    eprintln!("{report:?}");
    assert!(!report.flagged, "{report:?}");
    assert!(report.steps.len() >= 4 && report.steps.last().unwrap().randomized == model.graph.weighted_layers().len());
    assert!(report.steps.last().unwrap().rho.abs() < 0.5, "{report:?}");
}

/// Eigen-CAM's map is the first principal component's projection: on activations built from
/// one known spatial pattern times per-channel weights (plus a weaker second pattern), it
/// recovers the first pattern.
#[test]
fn eigen_cam_finds_the_dominant_component() {
    // A 1x1 conv on a 2-channel input mixes two patterns into 3 channels: channel k gets
    // w_k1 * P1 + w_k2 * P2. P1 varies most across channels (weights 3, -3, 0.1) but nearly
    // cancels in their sum, which P2 dominates (0.5 each): a map of the summed activation
    // would show P2, the first principal component is P1.
    let device = Device::flex();
    let w = vec![3.0, 0.5, -3.0, 0.5, 0.1, 0.5];
    let t = tensors(&[("c.w", vec![3, 2, 1, 1], w), ("c.b", vec![3], vec![0.0; 3]), ("fc.w", vec![2, 3], vec![1.0; 6]), ("fc.b", vec![2], vec![0.0; 2])]);
    let spec = GraphSpec {
        input_shape: [2, 4, 4],
        nodes: vec![
            node("conv", conv("c.w", "c.b", [[0, 0], [0, 0]]), &[INPUT]),
            node("pool", OpSpec::GlobalAvgPool(GlobalAvgPool {}), &["conv"]),
            node("logits", OpSpec::Linear(Linear { weight: "fc.w".into(), bias: Some("fc.b".into()) }), &["pool"]),
        ],
    };
    let g = Graph::load(&spec, t, &device).unwrap();
    let p1: Vec<f32> = (0..16).map(|i| if i % 4 < 2 { 1.0 } else { -1.0 }).collect();
    let p2: Vec<f32> = (0..16).map(|i| if i / 4 < 2 { 1.0 } else { -1.0 }).collect();
    let x = image(&g, [p1.clone(), p2].concat(), &device);
    let map = now(&Explain::new(&g, x, Target::Class { class: 0 }, None, Options::default()).unwrap(), attention::method("eigencam").unwrap());
    // The projection on the first component is +-P1 (centred); after the sign fix and ReLU the
    // map is high exactly where P1 is +1 or exactly where it is -1.
    let high: Vec<bool> = map.values.iter().map(|&v| v > 0.5).collect();
    let on_p1: Vec<bool> = p1.iter().map(|&v| v > 0.0).collect();
    let flipped: Vec<bool> = on_p1.iter().map(|b| !b).collect();
    assert!(high == on_p1 || high == flipped, "{:?}", map.values);
}

#[test]
fn each_method_says_what_it_runs() {
    use convscope_core::attention::{Options, method};
    let page = Options { samples: 16, steps: 16, max_channels: 64, window: 32, stride: 32, ..Options::default() };
    let cost = |id: &str, o: &Options, size: usize| method(id).unwrap().cost(o, [size, size]);
    assert_eq!(cost("gradcam", &page, 224).describe(), None);
    assert!(!cost("saliency", &page, 224).slow());
    assert_eq!(cost("saliency", &page, 224).describe().as_deref(), Some("1 backward pass"));
    assert_eq!(cost("smoothgrad", &page, 224).describe().as_deref(), Some("16 backward passes"));
    assert_eq!(cost("scorecam", &page, 224).describe().as_deref(), Some("65 forward passes"));
    // 7 x 7 squares of 32 px on 224 px, and the image itself; 9 x 9 on 299 px.
    assert_eq!(cost("occlusion", &page, 224).forward, 50);
    assert_eq!(cost("occlusion", &page, 299).forward, 82);
    let all = Options { max_channels: 0, ..page };
    assert!(cost("scorecam", &all, 224).slow() && cost("scorecam", &all, 224).per_channel);
}
