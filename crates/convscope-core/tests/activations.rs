//! The activations view's numbers: statistics and channel cuts on the device against host
//! arithmetic, per-channel and per-layer colour scales on a hand-made tensor, constant maps,
//! and a golden PNG of a real grid (EfficientNet-Lite0 `stem` on chelsea), on every backend.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{devices, load_model, repo, sample, to_vec};
use convscope_core::{
    Value,
    activations::{ChannelStats, Normalisation, channel_maps, layer_scales, stats_tensor},
    render::{Canvas, Colormap, GridFigure, colorize},
};

/// Two channels of 2x2: channel 0 is 0, 1, 2, 4; channel 1 is -1, 0, 0.5, 1.
fn hand_made(device: &burn::tensor::Device, signed: bool) -> Value {
    let c1 = if signed { [-1.0, 0.0, 0.5, 1.0] } else { [0.0, 0.0, 0.5, 1.0] };
    let data: Vec<f32> = [0.0, 1.0, 2.0, 4.0].into_iter().chain(c1).collect();
    Value::Spatial(Tensor::from_data(TensorData::new(data, [1, 2, 2, 2]), device))
}

fn stats_of(value: &Value) -> Vec<ChannelStats> {
    ChannelStats::from_rows(&to_vec(stats_tensor(value)))
}

#[test]
fn stats_on_the_device_match_the_arithmetic() {
    for (name, device) in devices() {
        let s = stats_of(&hand_made(&device, true));
        let want = [ChannelStats { min: 0.0, max: 4.0, mean: 1.75, active: 0.75 }, ChannelStats { min: -1.0, max: 1.0, mean: 0.125, active: 0.5 }];
        for (got, want) in s.iter().zip(want) {
            for (g, w) in [(got.min, want.min), (got.max, want.max), (got.mean, want.mean), (got.active, want.active)] {
                assert!((g - w).abs() < 1e-6, "{name}: {got:?} vs {want:?}");
            }
        }
        // A flat layer: each feature is a one-unit channel.
        let flat = Value::Flat(Tensor::from_data(TensorData::new(vec![3.0f32, -2.0, 0.0], [1, 3]), &device));
        let s = stats_of(&flat);
        assert_eq!(s.iter().map(|s| (s.min, s.max, s.active)).collect::<Vec<_>>(), vec![(3.0, 3.0, 1.0), (-2.0, -2.0, 0.0), (0.0, 0.0, 0.0)], "{name}");
    }
}

#[test]
fn channel_maps_cut_the_chosen_channels_in_order() {
    for (name, device) in devices() {
        let v = hand_made(&device, true);
        assert_eq!(to_vec(channel_maps(&v, &[1, 0]).unwrap()), vec![-1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 2.0, 4.0], "{name}");
        let err = channel_maps(&v, &[2]).unwrap_err().to_string();
        assert!(err.contains("channel 2 does not exist"), "{err}");
    }
}

#[test]
fn per_channel_and_per_layer_normalisation_colour_the_right_values() {
    for (name, device) in devices() {
        let v = hand_made(&device, false);
        let stats = stats_of(&v);
        let maps = to_vec(channel_maps(&v, &[0, 1]).unwrap());
        let gray = |values: &[f32], scale| colorize(values, scale, Colormap::Gray).chunks_exact(4).map(|p| p[0]).collect::<Vec<u8>>();
        // Per channel: each channel's max is white.
        let s = layer_scales(&[&stats], Normalisation::PerChannel);
        assert_eq!(gray(&maps[..4], s[0]), vec![0, 64, 128, 255], "{name}");
        assert_eq!(gray(&maps[4..], s[1]), vec![0, 0, 128, 255], "{name}");
        // Per layer: channel 1 (max 1) on the layer's scale (max 4).
        let s = layer_scales(&[&stats], Normalisation::PerLayer);
        assert_eq!(gray(&maps[4..], s[1]), vec![0, 0, 32, 64], "{name}");
        // Signed data: zero in the middle, symmetric.
        let v = hand_made(&device, true);
        let s = layer_scales(&[&stats_of(&v)], Normalisation::PerChannel);
        let maps = to_vec(channel_maps(&v, &[1]).unwrap());
        assert_eq!(gray(&maps, s[1]), vec![0, 128, 191, 255], "{name}");
    }
}

