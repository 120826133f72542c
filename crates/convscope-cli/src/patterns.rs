//! `convscope patterns`: what a layer's channels respond to, by activation maximization.
//! One optimization for the whole batch of channels (one image per channel), a progress bar
//! on stderr, one PNG per channel and a labelled gallery.

use std::{io::Write, path::Path, time::Instant};

use convscope_core::{
    activations::parse_channels,
    patterns::{self, Basis, Fit, Options, Render, objective},
    render::PictureGrid,
};

use crate::{activations::write_png, args::Args, device, load_image, model_from, read_f32};

pub fn run(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &["no-decorrelate", "no-transforms", "json", "bgr"])?;
    a.only(&[
        "mean",
        "std",
        "labels",
        "bgr",
        "model",
        "layer",
        "channels",
        "steps",
        "size",
        "out",
        "seed",
        "lr",
        "param",
        "no-decorrelate",
        "no-transforms",
        "fit",
        "objective",
        "start",
        "backend",
        "cell",
        "json",
        "npy",
        "redirect-steps",
        "curve",
    ])?;
    let device = device(a.get("backend").unwrap_or("cpu"))?;
    let model = model_from(&a, &device)?;
    let layer = match a.get("layer") {
        Some(id) => model.graph.layer(id).map_err(|e| format!("--layer: {e}"))?,
        None => convscope_core::patterns::default_layer(&model.graph).ok_or("--layer: the model has no layer with feature maps")?,
    };
    let info = model.graph.info(layer).clone();
    let count = info.shape[0];
    let channels = parse_channels(a.get("channels").unwrap_or("0..16"), count).map_err(|e| format!("--channels: {e}"))?;
    let out = Path::new(a.get("out").ok_or("-o DIR (or --out DIR) is required: where the PNGs go")?);
    let steps: usize = a.number("steps", "a whole number")?.unwrap_or(512);
    let size: usize = a.number("size", "a number of pixels")?.unwrap_or(128);
    let mut options = Options::sized(size);
    options.seed = a.number("seed", "a whole number")?.unwrap_or(0);
    options.learning_rate = a.number("lr", "a number")?.unwrap_or(options.learning_rate);
    options.redirect_steps = a.number("redirect-steps", "a whole number")?.unwrap_or(options.redirect_steps);
    options.basis = Basis::named(a.get("param").unwrap_or("fft")).map_err(|e| format!("--param: {e}"))?;
    options.decorrelate = !a.has("no-decorrelate");
    if a.has("no-transforms") {
        options.transforms.clear();
    }
    options.fit = match a.get("fit").unwrap_or("model") {
        "model" => Fit::ModelInput,
        "as-is" => Fit::AsIs,
        other => return Err(format!("--fit is `model` (resize to the model's input) or `as-is`, not `{other}`")),
    };
    let objective = match a.get("objective").unwrap_or("channel") {
        "channel" => objective::channels(layer, &channels),
        "neuron" => channels.iter().enumerate().map(|(i, &c)| objective::neuron(layer, c, Some(i))).reduce(|x, y| x + y).ok_or("no channels")?,
        other => return Err(format!("--objective is `channel` or `neuron`, not `{other}`")),
    };
    let n = channels.len();
    let mut render = Render::new(&model.graph, &model.input, objective, n, options).map_err(|e| e.to_string())?;
    if let Some(path) = a.get("start") {
        let img = load_image(path)?;
        // The picture at the pattern's size, as planes in [0, 1] (grey by luma for a grey
        // model): the model's own preprocessing with a normalisation of x / 255.
        let spec = convscope_core::InputSpec { height: size, width: size, mean: [0.0; 3], std: [255.0; 3], ..model.input.clone() };
        let rgb = convscope_core::preprocess::Preprocess::default().resize(&img, &spec).map_err(|e| e.to_string())?;
        let planes = convscope_core::preprocess::normalise(&rgb, &spec).try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        render.start_from(&planes).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let what = render.objective().describe(&model.graph);
    eprintln!("{what}: {n} images of {size} px, {steps} steps");
    // --curve: the objective reached (each channel's mean on its own pattern) and a gallery at
    // these steps of the same run. A run does not depend on its length, so step k of it is a
    // k-step run.
    let mut curve: Vec<usize> = match a.get("curve") {
        Some(list) => list
            .split(',')
            .map(|k| k.trim().parse::<usize>().map_err(|_| format!("--curve is a list of step counts like 16,32,64, not `{list}`")))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    curve.retain(|&k| k > 0 && k < steps);
    curve.sort_unstable();
    curve.dedup();
    let mut points = Vec::new();
    let seed = render.options().seed;
    let gallery = |steps: usize, rgba: &[u8], off: &[bool], file: &Path| -> Result<(), String> {
        let labels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        let notes: Vec<String> = off.iter().map(|&off| if off { "OFF".into() } else { String::new() }).collect();
        let cell: usize = a.number("cell", "a number of pixels")?.unwrap_or(size.max(96));
        let title = format!("{} {} - {} steps, {size} px, seed {seed}", model.name, info.id, steps);
        let grid = PictureGrid { title, rgba, height: size, width: size, labels: &labels, notes: &notes, cols: (n as f64).sqrt().ceil() as usize, cell };
        write_png(&grid.render(), &file.to_string_lossy())
    };
    let c = model.input.channels;
    let start = Instant::now();
    let chunk = 8;
    while render.steps() < steps {
        let next = curve.iter().copied().find(|&k| k > render.steps()).unwrap_or(steps);
        render.step(chunk.min(next - render.steps())).map_err(|e| e.to_string())?;
        let loss = read_f32(render.loss().expect("stepped"))?[0];
        progress(render.steps(), steps, start.elapsed().as_secs_f64(), loss);
        if render.steps() == next && next < steps {
            let means = read_f32(render.channel_means(layer).map_err(|e| e.to_string())?)?;
            let own = patterns::own(&info, &means, &channels);
            let rgba = patterns::to_rgba(&read_f32(render.image())?, c, size, size);
            gallery(next, &rgba, &own.off, &out.join(format!("gallery-{next}.png")))?;
            points.push(serde_json::json!({ "steps": next, "seconds": start.elapsed().as_secs_f64(), "own_means": own.values, "loss": loss }));
        }
    }
    eprintln!();
    let secs = start.elapsed().as_secs_f64();
    let pixels = read_f32(render.image())?;
    let rgba = patterns::to_rgba(&pixels, c, size, size);
    let means = read_f32(render.channel_means(layer).map_err(|e| e.to_string())?)?;
    let own = patterns::own(&info, &means, &channels);
    if let Some(path) = a.get("npy") {
        std::fs::write(path, crate::npy::encode_f32(&[n, c, size, size], &pixels)).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    let plane = size * size * 4;
    for (i, &ch) in channels.iter().enumerate() {
        let canvas = convscope_core::render::Canvas { width: size, height: size, pixels: rgba[i * plane..(i + 1) * plane].to_vec() };
        write_png(&canvas, &out.join(format!("{ch}.png")).to_string_lossy())?;
    }
    let gallery_file = out.join("gallery.png");
    gallery(steps, &rgba, &own.off, &gallery_file)?;
    let off: Vec<usize> = channels.iter().zip(&own.off).filter(|(_, off)| **off).map(|(c, _)| *c).collect();
    if a.has("json") {
        let j = serde_json::json!({
            "model": model.name, "layer": info.id, "channels": channels, "steps": steps, "size": size,
            "seconds": secs, "ms_per_step": secs * 1000.0 / steps.max(1) as f64, "own_means": own.values, "off": off,
            "loss": read_f32(render.loss().expect("stepped"))?[0], "objective": what, "curve": points,
            "redirected_steps": render.redirected_steps(),
        });
        println!("{j}");
    } else {
        println!(
            "wrote {} and {n} channel PNGs in {:.1} s ({:.0} ms a step; {} steps also through the redirected network)",
            gallery_file.display(),
            secs,
            secs * 1000.0 / steps.max(1) as f64,
            render.redirected_steps()
        );
        if !off.is_empty() {
            println!("channels still off on their own pattern (marked OFF): {off:?}");
        }
    }
    Ok(())
}

fn progress(done: usize, total: usize, secs: f64, loss: f32) {
    let width = 30;
    let filled = done * width / total.max(1);
    let per = secs / done.max(1) as f64;
    let eta = per * (total - done) as f64;
    eprint!("\r[{}{}] {done}/{total} steps  {:.0} ms/step  eta {:.0} s  loss {loss:.4}   ", "#".repeat(filled), ".".repeat(width - filled), per * 1000.0, eta);
    let _ = std::io::stderr().flush();
}
