//! The `convscope` binary: its JSON contract, its .npy output, and its error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convscope")).args(args).current_dir(repo()).output().expect("convscope runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape_str = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> = shape_str.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data = b[10 + hlen..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    (shape, data)
}

#[test]
fn predict_json_is_one_object_with_the_top_k() {
    let out = run(&["predict", "--model", "efficientnet-lite0", "www/samples/chelsea.png", "--top", "3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "exactly one JSON object: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["model"], "efficientnet-lite0");
    assert_eq!(v["backend"], "cpu");
    let top = v["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let idx = top[0]["index"].as_u64().unwrap();
    assert!((281..=285).contains(&idx), "chelsea is a cat: {top:?}");
    assert!(top[0]["label"].as_str().unwrap().contains("cat"));
    let probs: Vec<f64> = top.iter().map(|p| p["prob"].as_f64().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]) && probs[0] <= 1.0);
    assert!(top[0]["logit"].as_f64().is_some());
}

#[test]
fn activations_npy_holds_the_layer_and_agrees_with_predict() {
    let dir = std::env::temp_dir().join(format!("convscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stem = dir.join("stem.npy");
    let out = run(&["activations", "--model", "efficientnet-lite0", "--layer", "stem", "www/samples/coffee.png", "--npy", stem.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, data) = read_npy(&stem);
    assert_eq!(shape, vec![32, 112, 112]);
    assert_eq!(data.len(), 32 * 112 * 112);
    // ReLU6 output.
    assert!(data.iter().all(|v| (0.0..=6.0).contains(v)));
    assert!(data.iter().any(|v| *v > 0.5), "the stem responds to the image");

    let logits = dir.join("logits.npy");
    let out = run(&["activations", "--model", "efficientnet-lite0", "--layer", "logits", "www/samples/coffee.png", "--npy", logits.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, data) = read_npy(&logits);
    assert_eq!(shape, vec![1000]);
    let out = run(&["predict", "--model", "efficientnet-lite0", "www/samples/coffee.png", "--top", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (index, logit) = (v["top"][0]["index"].as_u64().unwrap() as usize, v["top"][0]["logit"].as_f64().unwrap());
    assert_eq!(index, 967);
    assert!((data[index] as f64 - logit).abs() < 1e-5);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn activations_png_draws_exactly_the_npy_values() {
    let dir = std::env::temp_dir().join(format!("convscope-cli-png-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (npy, png) = (dir.join("stem.npy"), dir.join("stem.png"));
    let out = run(&[
        "activations",
        "--model",
        "efficientnet-lite0",
        "--layer",
        "stem",
        "www/samples/chelsea.png",
        "--channels",
        "0..4",
        "--cols",
        "2",
        "--cell",
        "112",
        "--colormap",
        "gray",
        "--norm",
        "channel",
        "--npy",
        npy.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, data) = read_npy(&npy);
    assert_eq!(shape, vec![4, 112, 112]);
    let img = image::open(&png).unwrap().to_rgba8();
    // The grid's layout: 10 px margin, a 16 px title line, then per row a 14 px label band,
    // the 112 px map (one pixel a unit at --cell 112) and a 6 px gap; columns 6 px apart.
    let mut worst = 0u8;
    for c in 0..4 {
        let plane = &data[c * 112 * 112..(c + 1) * 112 * 112];
        let max = plane.iter().copied().fold(0.0f32, f32::max);
        let (x0, y0) = (10 + (c % 2) * 118, 10 + 16 + (c / 2) * 132 + 14);
        for y in 0..112 {
            for x in 0..112 {
                let want = (plane[y * 112 + x] / max * 255.0).round() as u8;
                let px = img.get_pixel((x0 + x) as u32, (y0 + y) as u32).0;
                assert_eq!((px[0], px[1], px[2]), (px[1], px[2], px[0]), "grey");
                worst = worst.max(px[0].abs_diff(want));
            }
        }
    }
    assert!(worst <= 1, "the drawn grey levels are the .npy values on the channel's scale (worst {worst})");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn layers_json_lists_ids_kinds_and_shapes() {
    let out = run(&["layers", "--model", "efficientnet-lite0", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    let head = layers.iter().find(|l| l["id"] == "head").unwrap();
    assert_eq!(head["shape"], serde_json::json!([1280, 7, 7]));
    assert_eq!(head["kind"], "conv2d+relu6");
    assert_eq!(layers.last().unwrap()["id"], "logits");
    assert_eq!(v["input"], serde_json::json!([3, 224, 224]));
}

#[test]
fn errors_say_what_was_wrong() {
    let cases: [(&[&str], &str); 12] = [
        (&["activations", "--model", "efficientnet-lite0", "--layer", "stem", "www/samples/chelsea.png"], "give --npy OUT.npy and/or --png OUT.png"),
        (
            &["activations", "--model", "efficientnet-lite0", "--layer", "stem", "www/samples/chelsea.png", "--png", "/tmp/x.png", "--channels", "0..40"],
            "channel 32 does not exist; this layer has 32 channels",
        ),
        (
            &["activations", "--model", "efficientnet-lite0", "--layer", "stem", "www/samples/chelsea.png", "--png", "/tmp/x.png", "--colormap", "jet"],
            "unknown colormap `jet`; use auto, viridis",
        ),
        (
            &["activations", "--model", "efficientnet-lite0", "--layer", "stem", "www/samples/chelsea.png", "--png", "/tmp/x.png", "--cols", "0"],
            "--cols needs a whole number above 0",
        ),
        (&["predict", "--model", "efficientnet-lite0", "no/such.png"], "image no/such.png does not exist"),
        (&["predict", "--model", "resnet9000", "www/samples/chelsea.png"], "unknown model `resnet9000`; bundled models are: efficientnet-lite0, digit-cnn"),
        (&["predict", "--model", "efficientnet-lite0", "weights/README.md"], "cannot read image weights/README.md: it is not a PNG or JPEG file"),
        (&["predict", "--model", "efficientnet-lite0", "tests/data/images/empty.png"], "image tests/data/images/empty.png is empty (0 bytes)"),
        (&["predict", "--model", "efficientnet-lite0", "tests/data/images/drawing.svg"], "is an SVG (a vector drawing); the CLI reads PNG and JPEG images"),
        (
            &["activations", "--model", "digit-cnn", "--layer", "conv9", "www/samples/chelsea.png", "--npy", "/tmp/x.npy"],
            "unknown layer `conv9`; valid layers are: conv1, pool1",
        ),
        (&["predict", "--model", "efficientnet-lite0", "www/samples/chelsea.png", "--backend", "tpu"], "unknown backend `tpu`"),
        (&["predict", "--model", "weights/README.md", "www/samples/chelsea.png"], "not a valid convscope model file"),
    ];
    for (args, want) in cases {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}

#[test]
fn cam_writes_the_raw_map_and_a_figure_and_scores_it() {
    let dir = std::env::temp_dir().join(format!("convscope-cam-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (npy, png) = (dir.join("raw.npy"), dir.join("cam.png"));
    let out = run(&[
        "cam",
        "--model",
        "efficientnet-lite0",
        "--method",
        "gradcam",
        "www/samples/chelsea.png",
        "--npy",
        npy.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["layer"], "head", "the default layer is the last spatial one");
    assert_eq!(v["target"]["class"], v["top"][0]["index"], "the default target is the top-1");
    let (shape, raw) = read_npy(&npy);
    assert_eq!(shape, vec![7, 7]);
    assert!(raw.iter().all(|v| v.is_finite() && *v >= 0.0) && raw.iter().any(|v| *v > 0.0), "{raw:?}");
    let peak = raw.iter().enumerate().fold(0, |b, (i, v)| if *v > raw[b] { i } else { b });
    assert_eq!(v["peak"], serde_json::json!([peak / 7, peak % 7]), "the JSON peak is the raw map's");
    let f = &v["faithfulness"];
    assert!(f["deletion_auc"].as_f64().unwrap() < v["random"]["deletion_auc"].as_f64().unwrap(), "{f}");
    let img = image::open(&png).unwrap();
    assert!(img.width() >= 448 && img.height() > 448);
    // A contrast and an input-level method at the same time: a map of the input's size.
    let out = run(&[
        "cam",
        "--model",
        "digit-cnn",
        "--method",
        "saliency",
        "--class",
        "3",
        "--contrast",
        "8",
        "www/samples/chelsea.png",
        "--npy",
        npy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_npy(&npy).0, vec![28, 28]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cam_errors_name_the_bad_value() {
    let out = run(&["cam", "--model", "digit-cnn", "--method", "gradcam+++", "www/samples/chelsea.png"]);
    assert!(stderr(&out).contains("gradcam+++") && stderr(&out).contains("integrated-gradients"), "{}", stderr(&out));
    let out = run(&["cam", "--model", "digit-cnn", "--method", "gradcam", "--class", "12", "www/samples/chelsea.png"]);
    assert!(stderr(&out).contains("class 12") && stderr(&out).contains("10 classes"), "{}", stderr(&out));
    let out = run(&["cam", "--model", "digit-cnn", "--method", "gradcam", "--layer", "fc1", "www/samples/chelsea.png"]);
    assert!(stderr(&out).contains("fc1") && stderr(&out).contains("feature maps"), "{}", stderr(&out));
}

/// A phone photo stored on its side with EXIF orientation 6 is turned upright before the
/// model sees it, as browsers do: its prediction is the upright photo's, not the sideways one's.
#[test]
fn exif_orientation_is_applied() {
    let top = |image: &str| -> Vec<(u64, f64)> {
        let out = run(&["predict", "--model", "efficientnet-lite0", image, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["top"].as_array().unwrap().iter().map(|p| (p["index"].as_u64().unwrap(), p["prob"].as_f64().unwrap())).collect()
    };
    let upright = top("tests/data/images/upright.jpg");
    let rotated = top("tests/data/images/exif-rotated.jpg");
    assert_eq!(upright[0].0, rotated[0].0);
    // The two files hold the same pixels, JPEG-coded in another block order: the sideways
    // picture (EXIF ignored) was 13 points off.
    assert!((upright[0].1 - rotated[0].1).abs() < 0.03, "upright {upright:?}, EXIF-rotated {rotated:?}");
}

/// `examples`: a folder indexed (JSON per channel: top images, positions, crops), crops and a
/// gallery written, a second run resumes (adds nothing), and two shards merged give the
/// whole folder's tops.
#[test]
fn examples_index_a_folder_resume_and_merge_shards() {
    let tmp = std::env::temp_dir().join(format!("convscope-examples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let set = tmp.join("set");
    std::fs::create_dir_all(set.join("more")).unwrap();
    for s in ["chelsea.png", "coffee.png", "camera.png", "rocket.jpg", "astronaut.png"] {
        std::fs::copy(repo().join("www/samples").join(s), set.join(s)).unwrap();
    }
    std::fs::copy(repo().join("tests/data/images/upright.jpg"), set.join("more/upright.jpg")).unwrap();
    std::fs::write(set.join("notes.txt"), "not an image").unwrap();
    let (set_s, out_s) = (set.to_string_lossy().into_owned(), tmp.join("out").to_string_lossy().into_owned());
    let json = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let args = ["examples", "--model", "digit-cnn", "--layer", "conv2,pool2", "--top", "3", "--channels", "0..4", "--json"];
    let first = json(&run(&[&args[..], &[&set_s, "-o", &out_s]].concat()));
    assert_eq!(first["images"], 6);
    assert_eq!(first["added"], 6);
    let channels = first["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 8, "4 channels of 2 layers");
    let c0 = &channels[0];
    assert_eq!((c0["layer"].as_str(), c0["channel"].as_u64()), (Some("conv2"), Some(0)));
    let top = c0["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let values: Vec<f64> = top.iter().map(|e| e["value"].as_f64().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "best first: {values:?}");
    // conv2 sees 6x6 input pixels of the 28x28 input (two 3x3 convs around a 2x2 pool):
    // in an image's own pixels, about 6/28 of its size.
    let crop = top[0]["crop"].as_array().unwrap();
    assert!(crop[2].as_u64().unwrap() > 0 && crop[3].as_u64().unwrap() > 0, "{crop:?}");
    assert!(tmp.join("out/conv2/0.png").is_file() && tmp.join("out/conv2/0/2.png").is_file() && tmp.join("out/pool2/3.png").is_file());
    // Started again: resumed, nothing new.
    let again = json(&run(&[&args[..], &[&set_s, "-o", &out_s]].concat()));
    assert_eq!((again["images"].as_u64(), again["added"].as_u64()), (Some(6), Some(0)));
    assert_eq!(again["channels"], first["channels"]);
    // Two shards, merged.
    for s in ["0/2", "1/2"] {
        let out = tmp.join(format!("shard{}", &s[..1])).to_string_lossy().into_owned();
        let part = json(&run(&[&args[..], &[&set_s, "-o", &out, "--shard", s]].concat()));
        assert_eq!(part["images"], 3);
    }
    let merged = tmp.join("merged.json").to_string_lossy().into_owned();
    let m = run(&["examples", "merge", &tmp.join("shard0/index.json").to_string_lossy(), &tmp.join("shard1/index.json").to_string_lossy(), "-o", &merged]);
    assert!(m.status.success(), "{}", stderr(&m));
    let merged: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let whole: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.join("out/index.json")).unwrap()).unwrap();
    assert_eq!(merged["images"], whole["images"]);
    for l in 0..2 {
        for c in 0..4 {
            assert_eq!(merged["layers"][l]["channels"][c]["top"], whole["layers"][l]["channels"][c]["top"], "layer {l} channel {c}");
            assert_eq!(merged["layers"][l]["channels"][c]["stats"]["histogram"], whole["layers"][l]["channels"][c]["stats"]["histogram"]);
        }
    }
    // Another layer into the same folder: refused, with what the folder holds.
    let other = run(&["examples", "--model", "digit-cnn", "--layer", "conv1", &set_s, "-o", &out_s]);
    assert!(!other.status.success());
    assert!(stderr(&other).contains("is an index of other settings"), "{}", stderr(&other));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn patterns_curve_is_the_same_run_stopped_earlier() {
    let dir = std::env::temp_dir().join(format!("convscope-curve-{}", std::process::id()));
    let (long, short) = (dir.join("long"), dir.join("short"));
    let args = |steps: &str, out: &Path, curve: Option<&str>| -> Vec<String> {
        let mut a: Vec<String> =
            ["patterns", "--model", "digit-cnn", "--layer", "conv1", "--channels", "0..3", "--size", "28", "--json", "--steps", steps, "-o"]
                .map(String::from)
                .to_vec();
        a.push(out.to_string_lossy().into_owned());
        if let Some(c) = curve {
            a.extend(["--curve".to_string(), c.to_string()]);
        }
        a
    };
    let json = |args: Vec<String>| -> serde_json::Value {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&refs);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let l = json(args("24", &long, Some("16,8,99,0")));
    let s = json(args("16", &short, None));
    // Out-of-range points are dropped, the rest sorted; each point has its gallery.
    let points = l["curve"].as_array().unwrap();
    assert_eq!(points.iter().map(|p| p["steps"].as_u64().unwrap()).collect::<Vec<_>>(), [8, 16]);
    assert!(long.join("gallery-8.png").exists() && long.join("gallery-16.png").exists());
    // Step 16 of a 24-step run is the 16-step run, to the bit.
    assert_eq!(points[1]["own_means"], s["own_means"]);
    // And it went on climbing after it.
    let mean = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).sum::<f64>();
    assert!(mean(&l["own_means"]) > mean(&points[0]["own_means"]), "{l}");
    let bad = run(&["patterns", "--model", "digit-cnn", "--steps", "8", "--curve", "4,x", "-o", dir.join("bad").to_str().unwrap()]);
    assert!(stderr(&bad).contains("--curve is a list of step counts like 16,32,64, not `4,x`"), "{}", stderr(&bad));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_profile_splits_a_forward_pass_by_kind_of_op() {
    let out = run(&["bench", "--profile", "--runs", "2", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = run(&["layers", "--model", "efficientnet-lite0", "--json"]);
    assert!(layers.status.success(), "{}", stderr(&layers));
    let layers: serde_json::Value = serde_json::from_slice(&layers.stdout).unwrap();
    let kinds = v["kinds"].as_array().unwrap();
    let count = |kind: &str| kinds.iter().find(|k| k["kind"] == kind).map(|k| k["layers"].as_u64().unwrap());
    // EfficientNet-Lite0: a direct stem, 16 depthwise convolutions, and 32 1x1 ones (each
    // block's projection, 15 expansions, the head).
    assert_eq!(count("conv2d, direct kernel"), Some(1), "{v}");
    assert_eq!(count("conv2d, depthwise kernel"), Some(16), "{v}");
    assert_eq!(count("conv2d 1x1, matrix product"), Some(32), "{v}");
    assert_eq!(count("conv2d, burn's"), None, "every convolution runs on a kernel of convscope's: {v}");
    let all: u64 = kinds.iter().map(|k| k["layers"].as_u64().unwrap()).sum();
    assert_eq!(all as usize, layers["layers"].as_array().unwrap().len(), "every layer is counted once");
    for column in 0..2 {
        let total = v["total_ms"][column].as_f64().unwrap();
        let sum: f64 = kinds.iter().map(|k| k["ms"][column].as_f64().unwrap()).sum();
        assert!(total > 0.0 && (sum - total).abs() <= 1e-9 * total, "the kinds add up to the layers' total: {sum} against {total}");
        for kind in ["conv2d, depthwise kernel", "conv2d 1x1, matrix product"] {
            let ms = kinds.iter().find(|k| k["kind"] == kind).unwrap()["ms"][column].as_f64().unwrap();
            assert!(ms > 0.0 && ms < total, "{kind}: {ms} ms of {total}");
        }
    }
    let gpu = run(&["bench", "--profile", "--backend", "wgpu"]);
    assert!(!gpu.status.success());
    assert!(stderr(&gpu).contains("--profile times the CPU path only"), "{}", stderr(&gpu));
    // With the kernels off, the convolutions are burn's, and the profile says so.
    let burn = Command::new(env!("CARGO_BIN_EXE_convscope"))
        .args(["bench", "--profile", "--runs", "1", "--json"])
        .env("CONVSCOPE_KERNELS", "burn")
        .current_dir(repo())
        .output()
        .expect("convscope runs");
    assert!(burn.status.success(), "{}", stderr(&burn));
    let burn: serde_json::Value = serde_json::from_slice(&burn.stdout).unwrap();
    let convs: Vec<_> = burn["kinds"].as_array().unwrap().iter().filter(|k| k["kind"].as_str().unwrap().starts_with("conv2d")).collect();
    assert_eq!(convs.len(), 1, "{burn}");
    assert_eq!((convs[0]["kind"].as_str(), convs[0]["layers"].as_u64()), (Some("conv2d, burn's"), Some(49)));
    let mixed = run(&["bench", "--profile", "--patterns"]);
    assert!(!mixed.status.success());
    assert!(stderr(&mixed).contains("--profile times the forward pass alone: leave out --patterns"), "{}", stderr(&mixed));
}
