//! `convscope examples`: for channels of a layer, the regions of a set of images (a folder)
//! that drive them hardest. Writes the index (OUT/index.json, resumed when the run is started
//! again), each chosen channel's top crops (OUT/<layer>/<channel>/<rank>.png) and a gallery
//! (OUT/<layer>/<channel>.png); `--shard i/n` indexes every n-th image from the i-th, and
//! `convscope examples merge` joins shards' indexes.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use convscope_core::{
    activations::parse_channels,
    examples::{Example, Index, Layer},
    readback::block,
    render::PictureGrid,
};

use crate::{activations::write_png, args::Args, device, load_image, model_from};

/// Pixels on a gallery crop's longer side.
const CELL: usize = 128;

pub fn run(raw: &[String]) -> Result<(), String> {
    if raw.first().map(String::as_str) == Some("merge") {
        return merge(&raw[1..]);
    }
    let a = Args::parse(raw, &["json", "bgr"])?;
    a.only(&["mean", "std", "labels", "bgr", "model", "layer", "channels", "top", "fit", "batch", "shard", "backend", "out", "json"])?;
    let dir = match a.positional() {
        [one] => PathBuf::from(one),
        [] => return Err("give the folder of images to index".into()),
        many => return Err(format!("give one folder of images, got {}", many.len())),
    };
    let out = PathBuf::from(a.get("out").ok_or("-o DIR (or --out DIR) is required: where the index, crops and galleries go")?);
    let device = device(a.get("backend").unwrap_or("cpu"))?;
    let model = model_from(&a, &device)?;
    let layers = a.need("layer")?.split(',').map(|id| model.graph.layer(id.trim()).map_err(|e| format!("--layer: {e}"))).collect::<Result<Vec<_>, _>>()?;
    let top: usize = a.number("top", "a whole number")?.unwrap_or(9);
    let batch: usize = a.number("batch", "a whole number")?.unwrap_or(8).max(1);
    let fit = a.get("fit").unwrap_or("whole");
    let (shard, shards) = shard(a.get("shard").unwrap_or("0/1"))?;
    let fresh = Index::new(&model, &layers, top, fit).map_err(|e| e.to_string())?;

    // A run started again goes on from the index it left (same model, layers and settings).
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let saved = out.join("index.json");
    let mut index = match std::fs::read_to_string(&saved) {
        Ok(text) => {
            let old = Index::from_json(&text).map_err(|e| format!("{}: {e}", saved.display()))?;
            let settings = |i: &Index| (i.model.clone(), i.fit.clone(), i.top, i.layers.iter().map(|l| l.id.clone()).collect::<Vec<_>>());
            if settings(&old) != settings(&fresh) {
                return Err(format!(
                    "{} is an index of other settings ({} layers {:?}, fit {}, top {}); choose another -o or delete it",
                    saved.display(),
                    old.model,
                    settings(&old).3,
                    old.fit,
                    old.top
                ));
            }
            old
        }
        Err(_) => fresh,
    };

    let files: Vec<(String, PathBuf)> = images_in(&dir)?.into_iter().enumerate().filter(|(k, _)| k % shards == shard).map(|(_, f)| f).collect();
    let todo: Vec<&(String, PathBuf)> = files.iter().filter(|(name, _)| !index.has(name)).collect();
    let t0 = Instant::now();
    let mut done = 0;
    let mut skipped = vec![];
    for chunk in todo.chunks(batch) {
        let mut images = Vec::with_capacity(chunk.len());
        for (name, path) in chunk {
            match load_image(&path.to_string_lossy()) {
                Ok(img) => images.push((name.clone(), img)),
                Err(e) => skipped.push(e),
            }
        }
        done += block(index.add(&model, &images)).map_err(|e| e.to_string())?;
        save(&index, &saved)?;
        let secs = t0.elapsed().as_secs_f64();
        let left = (todo.len() - done.min(todo.len())) as f64 * secs / done.max(1) as f64;
        eprint!("\rindexed {done} of {} new images ({:.1} images/s, about {left:.0} s left)   ", todo.len(), done as f64 / secs.max(1e-9));
        std::io::stderr().flush().ok();
    }
    if !todo.is_empty() {
        eprintln!();
    }
    for e in &skipped {
        eprintln!("skipped: {e}");
    }
    let per_second = done as f64 / t0.elapsed().as_secs_f64().max(1e-9);

    // Crops and galleries of the chosen channels.
    let mut report = vec![];
    for layer in &index.layers {
        let channels = parse_channels(a.get("channels").unwrap_or("0..16"), layer.shape[0]).map_err(|e| format!("--channels: {e}"))?;
        for &c in &channels {
            let examples = &layer.channels[c].top;
            let crops = crops(&index, layer, examples, &dir)?;
            let folder = out.join(&layer.id).join(c.to_string());
            std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
            let mut rgba = Vec::with_capacity(examples.len() * CELL * CELL * 4);
            let mut labels = vec![];
            for (rank, (e, crop)) in examples.iter().zip(&crops).enumerate() {
                crop.save(folder.join(format!("{rank}.png"))).map_err(|err| format!("cannot write a crop of {}: {err}", e.image))?;
                rgba.extend_from_slice(&fitted(crop).into_raw());
                labels.push(format!("{:.2} {}", e.value, short(&e.image)));
            }
            if !examples.is_empty() {
                let notes = vec![String::new(); labels.len()];
                let title = format!("{} {} channel {c}: top {} of {} images", index.model, layer.id, examples.len(), index.images.len());
                let cols = (labels.len() as f64).sqrt().ceil() as usize;
                let grid = PictureGrid { title, rgba: &rgba, height: CELL, width: CELL, labels: &labels, notes: &notes, cols, cell: CELL };
                write_png(&grid.render(), &out.join(&layer.id).join(format!("{c}.png")).to_string_lossy())?;
            }
            let stats = &layer.channels[c].stats;
            let top: Vec<_> = examples
                .iter()
                .map(|e| {
                    let r = index.crop(layer, e).expect("indexed images have crops");
                    serde_json::json!({ "image": e.image, "y": e.y, "x": e.x, "value": e.value, "crop": [r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0] })
                })
                .collect();
            report.push(serde_json::json!({
                "layer": layer.id, "channel": c, "top": top,
                "mean": stats.mean(), "active": stats.fraction_active(), "histogram": stats.histogram,
            }));
        }
    }
    if a.has("json") {
        let j = serde_json::json!({
            "model": index.model, "fit": index.fit, "images": index.images.len(), "added": done, "images_per_second": per_second,
            "skipped": skipped, "index": saved, "channels": report,
        });
        println!("{j}");
    } else {
        println!(
            "{} images indexed ({done} now, {per_second:.1} images/s); index {} ({} bytes); crops and galleries in {}",
            index.images.len(),
            saved.display(),
            std::fs::metadata(&saved).map(|m| m.len()).unwrap_or(0),
            out.display()
        );
    }
    Ok(())
}

