//! `convscope bench`: native forward latency of the bundled EfficientNet-Lite0 and, with
//! `--attention`, the latency of every attention method on it (map read back included).

use std::time::Instant;

use burn::tensor::Tensor;

use convscope_core::{
    attention::{self, Explain, METHODS, Options, Target},
    readback::block,
};

use crate::{Args, device, load_image, load_model, read_f32};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `--runs`: the timed passes, 20 unless given; at least one (a median needs a value).
fn bench_runs(a: &Args) -> Result<usize, String> {
    match a.get("runs").unwrap_or("20").parse::<usize>() {
        Ok(0) => Err("--runs needs at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("--runs needs a number".into()),
    }
}

/// `--image`, else the chelsea sample.
fn bench_image(a: &Args) -> Result<convscope_core::RgbaImage, String> {
    load_image(a.get("image").unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/samples/chelsea.png")))
}

/// Time `runs` warm forward passes (after warm-up) on each backend asked for.
pub fn run(raw: &[String]) -> Result<(), String> {
    // burn's own ops instead of convscope's kernels, to compare both on one machine in one run.
    if std::env::var("CONVSCOPE_KERNELS").as_deref() == Ok("burn") {
        convscope_core::kernels::enable(false);
    }
    let a = Args::parse(raw, &["json", "attention", "patterns", "profile"])?;
    a.only(&["runs", "backend", "image", "json", "attention", "methods", "max-channels", "patterns", "steps", "profile"])?;
    if a.has("profile") {
        if let Some(other) = ["patterns", "attention", "methods", "max-channels", "steps"].into_iter().find(|o| a.has(o)) {
            return Err(format!("--profile times the forward pass alone: leave out --{other}"));
        }
        return profile(&a);
    }
    if a.has("patterns") {
        return patterns(&a);
    }
    let methods: Vec<&str> = match a.get("methods") {
        Some(list) => list.split(',').collect(),
        None => METHODS.iter().map(|m| m.info().id).collect(),
    };
    for m in &methods {
        attention::method(m).map_err(|e| format!("--methods: {e}"))?;
    }
    let max_channels: usize = a.get("max-channels").unwrap_or("128").parse().map_err(|_| "--max-channels needs a number")?;
    let runs = bench_runs(&a)?;
    let backends: Vec<&str> = match a.get("backend").unwrap_or("both") {
        "both" => vec!["cpu", "wgpu"],
        one => vec![one],
    };
    let image = bench_image(&a)?;
    let mut results = Vec::new();
    for backend in backends {
        let device = device(backend)?;
        let t0 = Instant::now();
        let model = load_model("efficientnet-lite0", &device)?;
        let input = model.input_tensor(&image).map_err(|e| e.to_string())?;
        let forward = |x: Tensor<4>| -> Result<f32, String> {
            let (logits, _) = model.graph.forward(x, &[]).map_err(|e| e.to_string())?;
            let v = read_f32(logits)?;
            Ok(v[0])
        };
        forward(input.clone())?;
        let first_ms = t0.elapsed().as_secs_f64() * 1e3;
        for _ in 0..3 {
            forward(input.clone())?;
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            forward(input.clone())?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (min, med) = (times.iter().copied().fold(f64::INFINITY, f64::min), median(times.clone()));
        if !a.has("json") {
            println!("efficientnet-lite0 forward, native {backend}: median {med:.1} ms, min {min:.1} ms over {runs} warm runs; load + first {first_ms:.0} ms");
        }
        let mut attention = Vec::new();
        if a.has("attention") {
            let (logits, _) = model.graph.forward(input.clone(), &[]).map_err(|e| e.to_string())?;
            let class = model.top_k(&read_f32(logits)?, 1)[0].index;
            let options = Options { max_channels, ..Options::default() };
            let target = Target::Class { class };
            // The bare cost every gradient method pays: a forward and a backward pass to the input.
            let fwd_bwd = || -> Result<(), String> {
                let req = Explain::new(&model.graph, input.clone(), target, None, options.clone()).map_err(|e| e.to_string())?;
                let g = req.input_gradients(input.clone()).map_err(|e| e.to_string())?;
                read_f32(g)?;
                Ok(())
            };
            let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
            fwd_bwd()?;
            rows.push((
                "forward+backward to the input".into(),
                (0..runs)
                    .map(|_| {
                        let t = Instant::now();
                        fwd_bwd().map(|_| t.elapsed().as_secs_f64() * 1e3)
                    })
                    .collect::<Result<_, _>>()?,
            ));
            for id in &methods {
                let m = attention::method(id).map_err(|e| e.to_string())?;
                let [_, _, h, w] = input.dims();
                let slow = m.cost(&options, [h, w]).slow();
                // On wgpu (lavapipe here) the methods that run the network dozens of times
                // take minutes: only when asked for by name.
                if backend == "wgpu" && a.get("methods").is_none() && slow {
                    continue;
                }
                let once = || -> Result<f64, String> {
                    let t = Instant::now();
                    let req = Explain::new(&model.graph, input.clone(), target, None, options.clone()).map_err(|e| e.to_string())?;
                    block(req.map(m)).map_err(|e| e.to_string())?;
                    Ok(t.elapsed().as_secs_f64() * 1e3)
                };
                once()?;
                let n = if slow { 3.min(runs) } else { runs };
                rows.push((id.to_string(), (0..n).map(|_| once()).collect::<Result<_, _>>()?));
            }
            for (id, times) in rows {
                let med = median(times.clone());
                if !a.has("json") {
                    println!("  {id:<32} median {med:>9.1} ms over {} runs", times.len());
                }
                attention.push(serde_json::json!({"method": id, "median_ms": med, "runs": times.len()}));
            }
        }
        results.push(serde_json::json!({"backend": backend, "median_ms": med, "min_ms": min, "runs": runs, "first_ms": first_ms, "attention": attention, "scorecam_channels": max_channels}));
    }
    if a.has("json") {
        println!("{}", serde_json::Value::Array(results));
    }
    Ok(())
}

/// Each layer's id and kind, and its median time in ms.
type Layers = (Vec<(String, String)>, Vec<f64>);

/// `--profile`: where a CPU forward pass of EfficientNet-Lite0 spends its time, by kind of op
/// (a convolution by the kernel that runs it), on one thread and on two: the median of each
/// layer's time over `--runs` passes after warm-up, summed by kind (the "all" row is the sum
/// of every layer's median), and each kind's speed-up from the second thread (`--json` adds
/// each layer's own).
fn profile(a: &Args) -> Result<(), String> {
    if a.get("backend").is_some_and(|b| b != "cpu") {
        return Err("--profile times the CPU path only (a GPU's ops return before they have run): leave out --backend".into());
    }
    let runs = bench_runs(a)?;
    let image = bench_image(a)?;
    let threads = [1usize, 2];
    // Per thread count, each layer's median time in ms; and each layer's id and kind.
    let mut medians: Vec<Vec<f64>> = Vec::new();
    let mut labels: Vec<(String, String)> = Vec::new();
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).stack_size(crate::runtime::STACK).build().map_err(|e| e.to_string())?;
        // The model is loaded on the pool's thread (a graph stays on the thread it is built on).
        let (named, per_layer): Layers = pool.install(|| {
            crate::runtime::awake(|| {
                let model = load_model("efficientnet-lite0", &device("cpu")?)?;
                let input = model.input_tensor(&image).map_err(|e| e.to_string())?;
                let layers = model.graph.layers().len();
                let pass = || model.graph.forward_timed(input.clone()).map_err(|e| e.to_string());
                for _ in 0..3 {
                    pass()?;
                }
                let mut times = vec![Vec::with_capacity(runs); layers];
                for _ in 0..runs {
                    for (layer, d) in pass()?.into_iter().enumerate() {
                        times[layer].push(d.as_secs_f64() * 1e3);
                    }
                }
                let named = model
                    .graph
                    .layers()
                    .iter()
                    .enumerate()
                    .map(|(l, info)| (info.id.clone(), model.graph.op_label(convscope_core::graph::LayerId(l)).to_string()))
                    .collect();
                Ok::<_, String>((named, times.into_iter().map(median).collect()))
            })
        })?;
        labels = named;
        medians.push(per_layer);
    }
    let layers = labels.len();
    // Kinds in network order of first appearance.
    let mut kinds: Vec<(String, usize, Vec<f64>)> = Vec::new();
    for layer in 0..layers {
        let label = labels[layer].1.clone();
        let at = match kinds.iter().position(|k| k.0 == label) {
            Some(at) => at,
            None => {
                kinds.push((label, 0, vec![0.0; threads.len()]));
                kinds.len() - 1
            }
        };
        kinds[at].1 += 1;
        for (column, m) in medians.iter().enumerate() {
            kinds[at].2[column] += m[layer];
        }
    }
    let totals: Vec<f64> = medians.iter().map(|m| m.iter().sum()).collect();
    if a.has("json") {
        let rows: Vec<_> = kinds.iter().map(|(kind, n, ms)| serde_json::json!({"kind": kind, "layers": n, "ms": ms})).collect();
        let per_layer: Vec<_> = labels
            .iter()
            .enumerate()
            .map(|(l, (id, kind))| serde_json::json!({"id": id, "kind": kind, "ms": medians.iter().map(|m| m[l]).collect::<Vec<_>>()}))
            .collect();
        println!("{}", serde_json::json!({"threads": threads, "runs": runs, "total_ms": totals, "kinds": rows, "layers": per_layer}));
        return Ok(());
    }
    println!("efficientnet-lite0 forward, native cpu, by kind of op: medians over {runs} passes, ms");
    println!("| kind | layers | 1 thread | share | 2 threads | share | speed-up |\n|---|---|---|---|---|---|---|");
    for (kind, n, ms) in kinds.iter().chain(std::iter::once(&("all".to_string(), layers, totals.clone()))) {
        let share = |c: usize| 100.0 * ms[c] / totals[c];
        println!("| {kind} | {n} | {:.2} | {:.0}% | {:.2} | {:.0}% | {:.2}x |", ms[0], share(0), ms[1], share(1), ms[0] / ms[1]);
    }
    Ok(())
}

/// `--patterns`: milliseconds per optimization step for 16 channels of EfficientNet-Lite0's
/// `blocks.5` at 128 px (Lucent's setting: resized to the 224 px input; and fed as is), and
/// one channel alone, after two warm-up steps; with how many of the timed steps also
/// computed the gradient through the redirected network (each such step costs about two).
fn patterns(a: &Args) -> Result<(), String> {
    use convscope_core::patterns::{Fit, Options, Render, objective};
    let steps: usize = a.get("steps").unwrap_or("8").parse().map_err(|_| "--steps needs a number")?;
    let backends: Vec<&str> = match a.get("backend").unwrap_or("both") {
        "both" => vec!["cpu", "wgpu"],
        one => vec![one],
    };
    let mut results = Vec::new();
    for backend in backends {
        let device = device(backend)?;
        let model = load_model("efficientnet-lite0", &device)?;
        let layer = model.graph.layer("blocks.5").map_err(|e| e.to_string())?;
        for (channels, fit) in [(16usize, Fit::ModelInput), (16, Fit::AsIs), (1, Fit::ModelInput), (1, Fit::AsIs)] {
            let list: Vec<usize> = (0..channels).collect();
            let options = Options { fit, ..Options::sized(128) };
            let mut r = Render::new(&model.graph, &model.input, objective::channels(layer, &list), channels, options).map_err(|e| e.to_string())?;
            r.step(2).map_err(|e| e.to_string())?;
            read_f32(r.image())?;
            let before = r.redirected_steps();
            let t = Instant::now();
            r.step(steps).map_err(|e| e.to_string())?;
            read_f32(r.image())?;
            let ms = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
            let redirected = r.redirected_steps() - before;
            let fit_name = if fit == Fit::AsIs { "as-is (network sees 140 px)" } else { "resized to 224 px" };
            if !a.has("json") {
                println!(
                    "patterns blocks.5, {channels} channel(s), 128 px, {fit_name}, native {backend}: {ms:.0} ms a step, {:.1} ms per image-step (over {steps} steps, {redirected} of them also through the redirected network)",
                    ms / channels as f64
                );
            }
            results.push(serde_json::json!({"backend": backend, "channels": channels, "fit": fit_name, "ms_per_step": ms, "steps": steps, "redirected_steps": redirected}));
        }
    }
    if a.has("json") {
        println!("{}", serde_json::Value::Array(results));
    }
    Ok(())
}
