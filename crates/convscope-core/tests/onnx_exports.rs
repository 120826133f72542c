//! Real exports: torchvision's ResNet-18 and MobileNetV2 and a small CNN with the remaining
//! ops, exported by `tests/onnx/export.py` (PyTorch, opset 17, random weights), imported here;
//! the logits and every intermediate node output convscope keeps must match onnxruntime's on
//! the same input to 1e-4 of the tensor's largest magnitude, on the CPU and on wgpu.
//!
//! The zoo (`torchvision_zoo_matches_onnxruntime`) does the same for every model in
//! `CONVSCOPE_ZOO`, the output of `tests/onnx/zoo.py`.
//!
//! The references are generated, not committed (the models are 60 MB): `./build.sh test`
//! runs the script and then these tests with `--ignored`, pointing `CONVSCOPE_ONNX_REFS` at
//! its output.

mod common;

use std::path::{Path, PathBuf};

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

/// What one model's comparison found on one device.
struct Compared {
    backend: &'static str,
    layers: usize,
    worst: f32,
    worst_at: String,
}

/// Imports `dir/<name>.onnx` and compares every layer of the loaded graph with
/// onnxruntime's value of it, on each device; the first disagreement is the error.
fn compare(dir: &Path, name: &str) -> Result<Vec<Compared>, String> {
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).map_err(|e| format!("{name}.onnx: {e}"))?;
    let imported = onnx::import(&bytes).map_err(|e| e.to_string())?;
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name).join("manifest.json")).unwrap()).unwrap();
    let shape: Vec<usize> = manifest["input"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let input = read_f32(&dir.join(name).join("input.f32"));
    let names: std::collections::HashMap<String, String> = imported.values.iter().cloned().collect();
    // A sum that cancels (a mean of values that are nearly zero-mean, as in ConvNeXt's layer
    // norms written out at opset 13) is only as exact as what it sums: a reduction's error is
    // measured against the larger of its own and its input's magnitude.
    let files: std::collections::HashMap<&str, &str> =
        manifest["outputs"].as_array().unwrap().iter().map(|o| (o["name"].as_str().unwrap(), o["file"].as_str().unwrap())).collect();
    let magnitude = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let input_scale = |id: &str| -> f32 {
        let Some(node) = imported.graph.nodes.iter().find(|n| n.id == id) else { return 0.0 };
        node.inputs
            .iter()
            .map(|i| {
                if i == convscope_core::graph::INPUT {
                    return magnitude(&input);
                }
                let value = imported.values.iter().find(|(_, v)| v == i).map(|(k, _)| k.as_str());
                value.and_then(|v| files.get(v)).map_or(0.0, |f| magnitude(&read_f32(&dir.join(name).join(f))))
            })
            .fold(0.0, f32::max)
    };
    let mut out = vec![];
    for (backend, device) in devices() {
        let graph = Graph::load(&imported.graph, imported.weights.clone(), &device).map_err(|e| e.to_string())?;
        let x = Tensor::<4>::from_data(TensorData::new(input.clone(), [shape[0], shape[1], shape[2], shape[3]]), &device);
        // Every ONNX output that is a layer of the loaded graph (folds remove some).
        let mut pairs: Vec<(String, LayerId, &serde_json::Value)> = vec![];
        for out in manifest["outputs"].as_array().unwrap() {
            let onnx_name = out["name"].as_str().unwrap();
            if let Some(id) = names.get(onnx_name)
                && let Ok(layer) = graph.layer(id)
                && !pairs.iter().any(|p| p.1 == layer)
            {
                pairs.push((onnx_name.to_string(), layer, out));
            }
        }
        let layers: Vec<LayerId> = pairs.iter().map(|p| p.1).collect();
        let values = graph.activations(x, &layers).map_err(|e| e.to_string())?;
        let mut worst = (0.0f32, String::new());
        for ((onnx_name, layer, out), value) in pairs.iter().zip(values) {
            let want = read_f32(&dir.join(name).join(out["file"].as_str().unwrap()));
            let got = to_vec(match value {
                convscope_core::Value::Spatial(t) => t.flatten::<1>(0, 3),
                convscope_core::Value::Flat(t) => t.flatten::<1>(0, 1),
            });
            let id = graph.info(*layer).id.as_str();
            if got.len() != want.len() {
                return Err(format!("{backend}: `{onnx_name}` (layer `{id}`): {} values, onnxruntime has {}", got.len(), want.len()));
            }
            let own = magnitude(&want);
            let reduction = matches!(graph.info(*layer).kind.as_str(), "mean" | "sum");
            let scale = if reduction { own.max(input_scale(id)) } else { own }.max(1e-30);
            let err = got.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
            if err.is_nan() || err > 1e-4 {
                return Err(format!("{backend}: `{onnx_name}` (layer `{id}`) differs from onnxruntime by {err:.2e} of its largest value {scale}"));
            }
            if err > worst.0 {
                worst = (err, onnx_name.clone());
            }
        }
        if !pairs.iter().any(|p| p.0 == manifest["outputs"][0]["name"].as_str().unwrap()) {
            return Err("the logits were not compared".into());
        }
        // Every layer of the loaded graph was compared.
        let compared: std::collections::HashSet<LayerId> = layers.iter().copied().collect();
        let missed: Vec<&str> = (0..graph.layers().len()).filter(|i| !compared.contains(&LayerId(*i))).map(|i| graph.layers()[i].id.as_str()).collect();
        if !missed.is_empty() {
            return Err(format!("layers not compared with onnxruntime: {missed:?}"));
        }
        out.push(Compared { backend, layers: pairs.len(), worst: worst.0, worst_at: worst.1 });
    }
    Ok(out)
}

