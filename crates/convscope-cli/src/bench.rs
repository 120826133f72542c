//! `convscope bench`: native forward latency of the bundled EfficientNet-Lite0.

use std::time::Instant;

use burn::tensor::Tensor;

use crate::{Args, device, load_image, load_model};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Time `runs` warm forward passes (after warm-up) on each backend asked for.
pub fn run(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &["json"])?;
    a.only(&["runs", "backend", "image", "json"])?;
    let runs: usize = a.get("runs").unwrap_or("20").parse().map_err(|_| "--runs needs a number")?;
    let backends: Vec<&str> = match a.get("backend").unwrap_or("both") {
        "both" => vec!["cpu", "wgpu"],
        one => vec![one],
    };
    let image_path = a.get("image").map(String::from).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/samples/chelsea.png").to_string()
    });
    let image = load_image(&image_path)?;
    let mut results = Vec::new();
    for backend in backends {
        let device = device(backend)?;
        let t0 = Instant::now();
        let model = load_model("efficientnet-lite0", &device)?;
        let input = model.input_tensor(&image).map_err(|e| e.to_string())?;
        let forward = |x: Tensor<4>| -> Result<f32, String> {
            let (logits, _) = model.graph.forward(x, &[]).map_err(|e| e.to_string())?;
            let v = logits.into_data().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
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
        results.push(serde_json::json!({"backend": backend, "median_ms": med, "min_ms": min, "runs": runs, "first_ms": first_ms}));
    }
    if a.has("json") {
        println!("{}", serde_json::Value::Array(results));
    }
    Ok(())
}
