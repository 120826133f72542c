//! `convscope`: look inside CNNs from the command line.

mod activations;
mod args;
mod bench;
mod cam;
mod convert;
mod examples;
mod npy;
mod patterns;
mod runtime;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use args::Args;
use burn::tensor::{Device, Tensor};
use convscope_core::{
    Model, RgbaImage, onnx,
    preprocess::Preprocess,
    readback::{self, block},
    tensor_data::StoredDType,
};

const BUNDLED: [&str; 2] = ["efficientnet-lite0", "digit-cnn"];

const USAGE: &str = "convscope: look inside CNNs

usage:
  convscope predict --model M IMAGE [--top K] [--json] [--backend cpu|wgpu] [--fit whole|center-crop]
  convscope layers --model M [--json]
  convscope activations --model M --layer ID IMAGE [--npy OUT.npy] [--png OUT.png]
        [--channels all|0..16|3,7,9] [--rank index|max|mean|active] [--cols N] [--cell PX]
        [--colormap auto|viridis|magma|cividis|gray|coolwarm] [--norm channel|layer]
        [--compare IMAGE2] [--zoom CHANNEL [--overlay OPACITY]] [--backend cpu|wgpu] [--fit whole|center-crop]
  convscope cam --model M --method ID IMAGE [--layer ID] [--class K [--contrast K2]]
        [--png OUT.png [--opacity A] [--size PX] [--colormap NAME]] [--npy RAW.npy]
        [--faithfulness] [--sanity] [--seed N] [--max-channels N] [--json] [--backend cpu|wgpu] [--fit ...]
  convscope patterns --model M [--layer ID] -o DIR [--channels 0..16] [--steps 512] [--size 128]
        [--seed N] [--lr 0.05] [--param fft|pixel] [--no-decorrelate] [--no-transforms]
        [--fit model|as-is] [--objective channel|neuron] [--start IMAGE] [--redirect-steps 32] [--curve 16,32,64] [--cell PX] [--npy OUT.npy] [--json] [--backend cpu|wgpu]
  convscope examples --model M --layer ID[,ID2] DIR -o OUT [--channels 0..16] [--top 9] [--fit whole|center-crop]
        [--batch 8] [--shard i/n] [--json] [--backend cpu|wgpu]
  convscope examples merge SHARD1/index.json SHARD2/index.json ... -o OUT.json
  convscope convert --from SHARED_MODELS_DIR --out WEIGHTS_DIR [--dtype f16|f32]
  convscope bench [--runs N] [--backend cpu|wgpu|both] [--attention [--methods a,b] [--max-channels N]] [--json]
  convscope bench --profile [--runs N] [--json]   (the CPU forward pass by kind of op, 1 and 2 threads)

M is a bundled model (efficientnet-lite0, digit-cnn), a path to a .csm file, or an .onnx file
exported from PyTorch or Keras, with [--mean R,G,B] [--std R,G,B] (applied to pixel values
0..255, in R,G,B order; ImageNet's 123.675,116.28,103.53 and 58.395,57.12,57.375 by default for
RGB, 0 and 255 for grey), [--bgr] (the model takes blue, green, red planes) and [--labels FILE] (one class per line, or a JSON list or index-to-name object).
Bundled models are read from $CONVSCOPE_WEIGHTS, else from the repository's weights/.
bench: CONVSCOPE_KERNELS=burn runs burn's own CPU ops instead of convscope's kernels.
activations: --npy writes the layer (float32, [C, H, W]; the chosen channels in rank order
when --channels or --rank is given); --png draws the chosen channels as a labelled grid with
the colour legend, beside --compare's maps on the same scale, or one map large with --zoom.
cam: methods gradcam, gradcam++, xgradcam, layercam, hirescam, scorecam, eigencam (at --layer,
by default the last layer with feature maps), saliency, smoothgrad, integrated-gradients,
occlusion (at the input); the target is --class (default the top-1), or --class minus
--contrast. --npy writes the raw map (float32 [H, W], after ReLU, before normalisation and
upsampling); --png the normalised map over the image with its faithfulness scores
(deletion/insertion areas, the drop when only the highlighted region is kept, against a
random map); --sanity randomizes the model from the top down and reports the correlation.
patterns: --layer defaults to the feature-map layer a third of the way in (blocks.5 of
efficientnet-lite0); one optimization for all the channels (one image each) from seeded noise (or
--start IMAGE): Fourier basis with colour decorrelation, Lucid's transforms scaled to --size,
Adam; the image is resized to the model's input (--fit as-is feeds it at its own size where
the layer allows). Writes DIR/<channel>.png and DIR/gallery.png (channels their own pattern
leaves off are marked OFF); --npy writes the images, float32 [N, C, size, size] in 0..1;
--curve K1,K2,.. also writes DIR/gallery-K.png and (with --json) each channel's own mean at
those steps of the same run.
examples: every PNG and JPEG under DIR through the model once (in batches), keeping per channel
of each --layer its --top images by their peak value, where the peak is, and the channel's
statistics (mean, fraction active, histogram) in OUT/index.json (a run started again resumes
it); writes each --channels channel's top crops (the part of the image the peak's position
sees) as OUT/<layer>/<channel>/<rank>.png and a gallery OUT/<layer>/<channel>.png. --json prints
per channel its top: image, position in the layer's grid, value, crop [x, y, w, h] in the
image's pixels.";

