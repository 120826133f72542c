//! ONNX's backend node tests (`onnx/backend/test/data/node/test_*`: a one-op model, its
//! inputs and the outputs ONNX's reference implementation gives) for every test whose ops
//! are all in [`onnx::supported`], imported with [`onnx::import_tensors`] and run on the CPU
//! and on wgpu; outputs must match within the suite's tolerances (`rtol` 1e-3, `atol` 1e-7,
//! ONNX's backend test runner's defaults).
//!
//! Inputs after the first become initializers (convscope holds weights, shapes and bounds as
//! constants; ONNX allows an initializer for any graph input). A test either passes or is
//! refused by the importer with a message (integer tensors, layouts convscope's layers do
//! not hold, ...); a wrong value fails the test. The counts are printed per op.
//!
//! The tests are generated, not committed: `./build.sh test` writes them with the pinned
//! onnx package (`tests/onnx/node_tests.py`) and runs this with `--ignored`, pointing
//! `CONVSCOPE_ONNX_NODE_TESTS` at them.

mod common;

use std::{collections::BTreeMap, path::PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use common::{devices, to_vec};
use convscope_core::{graph::Graph, onnx};
use onnx_protobuf::{Message, ModelProto, TensorProto};

const RTOL: f32 = 1e-3;
const ATOL: f32 = 1e-7;

/// Fewer passes than this is a regression (measured: see BENCHMARKS.md).
const MIN_PASSED: usize = 212;

enum Outcome {
    Passed,
    Refused(String),
    Wrong(String),
}

struct Case {
    name: String,
    op: String,
    model: ModelProto,
    /// Per data set: inputs and expected outputs.
    sets: Vec<(Vec<TensorProto>, Vec<TensorProto>)>,
}

fn read_pb(path: &std::path::Path) -> TensorProto {
    TensorProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn numbered(dir: &std::path::Path, prefix: &str) -> Vec<TensorProto> {
    (0..).map(|k| dir.join(format!("{prefix}_{k}.pb"))).take_while(|p| p.exists()).map(|p| read_pb(&p)).collect()
}

/// The node tests whose every node is a supported op of the standard domain.
fn cases() -> Vec<Case> {
    let root = PathBuf::from(std::env::var("CONVSCOPE_ONNX_NODE_TESTS").expect("set CONVSCOPE_ONNX_NODE_TESTS to the output of tests/onnx/node_tests.py"));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("node")).expect("the node tests").map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let mut out = vec![];
    let ops = onnx::supported();
    for dir in dirs {
        let model = ModelProto::parse_from_bytes(&std::fs::read(dir.join("model.onnx")).unwrap()).unwrap();
        let g = model.graph.as_ref().unwrap();
        let supported = !g.node.is_empty() && g.node.iter().all(|n| (n.domain.is_empty() || n.domain == "ai.onnx") && ops.contains(&n.op_type.as_str()));
        if !supported {
            continue;
        }
        let op = g.node.iter().map(|n| n.op_type.as_str()).find(|o| *o != "Constant").unwrap_or("Constant").to_string();
        let mut sets = vec![];
        let mut set_dirs: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        set_dirs.sort();
        for s in set_dirs {
            sets.push((numbered(&s, "input"), numbered(&s, "output")));
        }
        out.push(Case { name: dir.file_name().unwrap().to_string_lossy().into_owned(), op, model, sets });
    }
    out
}

fn first_line(e: impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn run(model: &ModelProto, inputs: &[TensorProto], outputs: &[TensorProto], device: &Device) -> Outcome {
    let mut m = model.clone();
    let g = m.graph.as_mut().unwrap();
    for (j, t) in inputs.iter().enumerate().skip(1) {
        let mut t = t.clone();
        t.name = g.input[j].name.clone();
        g.initializer.push(t);
    }
    let bytes = m.write_to_bytes().unwrap();
    let imported = match onnx::import_tensors(&bytes) {
        Ok(i) => i,
        Err(e) => return Outcome::Refused(first_line(e)),
    };
    // The importer accepted it: a graph that then does not load is the importer's fault.
    let graph = match Graph::load_any(&imported.graph, imported.weights.clone(), device) {
        Ok(g) => g,
        Err(e) => return Outcome::Wrong(format!("imported, but the graph does not load: {}", first_line(e))),
    };
    let Some(x) = inputs.first() else { return Outcome::Refused("no input".into()) };
    let x = onnx::constant(x).unwrap();
    let [c, h, w] = imported.graph.input_shape;
    let n = if imported.batched { x.shape.first().copied().unwrap_or(1) } else { 1 };
    if n * c * h * w != x.values.len() {
        return Outcome::Wrong(format!("the input {:?} was imported as {:?}", x.shape, imported.graph.input_shape));
    }
    let dims = [n, c, h, w];
    let x = Tensor::<4>::from_data(TensorData::new(x.values, dims), device);
    // Every output of the test, by its ONNX name.
    let names: std::collections::HashMap<&str, &str> = imported.values.iter().map(|(o, l)| (o.as_str(), l.as_str())).collect();
    let mut layers = vec![];
    for (k, o) in model.graph.as_ref().unwrap().output.iter().enumerate() {
        match names.get(o.name.as_str()).and_then(|id| graph.layer(id).ok()) {
            Some(l) => layers.push(l),
            None => return Outcome::Wrong(format!("output {k} (`{}`) is not a layer of the imported graph", o.name)),
        }
    }
    let values = match graph.activations(x, &layers) {
        Ok(v) => v,
        Err(e) => return Outcome::Wrong(format!("did not run: {}", first_line(e))),
    };
    if outputs.len() != values.len() {
        return Outcome::Wrong(format!("{} outputs, the test has {}", values.len(), outputs.len()));
    }
    for (k, ((value, layer), want)) in values.into_iter().zip(&layers).zip(outputs).enumerate() {
        // The output's shape as the graph infers it (a value of 4 axes runs as [batch, A * B, C, D]).
        let shape_of = graph.info(*layer).shape.clone();
        let got_dims: Vec<usize> = std::iter::once(value.dims()[0]).chain(shape_of).collect();
        let got = to_vec(value.flatten());
        let want = onnx::constant(want).unwrap();
        let shape: Vec<usize> = if imported.batched { got_dims.clone() } else { got_dims[1..].to_vec() };
        // A scalar and a [1] agree.
        let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
        if squeeze(&shape) != squeeze(&want.shape) {
            return Outcome::Wrong(format!("output {k}: shape {shape:?}, expected {:?}", want.shape));
        }
        for (i, (a, b)) in got.iter().zip(&want.values).enumerate() {
            let ok = (a - b).abs() <= ATOL + RTOL * b.abs() || (a.is_nan() && b.is_nan()) || a == b;
            if !ok {
                return Outcome::Wrong(format!("output {k}, value {i}: {a}, expected {b}"));
            }
        }
    }
    Outcome::Passed
}

#[test]
#[ignore = "needs tests/onnx/node_tests.py's output in CONVSCOPE_ONNX_NODE_TESTS; ./build.sh test runs it"]
fn onnx_backend_node_tests_of_the_supported_ops() {
    let cases = cases();
    assert!(cases.len() > 100, "only {} node tests of the supported ops were found", cases.len());
    for (backend, device) in devices() {
        // op -> (passed, refused, total)
        let mut per_op: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
        let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut wrong = vec![];
        for case in &cases {
            let mut outcome = Outcome::Passed;
            for (inputs, outputs) in &case.sets {
                outcome = run(&case.model, inputs, outputs, &device);
                if !matches!(outcome, Outcome::Passed) {
                    break;
                }
            }
            let entry = per_op.entry(case.op.clone()).or_default();
            entry.2 += 1;
            match outcome {
                Outcome::Passed => entry.0 += 1,
                Outcome::Refused(why) => {
                    entry.1 += 1;
                    refused.entry(why).or_default().push(case.name.clone());
                }
                Outcome::Wrong(why) => wrong.push(format!("{}: {why}", case.name)),
            }
        }
        let passed: usize = per_op.values().map(|v| v.0).sum();
        println!(
            "ONNX backend node tests of the supported ops on {backend}: {passed} of {} passed, {} refused with a message, {} wrong",
            cases.len(),
            refused.values().map(Vec::len).sum::<usize>(),
            wrong.len()
        );
        for (op, (p, r, t)) in &per_op {
            println!("  {op:<20} {p:>3} passed of {t:>3} ({r} refused)");
        }
        println!("  refused:");
        for (why, names) in &refused {
            println!("    {} x {why}\n      {}", names.len(), names.join(" "));
        }
        assert!(wrong.is_empty(), "{backend}: node tests with wrong results:\n{}", wrong.join("\n"));
        assert!(passed >= MIN_PASSED, "{backend}: {passed} node tests passed, fewer than the {MIN_PASSED} of before");
    }
}
