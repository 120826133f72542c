//! Real exports: torchvision's ResNet-18 and MobileNetV2 and a small CNN with the remaining
//! ops, exported by `tests/onnx/export.py` (PyTorch, opset 17, random weights), imported here;
//! the logits and every intermediate node output convscope keeps must match onnxruntime's on
//! the same input to 1e-4 of the tensor's largest magnitude, on the CPU and on wgpu.
//!
//! The references are generated, not committed (the models are 60 MB): `./build.sh test`
//! runs the script and then these tests with `--ignored`, pointing `CONVSCOPE_ONNX_REFS` at
//! its output.

mod common;

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use common::{devices, to_vec};
use convscope_core::{LayerId, graph::Graph, onnx};

fn refs() -> PathBuf {
    PathBuf::from(std::env::var("CONVSCOPE_ONNX_REFS").expect("set CONVSCOPE_ONNX_REFS to the output directory of tests/onnx/export.py"))
}

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn check(name: &str) {
    let dir = refs();
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).expect("the exported model");
    let imported = onnx::import(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name).join("manifest.json")).unwrap()).unwrap();
    let shape: Vec<usize> = manifest["input"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let input = read_f32(&dir.join(name).join("input.f32"));
    let names: std::collections::HashMap<String, String> = imported.values.iter().cloned().collect();
    for (backend, device) in devices() {
        let graph = Graph::load(&imported.graph, imported.weights.clone(), &device).unwrap();
        let x = Tensor::<4>::from_data(TensorData::new(input.clone(), [shape[0], shape[1], shape[2], shape[3]]), &device);
        // Every ONNX output that is a layer of the loaded graph (folds remove some).
        let mut pairs: Vec<(String, LayerId, &serde_json::Value)> = vec![];
        for out in manifest["outputs"].as_array().unwrap() {
            let onnx_name = out["name"].as_str().unwrap();
            if let Some(id) = names.get(onnx_name)
                && let Ok(layer) = graph.layer(id)
            {
                pairs.push((onnx_name.to_string(), layer, out));
            }
        }
        let layers: Vec<LayerId> = pairs.iter().map(|p| p.1).collect();
        let values = graph.activations(x, &layers).unwrap();
        let mut worst = (0.0f32, String::new());
        for ((onnx_name, layer, out), value) in pairs.iter().zip(values) {
            let want = read_f32(&dir.join(name).join(out["file"].as_str().unwrap()));
            let got = to_vec(match value {
                convscope_core::Value::Spatial(t) => t.flatten::<1>(0, 3),
                convscope_core::Value::Flat(t) => t.flatten::<1>(0, 1),
            });
            assert_eq!(got.len(), want.len(), "{name} {onnx_name} ({}): {} values, onnxruntime has {}", graph.info(*layer).id, got.len(), want.len());
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
            let err = got.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
            if err > worst.0 {
                worst = (err, onnx_name.clone());
            }
            assert!(
                err <= 1e-4,
                "{name} on {backend}: `{onnx_name}` (layer `{}`) differs from onnxruntime by {err:.2e} of its largest value {scale}",
                graph.info(*layer).id
            );
        }
        let logits = pairs.iter().find(|p| p.0 == manifest["outputs"][0]["name"].as_str().unwrap());
        assert!(logits.is_some(), "{name}: the logits were not compared");
        println!("{name} on {backend}: {} node outputs match onnxruntime, worst {:.2e} of the tensor's largest value (`{}`)", pairs.len(), worst.0, worst.1);
        // Every layer of the loaded graph was compared.
        let compared: std::collections::HashSet<LayerId> = layers.iter().copied().collect();
        let missed: Vec<&str> = (0..graph.layers().len()).filter(|i| !compared.contains(&LayerId(*i))).map(|i| graph.layers()[i].id.as_str()).collect();
        assert!(missed.is_empty(), "{name}: layers not compared with onnxruntime: {missed:?}");
    }
}

#[test]
#[ignore = "needs tests/onnx/export.py's output in CONVSCOPE_ONNX_REFS; ./build.sh test runs it"]
fn torchvision_resnet18_matches_onnxruntime() {
    check("resnet18");
}

#[test]
#[ignore = "needs tests/onnx/export.py's output in CONVSCOPE_ONNX_REFS; ./build.sh test runs it"]
fn torchvision_mobilenet_v2_matches_onnxruntime() {
    check("mobilenet_v2");
}

#[test]
#[ignore = "needs tests/onnx/export.py's output in CONVSCOPE_ONNX_REFS; ./build.sh test runs it"]
fn small_cnn_with_the_other_ops_matches_onnxruntime() {
    check("small");
}
