//! The ONNX importer on models built here, byte by byte: what it maps, the values it
//! computes, and the errors it gives for what it cannot run or read.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::to_vec;
use convscope_core::{Error, graph::Graph, onnx};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
    tensor_shape_proto::{Dimension, dimension},
    type_proto,
};

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type: 1, float_data: values.to_vec(), ..Default::default() }
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: v.to_vec(), type_: AttributeType::INTS.into(), ..Default::default() }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    let t = type_proto::Tensor { elem_type: 1, shape: Some(TensorShapeProto { dim, ..Default::default() }).into(), ..Default::default() };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), ..Default::default() }).into(),
        ..Default::default()
    }
}

/// x [N, 1, 3, 3] -> conv 2x2 (2 channels) -> relu -> global mean -> flatten -> gemm (3 classes).
fn tiny(opset: i64, nodes_extra: Vec<NodeProto>) -> ModelProto {
    let mut nodes = vec![
        node("Conv", "conv", &["x", "w", "b"], "c", vec![ints_attr("kernel_shape", &[2, 2])]),
        node("Relu", "relu", &["c"], "r", vec![]),
        node("GlobalAveragePool", "pool", &["r"], "p", vec![]),
        node("Flatten", "flat", &["p"], "f", vec![]),
        node(
            "Gemm",
            "fc",
            &["f", "fw", "fb"],
            "logits",
            vec![AttributeProto { name: "transB".into(), i: 1, type_: AttributeType::INT.into(), ..Default::default() }],
        ),
    ];
    nodes.extend(nodes_extra);
    let graph = GraphProto {
        name: "tiny".into(),
        node: nodes,
        initializer: vec![
            // Channel 0 sums its window, channel 1 takes minus its top-left pixel.
            tensor("w", &[2, 1, 2, 2], &[1.0, 1.0, 1.0, 1.0, -1.0, 0.0, 0.0, 0.0]),
            tensor("b", &[2], &[0.0, 0.5]),
            tensor("fw", &[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, -1.0]),
            tensor("fb", &[3], &[0.0, 0.0, 10.0]),
        ],
        input: vec![value("x", &[None, Some(1), Some(3), Some(3)])],
        output: vec![value("logits", &[None, Some(3)])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        producer_name: "convscope-test".into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset, ..Default::default() }],
        graph: Some(graph).into(),
        ..Default::default()
    }
}

