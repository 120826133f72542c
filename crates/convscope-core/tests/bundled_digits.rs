//! The bundled digit CNN reads digits that this test draws itself, stroke by stroke.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{load_model, to_vec};

type Stroke = Vec<(f32, f32)>;

fn arc(cx: f32, cy: f32, rx: f32, ry: f32, from_deg: f32, to_deg: f32) -> Stroke {
    let n = 48;
    (0..=n)
        .map(|i| {
            let t = (from_deg + (to_deg - from_deg) * i as f32 / n as f32).to_radians();
            (cx + rx * t.cos(), cy + ry * t.sin())
        })
        .collect()
}

/// Each digit as strokes in a unit box, y pointing down.
fn strokes(digit: usize) -> Vec<Stroke> {
    match digit {
        0 => vec![arc(0.5, 0.5, 0.32, 0.48, 0.0, 360.0)],
        1 => vec![vec![(0.32, 0.2), (0.52, 0.02), (0.52, 0.98)]],
        2 => {
            let mut s = arc(0.5, 0.28, 0.3, 0.26, 200.0, 380.0);
            s.extend([(0.12, 0.98), (0.9, 0.98)]);
            vec![s]
        }
        3 => vec![arc(0.48, 0.27, 0.26, 0.23, 200.0, 450.0), arc(0.48, 0.73, 0.3, 0.25, 270.0, 520.0)],
        4 => vec![vec![(0.68, 0.98), (0.68, 0.02), (0.08, 0.68), (0.92, 0.68)]],
        5 => {
            let mut s = vec![(0.82, 0.02), (0.3, 0.02), (0.26, 0.46)];
            s.extend(arc(0.5, 0.69, 0.32, 0.29, 225.0, 510.0));
            vec![s]
        }
        6 => vec![vec![(0.72, 0.02), (0.45, 0.2), (0.28, 0.45), (0.24, 0.7)], arc(0.5, 0.72, 0.27, 0.26, 0.0, 360.0)],
        7 => vec![vec![(0.08, 0.02), (0.92, 0.02), (0.42, 0.98)]],
        8 => vec![arc(0.5, 0.26, 0.24, 0.24, 0.0, 360.0), arc(0.5, 0.73, 0.29, 0.26, 0.0, 360.0)],
        9 => vec![arc(0.5, 0.3, 0.28, 0.28, 0.0, 360.0), vec![(0.78, 0.32), (0.72, 0.98)]],
        _ => unreachable!(),
    }
}

fn dist_to_segment(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) };
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - x).powi(2) + (p.1 - y).powi(2)).sqrt()
}

/// A 28x28 white-on-black image, the digit in the central 20x20 box as MNIST has it.
fn render(digit: usize) -> Vec<f32> {
    let strokes = strokes(digit);
    let width = 2.6; // pixels
    let mut img = vec![0f32; 28 * 28];
    for y in 0..28 {
        for x in 0..28 {
            let p = ((x as f32 + 0.5 - 4.0) / 20.0, (y as f32 + 0.5 - 4.0) / 20.0);
            let d = strokes.iter().flat_map(|s| s.windows(2).map(move |w| dist_to_segment(p, w[0], w[1]))).fold(f32::INFINITY, f32::min) * 20.0;
            img[y * 28 + x] = (width / 2.0 + 0.5 - d).clamp(0.0, 1.0);
        }
    }
    img
}

#[test]
fn reads_every_drawn_digit() {
    for (backend, device) in common::devices() {
        let model = load_model("digit-cnn", &device);
        let (mean, std) = (model.input.mean[0] / 255.0, model.input.std[0] / 255.0);
        let batch: Vec<f32> = (0..10).flat_map(render).map(|v| (v - mean) / std).collect();
        let input = Tensor::<4>::from_data(TensorData::new(batch, [10, 1, 28, 28]), &device);
        let (logits, _) = model.graph.forward(input, &[]).unwrap();
        let logits = to_vec(logits);
        for digit in 0..10 {
            let top = model.top_k(&logits[digit * 10..digit * 10 + 10], 1);
            assert_eq!(top[0].index, digit, "{backend}: drew {digit}, read {top:?}");
            assert!(top[0].prob > 0.5, "{backend}: drew {digit}, only {:.2} sure", top[0].prob);
        }
    }
}

#[test]
fn layers_follow_the_checkpoint() {
    let model = load_model("digit-cnn", &burn::tensor::Device::flex());
    let ids: Vec<&str> = model.graph.layers().iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "flatten", "fc1.linear", "fc1", "logits"]);
    let shapes: Vec<Vec<usize>> = model.graph.layers().iter().map(|l| l.shape.clone()).collect();
    assert_eq!(shapes[0], vec![32, 28, 28]);
    assert_eq!(shapes[5], vec![128, 3, 3]);
    assert_eq!(shapes[8], vec![256]);
}

/// What the digit model sees of a colour photo is grey, and that grey is what it computes on.
#[test]
fn a_one_channel_model_sees_a_colour_image_in_grey() {
    let model = common::load_model("digit-cnn", &burn::tensor::Device::flex());
    let seen = model.prepare(&common::sample("coffee.png"), &convscope_core::preprocess::Preprocess::default()).unwrap();
    assert_eq!(seen.rgb.len(), 28 * 28 * 3);
    assert!(seen.rgb.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]), "grey pixels");
    assert!(seen.rgb.chunks_exact(3).any(|p| p[0] > 40) && seen.rgb.chunks_exact(3).any(|p| p[0] < 200), "not a blank picture");
    // The input is the normalised luma: within rounding of the grey shown.
    let input = common::to_vec(seen.input);
    let spec = &model.input;
    for (x, p) in input.iter().zip(seen.rgb.chunks_exact(3)) {
        assert!((x * spec.std[0] + spec.mean[0] - p[0] as f32).abs() <= 0.5 + 1e-3, "{x} vs {}", p[0]);
    }
}