fn check(name: &str) {
    match compare(&refs(), name) {
        Ok(found) => {
            for c in found {
                println!(
                    "{name} on {}: {} node outputs match onnxruntime, worst {:.2e} of the tensor's largest value (`{}`)",
                    c.backend, c.layers, c.worst, c.worst_at
                );
            }
        }
        Err(e) => panic!("{name}: {e}"),
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

/// The zoo: every torchvision CNN classifier, exported by `tests/onnx/zoo.py` (each exporter
/// and opset it was run with), in `CONVSCOPE_ZOO`. Every model is compared, the table of
/// results is printed (and written to `CONVSCOPE_ZOO_TABLE` when set), and the test fails
/// when any model does.
#[test]
#[ignore = "needs tests/onnx/zoo.py's output in CONVSCOPE_ZOO; ./build.sh test runs it on a subset, ./build.sh zoo on all"]
fn torchvision_zoo_matches_onnxruntime() {
    let dir = PathBuf::from(std::env::var("CONVSCOPE_ZOO").expect("set CONVSCOPE_ZOO to the output directory of tests/onnx/zoo.py"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".onnx").map(str::to_string))
        .filter(|n| dir.join(n).join("manifest.json").exists())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no exported model in {}", dir.display());
    let mut rows = vec![];
    let mut failed = vec![];
    for name in &names {
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name).join("manifest.json")).unwrap()).unwrap();
        let ops: Vec<&str> = manifest["ops"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        let input: Vec<String> = manifest["input"].as_array().unwrap().iter().map(|v| v.to_string()).collect();
        let exporter = format!("{} {}", manifest["exporter"].as_str().unwrap_or("?"), manifest["opset"]);
        let started = std::time::Instant::now();
        let result = compare(&dir, name);
        let (cpu, wgpu) = match &result {
            Ok(found) => {
                let cell = |b: &str| found.iter().find(|c| c.backend == b).map_or("-".to_string(), |c| format!("{:.1e} ({} layers)", c.worst, c.layers));
                (cell("cpu"), cell("wgpu"))
            }
            Err(e) => {
                failed.push(format!("{name}: {e}"));
                ("FAILED".to_string(), "FAILED".to_string())
            }
        };
        let row = format!("| {name} | {exporter} | {} | {} | {cpu} | {wgpu} |", input[2..].join("x"), ops.join(" "));
        println!("{row}   [{:.1} s]", started.elapsed().as_secs_f32());
        rows.push(row);
    }
    let table = format!(
        "| model | exporter, opset | input | ONNX ops | worst layer error, CPU | worst layer error, wgpu |\n|---|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    if let Ok(path) = std::env::var("CONVSCOPE_ZOO_TABLE") {
        std::fs::write(&path, &table).unwrap();
    }
    assert!(failed.is_empty(), "{} of {} models differ from onnxruntime or do not import:\n{}", failed.len(), names.len(), failed.join("\n"));
}