fn message(r: convscope_core::Result<onnx::Imported>) -> String {
    match r {
        Ok(_) => panic!("imported"),
        Err(e) => {
            assert!(matches!(e, Error::Onnx(_)), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn a_tiny_model_maps_to_named_layers_and_computes_by_hand() {
    let bytes = tiny(13, vec![]).write_to_bytes().unwrap();
    assert!(onnx::looks_like_onnx(&bytes));
    let m = onnx::import(&bytes).unwrap();
    let ids: Vec<&str> = m.graph.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["conv", "relu", "pool", "flat", "fc"]);
    assert_eq!(m.graph.input_shape, [1, 3, 3]);
    let device = Device::flex();
    let g = Graph::load(&m.graph, m.weights, &device).unwrap();
    let shapes: Vec<Vec<usize>> = g.layers().iter().map(|l| l.shape.clone()).collect();
    // conv+relu fold into one layer named after the relu.
    assert_eq!(shapes, vec![vec![2, 2, 2], vec![2, 1, 1], vec![2], vec![3]]);
    assert_eq!(g.info(g.last_spatial_layer().unwrap()).id, "relu");
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let (logits, _) = g.forward(Tensor::<4>::from_data(TensorData::new(x, [1, 1, 3, 3]), &device), &[]).unwrap();
    // Window sums of 1..9 in 3x3: 12, 16, 24, 28 -> mean 20. Channel 1: relu(0.5 - x) = 0.
    assert_eq!(to_vec(logits), vec![20.0, 0.0, 30.0]);
}

#[test]
fn unsupported_ops_are_named_with_their_nodes_and_the_supported_list() {
    let extra = vec![node("LSTM", "rnn", &["f"], "h", vec![]), node("Resize", "up1", &["c"], "u1", vec![]), node("Resize", "up2", &["c"], "u2", vec![])];
    let e = message(onnx::import(&tiny(13, extra).write_to_bytes().unwrap()));
    assert!(e.contains("LSTM (node `rnn`)") && e.contains("Resize (node `up1`, `up2`)"), "{e}");
    assert!(e.contains("Supported ops: Abs, Add, AveragePool") && e.contains("Unsqueeze"), "{e}");
    let mut custom = tiny(13, vec![]);
    custom.graph.as_mut().unwrap().node.push(NodeProto { domain: "com.microsoft".into(), ..node("FusedConv", "fc2", &["x"], "y", vec![]) });
    assert!(message(onnx::import(&custom.write_to_bytes().unwrap())).contains("com.microsoft.FusedConv (node `fc2`)"));
}

#[test]
fn a_transpose_that_moves_the_batch_is_refused_before_anything_runs() {
    let with_perm = |perm: &[i64]| {
        let mut m = tiny(13, vec![]);
        let g = m.graph.as_mut().unwrap();
        g.node.insert(1, node("Transpose", "t", &["c"], "ct", vec![ints_attr("perm", perm)]));
        g.node[2].input[0] = "ct".into();
        m.write_to_bytes().unwrap()
    };
    let e = message(onnx::import(&with_perm(&[1, 0, 2, 3])));
    assert!(e.contains("node `t` (Transpose)") && e.contains("moves the batch axis"), "{e}");
    // Swapping height and width is a layer of its own.
    let m = onnx::import(&with_perm(&[0, 1, 3, 2])).unwrap();
    let t = m.graph.nodes.iter().find(|n| n.id == "t").unwrap();
    assert_eq!(t.op.kind(), "transpose");
}

#[test]
fn truncated_and_garbage_files_give_errors_not_panics() {
    let bytes = tiny(13, vec![]).write_to_bytes().unwrap();
    let mut refused = 0;
    for n in 0..bytes.len() {
        if onnx::import(&bytes[..n]).is_err() {
            refused += 1;
        }
    }
    // A protobuf prefix can still parse (fields are optional), but then the graph is
    // incomplete; nearly every prefix is refused, none panics.
    assert!(refused as f64 >= 0.95 * bytes.len() as f64, "{refused} of {} prefixes refused", bytes.len());
    assert!(message(onnx::import(&[])).contains("empty"));
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    assert!(onnx::import(&garbage).is_err());
    let e = message(onnx::import(b"CSM\0 not onnx"));
    assert!(e.contains("not a readable ONNX model") || e.contains("opset"), "{e}");
}

#[test]
fn wrong_opsets_inputs_and_shapes_are_explained() {
    assert!(message(onnx::import(&tiny(5, vec![]).write_to_bytes().unwrap())).contains("opset 5 is not supported"));
    let mut dynamic = tiny(13, vec![]);
    dynamic.graph.as_mut().unwrap().input[0] = value("x", &[None, Some(1), None, None]);
    assert!(message(onnx::import(&dynamic.write_to_bytes().unwrap())).contains("no fixed height and width"));
    let mut nhwc = tiny(13, vec![]);
    nhwc.graph.as_mut().unwrap().input[0] = value("x", &[None, Some(3), Some(3), Some(1)]);
    let e = message(onnx::import(&nhwc.write_to_bytes().unwrap()));
    assert!(e.contains("`conv`") || e.contains("channels"), "{e}");
    let mut two = tiny(13, vec![]);
    two.graph.as_mut().unwrap().input.push(value("mask", &[None, Some(1), Some(3), Some(3)]));
    assert!(message(onnx::import(&two.write_to_bytes().unwrap())).contains("2 inputs (`x`, `mask`)"));
    let mut missing = tiny(13, vec![]);
    missing.graph.as_mut().unwrap().initializer.remove(0);
    let e = message(onnx::import(&missing.write_to_bytes().unwrap()));
    assert!(e.contains("node `conv` (Conv)") && e.contains("`w`"), "{e}");
}

/// Inputs the fuzzer (`fuzz/fuzz_targets/onnx_import.rs`) found, kept as regressions: each
/// is refused on import with a message (none may panic, or reach the device and allocate).
#[test]
fn fuzzer_findings_are_refused_with_messages() {
    let dir = common::repo().join("tests/data/onnx-fuzz");
    let cases = [
        // A mutated Pad of 2^48 rows: the Gemm's weight no longer fitted its input, and
        // loading it asked for 2^55 floats.
        ("huge-padding-then-gemm.onnx", "too large to compute"),
        // A ConstantOfShape of 16.8 million zeros for a pad list: folding it took 4 s (26 s
        // under the fuzzer's sanitizer) and the message printed every zero.
        ("huge-constant-of-shape.onnx", "is too large"),
    ];
    for (file, says) in cases {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let t0 = std::time::Instant::now();
        let e = message(onnx::import(&bytes));
        assert!(e.contains(says), "{file}: {e}");
        assert!(e.len() < 1000, "{file}: a message of {} characters", e.len());
        println!("{file}: refused in {:?}", t0.elapsed());
    }
}

/// A one-node model on input `x` (`dims`) to output `y`, for [`onnx::import_tensors`].
fn one_node(n: NodeProto, dims: &[i64], initializers: Vec<TensorProto>) -> Vec<u8> {
    nodes(vec![n], dims, initializers)
}

/// A model of `nodes` on input `x` (`dims`) to output `y`.
fn nodes(nodes: Vec<NodeProto>, dims: &[i64], initializers: Vec<TensorProto>) -> Vec<u8> {
    let graph = GraphProto {
        node: nodes,
        initializer: initializers,
        input: vec![value("x", &dims.iter().map(|d| Some(*d)).collect::<Vec<_>>())],
        output: vec![value("y", &[])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17, ..Default::default() }],
        graph: Some(graph).into(),
        ..Default::default()
    };
    model.write_to_bytes().unwrap()
}

/// Imports `bytes` as tensors and runs `x` (`[N, C, H, W]`) through: the output's dims and values.
fn run_tensors(bytes: &[u8], x: Vec<f32>, dims: [usize; 4]) -> (Vec<usize>, Vec<f32>) {
    let m = onnx::import_tensors(bytes).unwrap();
    let device = Device::flex();
    let g = Graph::load_any(&m.graph, m.weights, &device).unwrap();
    let out = g.activations(Tensor::<4>::from_data(TensorData::new(x, dims), &device), &[g.output()]).unwrap().remove(0);
    (out.dims(), to_vec(out.flatten()))
}

#[test]
fn conv_transpose_spreads_each_pixel_with_output_padding_and_bias() {
    // 2x2 input, 2x2 kernel of ones, stride 2: each pixel fills its own 2x2 block; one extra
    // row and column (output_padding) hold only the bias.
    let n = node("ConvTranspose", "up", &["x", "w", "b"], "y", vec![ints_attr("strides", &[2, 2]), ints_attr("output_padding", &[1, 1])]);
    let bytes = one_node(n, &[1, 1, 2, 2], vec![tensor("w", &[1, 1, 2, 2], &[1.0; 4]), tensor("b", &[1], &[0.5])]);
    let (dims, v) = run_tensors(&bytes, vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
    assert_eq!(dims, [1, 1, 5, 5]);
    #[rustfmt::skip]
    let want = [
        1.5, 1.5, 2.5, 2.5, 0.5,
        1.5, 1.5, 2.5, 2.5, 0.5,
        3.5, 3.5, 4.5, 4.5, 0.5,
        3.5, 3.5, 4.5, 4.5, 0.5,
        0.5, 0.5, 0.5, 0.5, 0.5,
    ];
    assert_eq!(v, want);
}

#[test]
fn what_onnx_node_tests_found_imports_without_a_panic() {
    // A graph whose output is its input (through Identity) panicked at import.
    let bytes = one_node(node("Identity", "id", &["x"], "y", vec![]), &[1, 1, 2, 2], vec![]);
    assert_eq!(run_tensors(&bytes, vec![1.0, -2.0, 3.0, 4.0], [1, 1, 2, 2]).1, [1.0, -2.0, 3.0, 4.0]);
    assert!(message(onnx::import(&bytes)).contains("not class scores"), "{}", message(onnx::import(&bytes)));
    // Clip with min > max panicked in the CPU backend; ONNX gives max everywhere.
    let clip = node("Clip", "clip", &["x", "lo", "hi"], "y", vec![]);
    let bytes = one_node(clip, &[1, 1, 2, 2], vec![tensor("lo", &[], &[2.0]), tensor("hi", &[], &[1.0])]);
    assert_eq!(run_tensors(&bytes, vec![0.0, 1.5, 3.0, -4.0], [1, 1, 2, 2]).1, [1.0; 4]);
}

#[test]
fn ops_across_the_batch_of_images_are_refused() {
    // A graph with an image op (here a 1x1 max pooling) takes [N, C, H, W] as a batch.
    let pool = || node("MaxPool", "pool", &["x"], "p", vec![ints_attr("kernel_shape", &[1, 1])]);
    let soft = node("Softmax", "soft", &["p"], "y", vec![AttributeProto { name: "axis".into(), i: 0, type_: AttributeType::INT.into(), ..Default::default() }]);
    let m = message(onnx::import_tensors(&nodes(vec![pool(), soft.clone()], &[2, 3, 4, 4], vec![])));
    assert!(m.contains("axis 0, the batch of images"), "{m}");
    // Without one, a [2, 3, 4, 4] input is one tensor, and the softmax runs over its first axis.
    let mut alone = soft;
    alone.input[0] = "x".into();
    let (_, v) = run_tensors(&one_node(alone, &[2, 1, 1, 1], vec![]), vec![0.0, 2.0f32.ln()], [1, 2, 1, 1]);
    assert!((v[0] - 1.0 / 3.0).abs() < 1e-6 && (v[1] - 2.0 / 3.0).abs() < 1e-6, "{v:?}");
    // A constant that differs from image to image.
    let add = node("Add", "add", &["p", "k"], "y", vec![]);
    let m = message(onnx::import_tensors(&nodes(vec![pool(), add], &[2, 1, 2, 2], vec![tensor("k", &[2, 1, 1, 1], &[1.0, 2.0])])));
    assert!(m.contains("varies along the batch axis"), "{m}");
    // A broadcast constant that does not: [W] against [N, C, H, W].
    let add = node("Add", "add", &["x", "k"], "y", vec![]);
    let (_, v) = run_tensors(&one_node(add, &[1, 1, 2, 2], vec![tensor("k", &[2], &[10.0, 20.0])]), vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
    assert_eq!(v, [11.0, 22.0, 13.0, 24.0]);
}

#[test]
fn a_1d_convolution_runs_as_a_1_by_k_one() {
    // [N, C, L] with a conv: 1-D signals. Kernel [1, 1, 2] of ones, one zero after: pairwise sums.
    let conv = node("Conv", "conv", &["x", "w"], "y", vec![ints_attr("kernel_shape", &[2]), ints_attr("pads", &[0, 1])]);
    let bytes = one_node(conv, &[1, 1, 4], vec![tensor("w", &[1, 1, 2], &[1.0, 1.0])]);
    let m = onnx::import_tensors(&bytes).unwrap();
    assert!(m.batched);
    assert_eq!(m.graph.nodes.last().unwrap().id, "conv");
    let (_, v) = run_tensors(&bytes, vec![1.0, 2.0, 3.0, 4.0], [1, 1, 1, 4]);
    assert_eq!(v, [3.0, 5.0, 7.0, 4.0]);
}

fn int_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type: 7, int64_data: values.to_vec(), ..Default::default() }
}

/// The tiny model with `nodes` between the conv (`c`, `[N, 2, 2, 2]`) and the relu (which
/// reads `r_in`), and `inits` added; its logits on 1..9.
fn tiny_with(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, opset: i64) -> Vec<f32> {
    let mut m = tiny(opset, vec![]);
    let g = m.graph.as_mut().unwrap();
    g.node[1].input[0] = "r_in".into();
    for (k, n) in nodes.into_iter().enumerate() {
        g.node.insert(1 + k, n);
    }
    g.initializer.extend(inits);
    let imported = onnx::import(&m.write_to_bytes().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    let device = Device::flex();
    let graph = Graph::load(&imported.graph, imported.weights, &device).unwrap();
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    to_vec(graph.forward(Tensor::<4>::from_data(TensorData::new(x, [1, 1, 3, 3]), &device), &[]).unwrap().0)
}

fn close(got: &[f32], want: &[f32]) {
    assert!(got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4), "{got:?} vs {want:?}");
}

#[test]
fn split_and_concat_swap_the_channels() {
    // Channel 0 (window sums, mean 20 after the relu) and channel 1 (relu(0.5 - x) = 0)
    // change places: features [0, 20], logits [0, 20, 0 - 20 + 10].
    let mut split = node(
        "Split",
        "split",
        &["c", "sizes"],
        "s0",
        vec![AttributeProto { name: "axis".into(), i: 1, type_: AttributeType::INT.into(), ..Default::default() }],
    );
    split.output.push("s1".into());
    let nodes = vec![
        split,
        node(
            "Concat",
            "cat",
            &["s1", "s0"],
            "r_in",
            vec![AttributeProto { name: "axis".into(), i: 1, type_: AttributeType::INT.into(), ..Default::default() }],
        ),
    ];
    close(&tiny_with(nodes, vec![int_tensor("sizes", &[2], &[1, 1])], 13), &[0.0, 20.0, -10.0]);
}

#[test]
fn a_gathered_channel_unsqueezed_and_repeated() {
    // x[:, 0] twice: both channels are the window sums, features [20, 20], logits [20, 20, 10].
    let nodes = vec![
        node("Gather", "pick", &["c", "zero"], "g", vec![AttributeProto { name: "axis".into(), i: 1, type_: AttributeType::INT.into(), ..Default::default() }]),
        node("Unsqueeze", "unsq", &["g", "one"], "u", vec![]),
        node("Concat", "cat", &["u", "u"], "r_in", vec![AttributeProto { name: "axis".into(), i: 1, type_: AttributeType::INT.into(), ..Default::default() }]),
    ];
    close(&tiny_with(nodes, vec![int_tensor("zero", &[], &[0]), int_tensor("one", &[1], &[1])], 13), &[20.0, 20.0, 10.0]);
}

#[test]
fn layer_norm_over_the_last_axis_and_a_slice() {
    // Rows (a, b) of each map become (-1, 1) or (1, -1) (to 1e-6, eps 1e-5): channel 0's rows
    // rise (12, 16 and 24, 28), channel 1's fall (0.5 - x); after the relu each channel's
    // mean is 0.5: features [0.5, 0.5], logits [0.5, 0.5, 10].
    let ln = vec![node("LayerNormalization", "ln", &["c", "gamma", "beta"], "r_in", vec![])];
    close(&tiny_with(ln, vec![tensor("gamma", &[2], &[1.0, 1.0]), tensor("beta", &[2], &[0.0, 0.0])], 17), &[0.5, 0.5, 10.0]);
    // The first column of each map (x[..., :1]), then the relu: channel 0 has 12 and 24,
    // mean 18; channel 1 nothing: features [18, 0], logits [18, 0, 28].
    let slice = vec![node("Slice", "cut", &["c", "starts", "ends", "axes"], "r_in", vec![])];
    let inits = vec![int_tensor("starts", &[1], &[0]), int_tensor("ends", &[1], &[1]), int_tensor("axes", &[1], &[-1])];
    close(&tiny_with(slice, inits, 13), &[18.0, 0.0, 28.0]);
}

#[test]
fn dynamo_as_strided_folds_the_batch_and_gathers_it_back() {
    // PyTorch's dynamo exporter writes `as_strided` as Reshape(x, [-1]) (the batch of one
    // image folded in) and a Gather whose indices have x's shape. In order it is the identity
    // (the tiny model's logits [20, 0, 30]); indices 4..8 then 0..4 swap the two channels
    // (features [0, 20], logits [0, 20, -10]).
    let as_strided = |order: &[i64]| {
        let nodes = vec![node("Reshape", "flat_all", &["c", "minus_one"], "v", vec![]), node("Gather", "as_strided", &["v", "idx"], "r_in", vec![])];
        tiny_with(nodes, vec![int_tensor("minus_one", &[1], &[-1]), int_tensor("idx", &[1, 2, 2, 2], order)], 18)
    };
    close(&as_strided(&[0, 1, 2, 3, 4, 5, 6, 7]), &[20.0, 0.0, 30.0]);
    close(&as_strided(&[4, 5, 6, 7, 0, 1, 2, 3]), &[0.0, 20.0, -10.0]);
    // Read by anything but a Gather, folding the batch in is still refused, at the Reshape.
    let mut m = tiny(18, vec![]);
    let g = m.graph.as_mut().unwrap();
    g.node[1].input[0] = "v".into();
    g.node.insert(1, node("Reshape", "flat_all", &["c", "minus_one"], "v", vec![]));
    g.initializer.push(int_tensor("minus_one", &[1], &[-1]));
    let msg = message(onnx::import(&m.write_to_bytes().unwrap()));
    assert!(msg.contains("flat_all") && msg.contains("keeping the batch first"), "{msg}");
    // So is one that is also an output of the graph, though a Gather reads it.
    let mut m = tiny(18, vec![]);
    let g = m.graph.as_mut().unwrap();
    g.node[1].input[0] = "r_in".into();
    g.node.insert(1, node("Reshape", "flat_all", &["c", "minus_one"], "v", vec![]));
    g.node.insert(2, node("Gather", "as_strided", &["v", "idx"], "r_in", vec![]));
    g.initializer.extend([int_tensor("minus_one", &[1], &[-1]), int_tensor("idx", &[1, 2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7])]);
    g.output.push(value("v", &[Some(8)]));
    let msg = message(onnx::import(&m.write_to_bytes().unwrap()));
    assert!(msg.contains("flat_all") && msg.contains("keeping the batch first"), "{msg}");
}

#[test]
fn a_labels_file_must_name_every_class() {
    // The tiny model has 3 classes: two names are refused with both numbers, three are taken.
    let bytes = tiny(13, vec![]).write_to_bytes().unwrap();
    let device = Device::flex();
    let with = |labels: &str| onnx::load(&bytes, "tiny", &onnx::Preprocessing::parse("0", "1", false, labels.into()).unwrap(), &device);
    let e = with("cat\ndog\n").map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("names 2 classes, the model has 3"), "{e}");
    assert_eq!(with("cat\ndog\nbird\n").unwrap().labels, ["cat", "dog", "bird"]);
    assert!(with("").unwrap().labels.is_empty());
}