fn main() -> ExitCode {
    // SAFETY: first thing in `main`: no other thread exists yet.
    unsafe { runtime::keep_freed() };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // `bench --profile` runs on pools of its own (one thread, then two): the global pool's
    // threads sleep meanwhile.
    let keep_awake = !(cmd == "bench" && rest.iter().any(|a| a == "--profile"));
    let result = runtime::on_pool(keep_awake, || match cmd.as_str() {
        "predict" => predict(rest),
        "layers" => layers(rest),
        "activations" => activations::run(rest),
        "cam" => cam::run(rest),
        "patterns" => patterns::run(rest),
        "examples" => examples::run(rest),
        "convert" => convert(rest),
        "bench" => bench::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The burn device for `--backend`.
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::flex()),
        "wgpu" => {
            convscope_core::fusion::turn_off();
            Device::wgpu_options().init().map_err(|e| format!("no wgpu device ({e}); on a machine without a GPU install Mesa's lavapipe (mesa-vulkan-drivers)"))
        }
        other => Err(format!("unknown backend `{other}`; use cpu or wgpu")),
    }
}

fn weights_dir() -> PathBuf {
    std::env::var_os("CONVSCOPE_WEIGHTS").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights"))
}

/// Where model `name` (bundled id or path) lives.
pub fn model_path(name: &str) -> Result<PathBuf, String> {
    let as_path = Path::new(name);
    if name.ends_with(".csm") || as_path.components().count() > 1 {
        return if as_path.is_file() { Ok(as_path.into()) } else { Err(format!("model file {name} does not exist")) };
    }
    if !BUNDLED.contains(&name) {
        return Err(format!("unknown model `{name}`; bundled models are: {} (or give a path to a .csm file)", BUNDLED.join(", ")));
    }
    let path = weights_dir().join(format!("{name}.csm"));
    if path.is_file() { Ok(path) } else { Err(format!("{} is missing; run `convscope convert` or set CONVSCOPE_WEIGHTS", path.display())) }
}

/// Load model `name` onto `device`.
pub fn load_model(name: &str, device: &Device) -> Result<Model, String> {
    let path = model_path(name)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Model::from_bytes(&bytes, device).map_err(|e| format!("{}: {e}", path.display()))
}

/// The flags that say how an imported (`.onnx`) model takes images.
pub const ONNX_FLAGS: [&str; 4] = ["mean", "std", "labels", "bgr"];

/// The model `--model` names: a bundled id, a `.csm` file, or an `.onnx` file read with
/// `--mean R,G,B --std R,G,B` (on pixel values 0..255; ImageNet's when not given) and
/// `--labels FILE` (one class per line, or JSON), `--bgr` for a model that takes blue, green,
/// red.
pub fn model_from(a: &Args, device: &Device) -> Result<Model, String> {
    let name = a.need("model")?;
    if !name.ends_with(".onnx") {
        if let Some(f) = ONNX_FLAGS.iter().find(|f| a.has(f)) {
            return Err(format!("--{f} applies to .onnx models only; {name} carries its own preprocessing"));
        }
        return load_model(name, device);
    }
    let bytes = std::fs::read(name).map_err(|e| format!("cannot read {name}: {e}"))?;
    let labels = match a.get("labels") {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("--labels: cannot read {f}: {e}"))?,
        None => String::new(),
    };
    let pre = onnx::Preprocessing::parse(a.get("mean").unwrap_or(""), a.get("std").unwrap_or(""), a.has("bgr"), labels).map_err(|e| match e {
        convscope_core::Error::BadInput(m) => format!("--{m}"),
        e => e.to_string(),
    })?;
    let stem = Path::new(name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| name.into());
    onnx::load(&bytes, &stem, &pre, device).map_err(|e| match (&e, a.get("labels")) {
        // A labels file that does not fit is that file's fault, not the model's.
        (convscope_core::Error::BadInput(m), Some(file)) if m.contains("labels") => format!("--labels {file}: {m}"),
        _ => format!("{name}: {e}"),
    })
}

