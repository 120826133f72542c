//! The bundled EfficientNet-Lite0 reproduces the independent numpy reference, on every backend.

mod common;

use common::{devices, load_model, repo, sample, to_vec};
use convscope_core::preprocess::{Filter, Fit, Preprocess};

const IMAGES: [&str; 4] = ["chelsea.png", "coffee.png", "camera.png", "rocket.jpg"];

/// The reference's preprocessing: centre crop of 87.5%, bicubic, 224x224.
fn reference_logits(model: &convscope_core::Model, image: &str) -> Vec<f32> {
    let pre = Preprocess { fit: Fit::CenterCrop(0.875), filter: Filter::Bicubic };
    let input = model.prepare(&sample(image), &pre).unwrap().input;
    let (logits, _) = model.graph.forward(input, &[]).unwrap();
    to_vec(logits)
}

#[test]
fn top5_matches_the_numpy_reference_on_every_backend() {
    let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(repo().join("tests/data/reference_top5.json")).unwrap()).unwrap();
    let mut per_backend: Vec<(&str, Vec<Vec<f32>>)> = Vec::new();
    for (backend, device) in devices() {
        let model = load_model("efficientnet-lite0", &device);
        let mut all = Vec::new();
        for image in IMAGES {
            let logits = reference_logits(&model, image);
            let top = model.top_k(&logits, 5);
            let want = &reference[image]["f16"];
            let want_idx: Vec<u64> = want.as_array().unwrap().iter().map(|e| e[0].as_u64().unwrap()).collect();
            let got_idx: Vec<u64> = top.iter().map(|p| p.index as u64).collect();
            assert_eq!(got_idx, want_idx, "{backend} {image}: top-5 {top:?}");
            // The reference resized with PIL's bicubic, this with the `image` crate's Catmull-Rom
            // filter: the pixels differ slightly, which moved logits by up to 0.27 when measured
            // (chelsea's top two are 0.06 apart, so their probabilities move by ~0.04).
            let want_logits = reference[image]["logits_top5"].as_array().unwrap();
            for ((p, w), wl) in top.iter().zip(want.as_array().unwrap()).zip(want_logits) {
                let (wp, wl) = (w[2].as_f64().unwrap() as f32, wl.as_f64().unwrap() as f32);
                assert!((p.prob - wp).abs() < 0.05, "{backend} {image}: {} prob {} vs reference {wp}", p.label, p.prob);
                assert!((p.logit - wl).abs() < 0.3, "{backend} {image}: {} logit {} vs reference {wl}", p.label, p.logit);
            }
            all.push(logits);
        }
        per_backend.push((backend, all));
    }
    let (first, base) = &per_backend[0];
    for (backend, other) in &per_backend[1..] {
        for (i, (a, b)) in base.iter().zip(other).enumerate() {
            let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-3, "{first} vs {backend} on {}: max logit difference {diff}", IMAGES[i]);
        }
    }
}

/// The converter folds the batch norms into the convolutions: the file holds none of them.
#[test]
fn the_file_is_written_with_its_batch_norms_folded() {
    let bytes = std::fs::read(common::repo().join("weights/efficientnet-lite0.csm")).unwrap();
    let file = convscope_core::format::ModelFile::from_bytes(&bytes).unwrap();
    let norms = file.header.graph.nodes.iter().filter(|n| matches!(n.op, convscope_core::graph::OpSpec::BatchNorm(_))).count();
    assert_eq!(norms, 0, "batch norms left in the file");
    assert!(file.tensors.keys().all(|k| !k.ends_with(".gamma") && !k.ends_with(".var")), "batch-norm tensors left in the file");
    assert!(file.header.graph.nodes.iter().any(|n| n.id == "stem.bn"), "the folded conv keeps the batch norm's id");
}

#[test]
fn layers_follow_the_checkpoint() {
    let model = load_model("efficientnet-lite0", &burn::tensor::Device::flex());
    let g = &model.graph;
    let shape = |id: &str| g.info(g.layer(id).unwrap()).shape.clone();
    assert_eq!(shape("stem"), vec![32, 112, 112]);
    assert_eq!(shape("blocks.0"), vec![16, 112, 112]);
    assert_eq!(shape("blocks.5"), vec![80, 14, 14]);
    assert_eq!(shape("blocks.15"), vec![320, 7, 7]);
    assert_eq!(shape("head"), vec![1280, 7, 7]);
    assert_eq!(shape("logits"), vec![1000]);
    for i in 0..16 {
        g.layer(&format!("blocks.{i}")).unwrap();
    }
    assert_eq!(g.info(g.layer("head").unwrap()).kind, "conv2d+relu6");
    assert_eq!(g.last_spatial_layer(), Some(g.layer("head").unwrap()));
    let err = g.layer("blocks.99").unwrap_err().to_string();
    assert!(err.contains("blocks.99") && err.contains("blocks.15") && err.contains("head"), "{err}");
    // Network order: the ids appear in the order the data flows.
    let order: Vec<usize> = ["stem", "blocks.0", "blocks.1", "blocks.15", "head", "logits"].iter().map(|id| g.layer(id).unwrap().0).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[test]
fn default_preprocessing_still_finds_the_cat() {
    let model = load_model("efficientnet-lite0", &burn::tensor::Device::flex());
    let input = model.input_tensor(&sample("chelsea.png")).unwrap();
    let (logits, _) = model.graph.forward(input, &[]).unwrap();
    let top = model.top_k(&to_vec(logits), 1);
    assert!((281..=285).contains(&top[0].index), "{top:?}");
}
