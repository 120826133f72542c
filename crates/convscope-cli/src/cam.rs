//! `convscope cam`: an attention map for one image, as a PNG over the image and as the raw
//! map in .npy, with its faithfulness scores and, on request, the randomization check.

use convscope_core::{
    attention::{
        self, Explain, Options, Target,
        faithfulness::{STEPS, faithfulness},
        figure::{AttentionFigure, CONSTANT, faithfulness_notes, location},
        sanity::sanity,
    },
    preprocess::Preprocess,
    readback::block,
    render::{Colormap, Overlay},
};

use crate::{activations::write_png, args::Args, device, load_image, model_from, npy};

pub fn run(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &["faithfulness", "sanity", "json", "bgr"])?;
    a.only(&[
        "mean",
        "std",
        "labels",
        "bgr",
        "model",
        "method",
        "layer",
        "class",
        "contrast",
        "png",
        "npy",
        "opacity",
        "size",
        "colormap",
        "faithfulness",
        "sanity",
        "seed",
        "max-channels",
        "backend",
        "fit",
        "json",
    ])?;
    let device = device(a.get("backend").unwrap_or("cpu"))?;
    let model = model_from(&a, &device)?;
    let method = attention::method(a.need("method")?).map_err(|e| format!("--method: {e}"))?;
    let path = match a.positional() {
        [one] => one.as_str(),
        [] => return Err("give an image file".into()),
        many => return Err(format!("give one image file, got {}", many.len())),
    };
    let pre = Preprocess::named(a.get("fit").unwrap_or("whole")).map_err(|e| format!("--fit: {e}"))?;
    let seen = model.prepare(&load_image(path)?, &pre).map_err(|e| e.to_string())?;
    let top = model.top_k(&block(model.logits(seen.input.clone())).map_err(|e| e.to_string())?, 5);
    let class = a.number::<usize>("class", "a class index")?.unwrap_or(top[0].index);
    let target = Target::asked(class, a.number::<usize>("contrast", "a class index")?);
    let layer = a.get("layer").map(|id| model.graph.layer(id)).transpose().map_err(|e| format!("--layer: {e}"))?;
    let options = Options {
        seed: a.number("seed", "a whole number")?.unwrap_or(0),
        max_channels: a.number("max-channels", "a whole number")?.unwrap_or(0),
        ..Options::default()
    };
    let req = Explain::new(&model.graph, seen.input, target, layer, options).map_err(|e| e.to_string())?;
    let info = method.info();
    let map = block(req.map(method)).map_err(|e| e.to_string())?;
    let layer_id = model.graph.info(req.layer).id.clone();
    let what = target.label(|c| model.label(c));
    let at = location(&info, &layer_id);

    if let Some(out) = a.get("npy") {
        std::fs::write(out, npy::encode_f32(&[map.height, map.width], &map.raw)).map_err(|e| format!("cannot write {out}: {e}"))?;
    }
    let scores =
        if a.has("faithfulness") || a.get("png").is_some() { Some(block(faithfulness(&req, &map, STEPS, None)).map_err(|e| e.to_string())?.0) } else { None };
    let sanity = if a.has("sanity") { Some(block(sanity(&req, method, &map, 6)).map_err(|e| e.to_string())?) } else { None };

    if let Some(out) = a.get("png") {
        let opacity = a.number::<f32>("opacity", "an opacity from 0 to 1 (or -1: the raw map alone)")?.unwrap_or(0.5);
        let colormap = Colormap::named(a.get("colormap").unwrap_or("magma"), false).map_err(|e| format!("--colormap: {e}"))?;
        let size = a.number::<usize>("size", "a size in pixels")?.unwrap_or(448).clamp(16, 4096);
        let name = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let overlay = (opacity >= 0.0).then_some(Overlay { rgb: &seen.rgb, width: model.input.width, height: model.input.height, opacity });
        let scores = scores.as_ref().expect("scored for the figure");
        let fig = AttentionFigure {
            title: format!("{name} {} {} {what}", model.name, info.name),
            map: &map,
            overlay,
            colormap,
            size,
            notes: [vec![at.clone()], faithfulness_notes(scores)].concat(),
        };
        write_png(&fig.render(), out)?;
    }

    let (py, px) = map.peak();
    if a.has("json") {
        let out = serde_json::json!({
            "model": model.name, "method": info, "target": target, "label": what, "layer": layer_id, "top": top,
            "height": map.height, "width": map.width, "constant": map.constant, "peak": [py, px],
            "faithfulness": scores.as_ref().map(|s| &s.ours), "random": scores.as_ref().map(|s| &s.random),
            "comparisons": scores.as_ref().map(|s| &s.comparisons), "sanity": sanity,
        });
        println!("{out}");
        return Ok(());
    }
    println!("{} for {what} {at} ({}x{}); {}", info.name, map.height, map.width, info.paper);
    if map.constant {
        println!("{CONSTANT}");
    } else {
        let (lo, hi) = map.raw.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        println!("raw map from {lo:.4} to {hi:.4}; peak at row {py}, column {px}");
    }
    if let Some(scores) = &scores {
        for line in faithfulness_notes(scores) {
            println!("{line}");
        }
    }
    if let Some(report) = &sanity {
        println!("randomization check (Spearman rank correlation with the trained model's map):");
        for s in &report.steps {
            println!("  {:>3} layers randomized, down to {:<20} rho {:+.3}{}", s.randomized, s.layer, s.rho, if s.constant { " (constant map)" } else { "" });
        }
        println!("{}", report.summary);
    }
    Ok(())
}
