//! `convscope activations`: a layer's feature maps as .npy and as a labelled PNG grid (or one
//! map zoomed), optionally beside a second image on the same scale.

use convscope_core::{
    Model, Value,
    activations::{ChannelStats, Normalisation, RankBy, channel_maps, layer_scales, map_dims, parse_channels, stats_tensor},
    preprocess::Preprocess,
    render::{Canvas, Colormap, GridFigure, Overlay, ZoomFigure, side_by_side},
};

use crate::{args::Args, device, load_image, model_from, npy, read_f32 as read};

/// One image's pass through the model, kept for the layer asked.
struct Seen {
    name: String,
    value: Value,
    stats: Vec<ChannelStats>,
    /// The image as the model saw it (RGB8 at the input size), for overlays.
    rgb: Vec<u8>,
}

fn see(model: &Model, path: &str, layer: convscope_core::LayerId, pre: &Preprocess) -> Result<Seen, String> {
    let image = load_image(path)?;
    let convscope_core::Prepared { input, rgb } = model.prepare(&image, pre).map_err(|e| e.to_string())?;
    let (_, mut acts) = model.graph.forward(input, &[layer]).map_err(|e| e.to_string())?;
    let value = acts.remove(0);
    let stats = ChannelStats::from_rows(&read(stats_tensor(&value))?);
    let name = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Seen { name, value, stats, rgb })
}

fn positive(a: &Args, name: &str) -> Result<Option<usize>, String> {
    a.get(name).map(|v| v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("--{name} needs a whole number above 0, not `{v}`"))).transpose()
}

pub fn run(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &["bgr"])?;
    a.only(&[
        "mean", "std", "labels", "bgr", "model", "layer", "npy", "png", "channels", "cols", "colormap", "norm", "rank", "compare", "zoom", "overlay", "cell",
        "backend", "fit",
    ])?;
    let (npy_out, png_out) = (a.get("npy"), a.get("png"));
    if npy_out.is_none() && png_out.is_none() {
        return Err("give --npy OUT.npy and/or --png OUT.png".into());
    }
    let device = device(a.get("backend").unwrap_or("cpu"))?;
    let model = model_from(&a, &device)?;
    let layer = model.graph.layer(a.need("layer")?).map_err(|e| e.to_string())?;
    let pre = Preprocess::named(a.get("fit").unwrap_or("whole")).map_err(|e| format!("--fit: {e}"))?;
    let image = match a.positional() {
        [one] => one.as_str(),
        [] => return Err("give an image file".into()),
        many => return Err(format!("give one image file (a second goes after --compare), got {}", many.len())),
    };
    let mut seen = vec![see(&model, image, layer, &pre)?];
    if let Some(second) = a.get("compare") {
        seen.push(see(&model, second, layer, &pre)?);
    }
    let (count, h, w) = map_dims(&seen[0].value);
    let selected = match a.get("channels") {
        Some(spec) => parse_channels(spec, count).map_err(|e| format!("--channels: {e}"))?,
        None => (0..count).collect(),
    };
    let rank = RankBy::named(a.get("rank").unwrap_or("index")).map_err(|e| format!("--rank: {e}"))?;
    let channels: Vec<usize> = if rank == RankBy::Index { selected } else { rank.order(&seen[0].stats).into_iter().filter(|c| selected.contains(c)).collect() };

    if let Some(out) = npy_out {
        let values = read(channel_maps(&seen[0].value, &channels).map_err(|e| e.to_string())?)?;
        let shape = if a.has("channels") || rank != RankBy::Index { vec![channels.len(), h, w] } else { seen[0].value.dims()[1..].to_vec() };
        std::fs::write(out, npy::encode_f32(&shape, &values)).map_err(|e| format!("cannot write {out}: {e}"))?;
    }
    let Some(out) = png_out else { return Ok(()) };

    let norm = Normalisation::named(a.get("norm").unwrap_or("channel")).map_err(|e| format!("--norm: {e}"))?;
    let all_stats: Vec<&[ChannelStats]> = seen.iter().map(|s| s.stats.as_slice()).collect();
    let scales = layer_scales(&all_stats, norm);
    let signed = scales.iter().any(|s| s.signed);
    let colormap = Colormap::named(a.get("colormap").unwrap_or("auto"), signed).map_err(|e| format!("--colormap: {e}"))?;
    let layer_id = &model.graph.info(layer).id;
    let mut figures = Vec::new();
    for s in &seen {
        let title = format!("{} {} {layer_id}", s.name, model.name);
        figures.push(if let Some(zoom) = a.get("zoom") {
            let channel: usize = zoom.parse().map_err(|_| format!("--zoom needs a channel number, not `{zoom}`"))?;
            let map = read(channel_maps(&s.value, &[channel]).map_err(|e| format!("--zoom: {e}"))?)?;
            let opacity = a.get("overlay").map(|v| v.parse::<f32>().map_err(|_| format!("--overlay needs an opacity from 0 to 1, not `{v}`"))).transpose()?;
            let overlay = opacity.map(|opacity| Overlay { rgb: &s.rgb, width: model.input.width, height: model.input.height, opacity });
            let size = positive(&a, "cell")?.unwrap_or(448);
            ZoomFigure { title: format!("{title} CHANNEL {channel}"), map: &map, height: h, width: w, scale: scales[channel], colormap, size, overlay }.render()
        } else {
            let maps = read(channel_maps(&s.value, &channels).map_err(|e| e.to_string())?)?;
            let drawn: Vec<_> = channels.iter().map(|&c| scales[c]).collect();
            let cols = positive(&a, "cols")?.unwrap_or_else(|| (channels.len() as f64).sqrt().ceil() as usize);
            let cell = positive(&a, "cell")?.unwrap_or_else(|| GridFigure::auto_cell(h, w));
            GridFigure {
                title,
                maps: &maps,
                channels: &channels,
                height: h,
                width: w,
                scales: &drawn,
                per_channel: norm == Normalisation::PerChannel,
                colormap,
                cols,
                cell,
            }
            .render()
        });
    }
    write_png(&side_by_side(&figures), out)
}

pub fn write_png(c: &Canvas, out: &str) -> Result<(), String> {
    let img = image::RgbaImage::from_raw(c.width as u32, c.height as u32, c.pixels.clone()).ok_or("internal: canvas size")?;
    img.save_with_format(out, image::ImageFormat::Png).map_err(|e| format!("cannot write {out}: {e}"))
}