/// Decode an image file (any bit depth, grey or colour, with or without alpha) to RGBA8.
pub fn load_image(path: &str) -> Result<RgbaImage, String> {
    if !Path::new(path).is_file() {
        return Err(format!("image {path} does not exist"));
    }
    let cannot = |e: &dyn std::fmt::Display| {
        let e = e.to_string();
        let hint = if e.contains("end of file") { " (the file ends too early: truncated?)" } else { "" };
        format!("cannot read image {path}: {e}{hint}")
    };
    if std::fs::metadata(path).map_err(|e| cannot(&e))?.len() == 0 {
        return Err(format!("image {path} is empty (0 bytes)"));
    }
    if Path::new(path).extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        return Err(format!("{path} is an SVG (a vector drawing); the CLI reads PNG and JPEG images: export it as PNG"));
    }
    // The format from the bytes (a PNG named .jpg is still read); the camera's EXIF
    // orientation applied, as browsers do, so the CLI and the page see the same picture.
    let reader = image::ImageReader::open(path).map_err(|e| cannot(&e))?.with_guessed_format().map_err(|e| cannot(&e))?;
    if reader.format().is_none() {
        return Err(format!("cannot read image {path}: it is not a PNG or JPEG file"));
    }
    let mut decoder = reader.into_decoder().map_err(|e| cannot(&e))?;
    let orientation = image::ImageDecoder::orientation(&mut decoder).map_err(|e| cannot(&e))?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| cannot(&e))?;
    img.apply_orientation(orientation);
    let img = img.to_rgba8();
    let (w, h) = img.dimensions();
    RgbaImage::new(w as usize, h as usize, img.into_raw()).map_err(|e| e.to_string())
}

fn one_image(a: &Args) -> Result<&str, String> {
    match a.positional() {
        [one] => Ok(one),
        [] => Err("give an image file".into()),
        many => Err(format!("give one image file, got {}", many.len())),
    }
}

/// A tensor's values, read back (the core's read-back, waited for).
pub fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    block(readback::read(t)).map_err(|e| e.to_string())
}

fn predict(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &["json", "bgr"])?;
    a.only(&["model", "top", "json", "backend", "fit", "mean", "std", "labels", "bgr"])?;
    let backend = a.get("backend").unwrap_or("cpu");
    let device = device(backend)?;
    let model = model_from(&a, &device)?;
    let image = load_image(one_image(&a)?)?;
    let k: usize = a.get("top").unwrap_or("5").parse().map_err(|_| "--top needs a whole number".to_string())?;
    let pre = Preprocess::named(a.get("fit").unwrap_or("whole")).map_err(|e| format!("--fit: {e}"))?;
    let input = model.prepare(&image, &pre).map_err(|e| e.to_string())?.input;
    let top = model.top_k(&block(model.logits(input)).map_err(|e| e.to_string())?, k);
    if a.has("json") {
        let out = serde_json::json!({ "model": model.name, "backend": backend, "top": top });
        println!("{out}");
    } else {
        for p in top {
            println!("{:>7.3}%  {:>4}  {}", p.prob * 100.0, p.index, p.label);
        }
    }
    Ok(())
}

fn layers(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &["json", "bgr"])?;
    a.only(&["model", "json", "mean", "std", "labels", "bgr"])?;
    let model = model_from(&a, &Device::flex())?;
    let layers = model.graph.layers();
    if a.has("json") {
        let out = serde_json::json!({ "model": model.name, "input": model.graph.input_shape(), "layers": layers });
        println!("{out}");
    } else {
        for l in layers {
            println!("{:<24} {:<28} {:?}", l.id, l.kind, l.shape);
        }
    }
    Ok(())
}

fn convert(raw: &[String]) -> Result<(), String> {
    let a = Args::parse(raw, &[])?;
    a.only(&["from", "out", "dtype"])?;
    let dtype = match a.get("dtype").unwrap_or("f16") {
        "f16" => StoredDType::F16,
        "f32" => StoredDType::F32,
        other => return Err(format!("--dtype is f16 or f32, not {other}")),
    };
    for (path, bytes) in convert::run(Path::new(a.need("from")?), Path::new(a.need("out")?), dtype)? {
        println!("wrote {path} ({bytes} bytes)");
    }
    Ok(())
}