/// `merge A.json B.json ... -o OUT.json`: the index of the shards' images together.
fn merge(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &[])?;
    a.only(&["out"])?;
    let out = a.get("out").ok_or("-o OUT.json is required: where the merged index goes")?;
    let mut parts = a.positional().iter();
    let read = |p: &String| -> Result<Index, String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}"))?;
        Index::from_json(&text).map_err(|e| format!("{p}: {e}"))
    };
    let mut index = read(parts.next().ok_or("give the indexes to merge (each shard's index.json)")?)?;
    for p in parts {
        index.merge(read(p)?).map_err(|e| format!("{p}: {e}"))?;
    }
    save(&index, Path::new(out))?;
    println!("{} images in {out}", index.images.len());
    Ok(())
}

/// Write the index whole or not at all (a run stopped while saving keeps the last one).
fn save(index: &Index, path: &Path) -> Result<(), String> {
    let tmp = path.with_extension("json.part");
    std::fs::write(&tmp, index.to_json()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `i/n`: shard `i` (from 0) of `n`.
fn shard(spec: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard is i/n, shard i (from 0) of n, e.g. 0/4; got `{spec}`");
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The PNG and JPEG files under `dir`, by their path from it (`/`-separated), sorted.
fn images_in(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found = vec![];
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| format!("cannot read the folder {}: {e}", folder.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str())) {
                let name =
                    path.strip_prefix(dir).unwrap_or(&path).components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
                found.push((name, path));
            }
        }
    }
    if found.is_empty() {
        return Err(format!("{} holds no PNG or JPEG images", dir.display()));
    }
    found.sort();
    Ok(found)
}

/// Each example's crop of its image (the region its position sees).
fn crops(index: &Index, layer: &Layer, examples: &[Example], dir: &Path) -> Result<Vec<image::RgbaImage>, String> {
    examples
        .iter()
        .map(|e| {
            let img = load_image(&dir.join(&e.image).to_string_lossy())?;
            let r = index.crop(layer, e).map_err(|err| err.to_string())?;
            let full = image::RgbaImage::from_raw(img.width as u32, img.height as u32, img.pixels).ok_or("internal: image size")?;
            Ok(image::imageops::crop_imm(&full, r.x0 as u32, r.y0 as u32, (r.x1 - r.x0) as u32, (r.y1 - r.y0) as u32).to_image())
        })
        .collect()
}

/// A crop scaled to fill a CELL x CELL square (its longer side), centred on white.
fn fitted(crop: &image::RgbaImage) -> image::RgbaImage {
    let side = crop.width().max(crop.height()).max(1) as f32;
    let (w, h) = (((crop.width() as f32 * CELL as f32 / side).round() as u32).max(1), ((crop.height() as f32 * CELL as f32 / side).round() as u32).max(1));
    let scaled = image::imageops::resize(crop, w, h, image::imageops::FilterType::Triangle);
    let mut cell = image::RgbaImage::from_pixel(CELL as u32, CELL as u32, image::Rgba([255, 255, 255, 255]));
    image::imageops::overlay(&mut cell, &scaled, ((CELL as u32 - w) / 2) as i64, ((CELL as u32 - h) / 2) as i64);
    cell
}

/// A file name short enough for a label.
fn short(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let chars: Vec<char> = base.chars().collect();
    if chars.len() > 9 { format!("{}…", chars[..8].iter().collect::<String>()) } else { base.into() }
}