#[test]
fn a_constant_layer_draws_a_grid_without_nan() {
    for (name, device) in devices() {
        for fill in [0.0f32, 3.0, -2.0] {
            let v = Value::Spatial(Tensor::from_data(TensorData::new(vec![fill; 2 * 9], [1, 2, 3, 3]), &device));
            let stats = stats_of(&v);
            let maps = to_vec(channel_maps(&v, &[0, 1]).unwrap());
            for norm in [Normalisation::PerChannel, Normalisation::PerLayer] {
                let scales = layer_scales(&[&stats], norm);
                assert!(scales.iter().all(|s| s.lo.is_finite() && s.hi.is_finite()), "{name} {fill}: {scales:?}");
                let signed = scales[0].signed;
                let cmap = Colormap::for_data(signed);
                let want = cmap.color(if fill > 0.0 {
                    1.0
                } else if signed {
                    if fill < 0.0 { 0.0 } else { 0.5 }
                } else {
                    0.0
                });
                let px = colorize(&maps, scales[0], cmap);
                assert!(px.chunks_exact(4).all(|p| p[..3] == want), "{name} fill {fill} {norm:?}: {:?}", &px[..4]);
                let grid = GridFigure {
                    title: "CONSTANT".into(),
                    maps: &maps,
                    channels: &[0, 1],
                    height: 3,
                    width: 3,
                    scales: &scales,
                    per_channel: norm == Normalisation::PerChannel,
                    colormap: cmap,
                    cols: 2,
                    cell: 30,
                }
                .render();
                assert_eq!(grid.pixels.len(), grid.width * grid.height * 4);
            }
        }
    }
}

/// Compare with the committed golden image; `CONVSCOPE_UPDATE_GOLDEN=1` rewrites it.
fn check_golden(name: &str, got: &Canvas, backend: &str) {
    let path = repo().join("tests/golden").join(name);
    if std::env::var("CONVSCOPE_UPDATE_GOLDEN").is_ok() && backend == "cpu" {
        image::RgbaImage::from_raw(got.width as u32, got.height as u32, got.pixels.clone()).unwrap().save(&path).unwrap();
    }
    let want = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}; regenerate with CONVSCOPE_UPDATE_GOLDEN=1", path.display())).to_rgba8();
    assert_eq!((want.width() as usize, want.height() as usize), (got.width, got.height), "{backend}: {name} size");
    let diffs: Vec<u8> = want.as_raw().iter().zip(&got.pixels).map(|(&a, &b)| a.abs_diff(b)).collect();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    let off = diffs.iter().filter(|&&d| d > 8).count() as f64 / diffs.len() as f64;
    // Backends differ by ~1e-4 in the activations: at most a colormap step here and there.
    assert!(mean < 0.25 && off < 0.002, "{backend}: {name} differs: mean {mean:.3}, {:.3}% of bytes by more than 8", off * 100.0);
}

#[test]
fn golden_grid_of_efficientnet_stem_on_chelsea() {
    for (name, device) in devices() {
        let model = load_model("efficientnet-lite0", &device);
        let layer = model.graph.layer("stem").unwrap();
        let input = model.input_tensor(&sample("chelsea.png")).unwrap();
        let (_, acts) = model.graph.forward(input, &[layer]).unwrap();
        let stats = stats_of(&acts[0]);
        assert_eq!(stats.len(), 32);
        let channels: Vec<usize> = (0..8).collect();
        let maps = to_vec(channel_maps(&acts[0], &channels).unwrap());
        let scales = layer_scales(&[&stats], Normalisation::PerChannel);
        assert!(!scales[0].signed, "stem is post-ReLU6");
        let grid = GridFigure {
            title: "CHELSEA.PNG EFFICIENTNET-LITE0 STEM".into(),
            maps: &maps,
            channels: &channels,
            height: 112,
            width: 112,
            scales: &scales[..8],
            per_channel: true,
            colormap: Colormap::Viridis,
            cols: 4,
            cell: 112,
        }
        .render();
        check_golden("activations_stem_chelsea.png", &grid, name);
    }
}
