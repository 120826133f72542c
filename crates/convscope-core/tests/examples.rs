//! Receptive fields checked by gradients, and the dataset-examples index on a synthetic set
//! whose answer is known (a colour that one `stem` channel of EfficientNet-Lite0 answers to,
//! at known places among other colours), and shards merged into the whole set's index.

mod common;

use burn::tensor::{Device, Tensor};
use common::{load_model, to_vec};
use convscope_core::{
    Model, RgbaImage, Value,
    examples::Index,
    graph::field::{Field, Region},
    readback::block,
};

/// The input pixels with a nonzero gradient of position `(y, x)` of `layer`, in the
/// channel where it is largest and inside its activation's unclamped range.
fn gradient_support(m: &Model, layer: &str, y: usize, x: usize, image: &RgbaImage) -> Option<Region> {
    let g = &m.graph;
    let input = m.input_tensor(image).unwrap().require_grad();
    let l = g.layer(layer).unwrap();
    let Value::Spatial(a) = g.activations(input.clone(), &[l]).unwrap().remove(0) else { panic!("{layer} is spatial") };
    let [_, channels, _, _] = a.dims();
    let here = to_vec(a.clone().slice([0..1, 0..channels, y..y + 1, x..x + 1]).detach());
    let c = (0..channels).filter(|&c| here[c] > 0.05 && (here[c] - 6.0).abs() > 1e-3).max_by(|&i, &j| here[i].total_cmp(&here[j]))?;
    let grads = a.slice([0..1, c..c + 1, y..y + 1, x..x + 1]).sum().backward();
    let grad = input.grad(&grads).unwrap();
    let [_, ch, h, w] = grad.dims();
    let v = to_vec(grad);
    let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
    for k in 0..ch {
        for i in 0..h {
            for j in 0..w {
                if v[(k * h + i) * w + j] != 0.0 {
                    (y0, y1, x0, x1) = (y0.min(i), y1.max(i + 1), x0.min(j), x1.max(j + 1));
                }
            }
        }
    }
    (y0 != usize::MAX).then_some(Region { y0, y1, x0, x1 })
}

#[test]
fn receptive_fields_hold_every_pixel_the_gradient_reaches() {
    let device = Device::flex().autodiff();
    for (model, cases) in [
        ("efficientnet-lite0", vec![("stem", 0, 0), ("stem", 40, 71), ("blocks.1", 20, 33), ("blocks.3", 27, 9), ("blocks.5", 7, 6), ("blocks.10", 3, 12)]),
        ("digit-cnn", vec![("conv1", 0, 27), ("pool1", 6, 6), ("conv2", 13, 0), ("pool2", 3, 4)]),
    ] {
        let m = load_model(model, &device);
        let image = common::sample("chelsea.png");
        let [ih, iw] = [m.input.height, m.input.width];
        for (layer, y, x) in cases {
            let field = m.graph.info(m.graph.layer(layer).unwrap()).field.unwrap_or_else(|| panic!("{layer} has a field"));
            let region = field.region(y, x, ih, iw);
            let support = gradient_support(&m, layer, y, x, &image).unwrap_or_else(|| panic!("{model} {layer} ({y}, {x}): no gradient"));
            // Nothing outside the field is reached...
            assert!(
                support.y0 >= region.y0 && support.y1 <= region.y1 && support.x0 >= region.x0 && support.x1 <= region.x1,
                "{model} {layer} ({y}, {x}): gradient over {support:?}, field {region:?}"
            );
            // ...and the field is no larger than the gradient shows (within a stride of the
            // layer, which the ReLUs can switch off at the field's rim).
            let slack = field.jump[0] + 2;
            assert!(
                support.y0 <= region.y0 + slack && support.y1 + slack >= region.y1 && support.x0 <= region.x0 + slack && support.x1 + slack >= region.x1,
                "{model} {layer} ({y}, {x}): gradient over {support:?} only, field {region:?}"
            );
        }
    }
    // By hand: EfficientNet-Lite0's stem is a 3x3 stride-2 conv with its padding after
    // (TF same): position i sees rows 2i..2i+2.
    let m = load_model("efficientnet-lite0", &Device::flex());
    let g = &m.graph;
    assert_eq!(g.info(g.layer("stem").unwrap()).field, Some(Field { start: [0, 0], jump: [2, 2], size: [3, 3] }));
    // A global pool and a linear layer see everything.
    assert_eq!(g.info(g.layer("logits").unwrap()).field, None);
    // Residual branches meet: a block's field is its branch's (the larger of the two).
    let block = g.info(g.layer("blocks.2").unwrap()).field.unwrap();
    let project = g.info(g.layer("blocks.2.project").unwrap()).field.unwrap();
    assert_eq!(block, project);
}

const SIDE: usize = 224;
const PALETTE: [[u8; 3]; 8] = [[220, 30, 30], [30, 200, 40], [30, 60, 220], [230, 220, 40], [40, 210, 220], [210, 40, 200], [245, 245, 245], [15, 15, 15]];
const GREY: [u8; 3] = [128, 128, 128];

fn picture(patches: &[([u8; 3], usize, usize, usize)]) -> RgbaImage {
    let mut px = vec![0u8; SIDE * SIDE * 4];
    for p in px.chunks_exact_mut(4) {
        p.copy_from_slice(&[GREY[0], GREY[1], GREY[2], 255]);
    }
    for &(colour, y0, x0, side) in patches {
        for y in y0..y0 + side {
            for x in x0..x0 + side {
                px[(y * SIDE + x) * 4..][..3].copy_from_slice(&colour);
            }
        }
    }
    RgbaImage::new(SIDE, SIDE, px).unwrap()
}

/// The stem channel and palette colour where that colour beats every other colour and every
/// edge between two other colours (or grey) by the widest margin, from the model itself.
fn colour_channel(m: &Model) -> (usize, usize) {
    let g = &m.graph;
    let stem = g.layer("stem").unwrap();
    let peaks = |images: &[RgbaImage]| -> Vec<Vec<f32>> {
        let x = Tensor::cat(images.iter().map(|i| m.input_tensor(i).unwrap()).collect(), 0);
        let a = g.activations(x, &[stem]).unwrap().remove(0).spatial("stem").unwrap();
        let [n, c, _, _] = a.dims();
        let v = to_vec(a.reshape([n * c, 112 * 112]).max_dim(1));
        v.chunks(c).map(<[f32]>::to_vec).collect()
    };
    let uniform = peaks(&PALETTE.map(|p| picture(&[(p, 0, 0, SIDE)])));
    let colours: Vec<[u8; 3]> = PALETTE.iter().copied().chain([GREY]).collect();
    let mut edges = vec![];
    for (i, a) in colours.iter().enumerate() {
        for b in &colours[i + 1..] {
            edges.push((*a, *b, picture(&[(*a, 0, 0, SIDE), (*b, 0, 112, 112)])));
            edges.push((*a, *b, picture(&[(*a, 0, 0, SIDE), (*b, 112, 0, 112)])));
            edges.push((*a, *b, picture(&[(*a, 0, 0, SIDE), (*b, 80, 80, 64)])));
        }
    }
    let edge_peaks = peaks(&edges.iter().map(|e| e.2.clone()).collect::<Vec<_>>());
    let mut best = (0, 0, f32::MIN);
    for (s, stimulus) in PALETTE.iter().enumerate() {
        for c in 0..uniform[0].len() {
            let rival = edge_peaks.iter().zip(&edges).filter(|(_, (a, b, _))| a != stimulus && b != stimulus).map(|(p, _)| p[c]).fold(f32::MIN, f32::max);
            let margin = uniform[s][c] - rival;
            if margin > best.2 {
                best = (c, s, margin);
            }
        }
    }
    assert!(best.2 > 0.5, "no stem channel singles out a colour (best margin {})", best.2);
    (best.0, best.1)
}

/// A picture's name and where its stimulus square's top left corner is.
type Placed = (String, usize, usize);

/// 48 pictures: grey with two or three patches of other colours each, and in every sixth
/// one a 24-pixel square of the stimulus colour at a known place.
fn synthetic_set(stimulus: usize) -> (Vec<(String, RgbaImage)>, Vec<Placed>) {
    let mut rng = common::XorShift(77);
    let mut pick = |n: usize| ((rng.next_f32() * 0.5 + 0.5) * n as f32) as usize % n;
    let others: Vec<[u8; 3]> = PALETTE.iter().enumerate().filter(|(i, _)| *i != stimulus).map(|(_, p)| *p).collect();
    let (mut set, mut truth) = (vec![], vec![]);
    for k in 0..48 {
        let mut patches = vec![];
        for _ in 0..2 + k % 2 {
            patches.push((others[pick(others.len())], pick(SIDE - 60), pick(SIDE - 60), 30 + pick(30)));
        }
        let name = format!("img{k:03}.png");
        if k % 6 == 3 {
            let (y, x) = (8 + pick(SIDE - 40), 8 + pick(SIDE - 40));
            patches.push((PALETTE[stimulus], y, x, 24));
            truth.push((name.clone(), y, x));
        }
        set.push((name, picture(&patches)));
    }
    (set, truth)
}

#[test]
fn a_colour_channel_finds_its_colour_where_it_was_put() {
    let device = Device::flex();
    let m = load_model("efficientnet-lite0", &device);
    let (channel, stimulus) = colour_channel(&m);
    let (set, truth) = synthetic_set(stimulus);
    let layers = [m.graph.layer("stem").unwrap(), m.graph.layer("blocks.1").unwrap()];
    let mut index = Index::new(&m, &layers, truth.len(), "whole").unwrap();
    for batch in set.chunks(8) {
        assert_eq!(block(index.add(&m, batch)).unwrap(), batch.len());
    }
    assert_eq!(index.images.len(), set.len());
    let stem = index.layer("stem").unwrap();
    let top = &stem.channels[channel].top;
    let mut found: Vec<&str> = top.iter().map(|e| e.image.as_str()).collect();
    found.sort();
    let mut want: Vec<&str> = truth.iter().map(|t| t.0.as_str()).collect();
    want.sort();
    assert_eq!(found, want, "stem channel {channel} (colour {:?}): its top images are those with the colour", PALETTE[stimulus]);
    for e in top {
        let (_, y, x) = truth.iter().find(|t| t.0 == e.image).unwrap();
        let r = index.crop(stem, e).unwrap();
        // The crop (the 3x3 pixels the peak sees, the image being the input's size) lies on
        // the coloured square.
        assert!(r.y0 + 3 > *y && r.y1 < y + 24 + 3 && r.x0 + 3 > *x && r.x1 < x + 24 + 3, "{}: crop {r:?}, square at ({y}, {x})", e.image);
        assert_eq!((r.y1 - r.y0, r.x1 - r.x0), (3, 3));
    }
    // The statistics count every position of every image.
    let stats = &stem.channels[channel].stats;
    assert_eq!(stats.positions, 48 * 112 * 112);
    assert_eq!(stats.histogram.iter().sum::<u64>(), stats.positions);
    assert!(stats.fraction_active() > 0.0 && stats.fraction_active() < 1.0);
    // Added again, nothing changes (a resumed run skips what it has).
    let before = index.clone();
    assert_eq!(block(index.add(&m, &set[..8])).unwrap(), 0);
    assert_eq!(index, before);
    // Saved and read back, the same index.
    assert_eq!(Index::from_json(&index.to_json()).unwrap(), index);
}

#[test]
fn shards_merged_give_the_whole_sets_index() {
    let device = Device::flex();
    let m = load_model("efficientnet-lite0", &device);
    let (set, _) = synthetic_set(0);
    let set = &set[..30];
    let layers = [m.graph.layer("blocks.3").unwrap(), m.graph.layer("head").unwrap()];
    let mut whole = Index::new(&m, &layers, 5, "center-crop").unwrap();
    for batch in set.chunks(7) {
        block(whole.add(&m, batch)).unwrap();
    }
    let mut shards: Vec<Index> = (0..3)
        .map(|s| {
            let mut i = Index::new(&m, &layers, 5, "center-crop").unwrap();
            let mine: Vec<_> = set.iter().enumerate().filter(|(k, _)| k % 3 == s).map(|(_, x)| x.clone()).collect();
            for batch in mine.chunks(4) {
                block(i.add(&m, batch)).unwrap();
            }
            i
        })
        .collect();
    let mut merged = shards.remove(2);
    for s in shards {
        merged.merge(s).unwrap();
    }
    // Sums of floats in another order may differ in their last bits: compared apart.
    for (a, b) in merged.layers.iter().zip(&whole.layers) {
        for (x, y) in a.channels.iter().zip(&b.channels) {
            assert!((x.stats.sum - y.stats.sum).abs() <= 1e-9 * y.stats.sum.abs().max(1.0), "{} sums {} vs {}", a.id, x.stats.sum, y.stats.sum);
        }
    }
    let sums_cleared = |mut i: Index| {
        for l in &mut i.layers {
            for c in &mut l.channels {
                c.stats.sum = 0.0;
            }
        }
        i
    };
    assert_eq!(sums_cleared(merged.clone()), sums_cleared(whole.clone()));
    // A shard merged twice is refused.
    let mut again = merged.clone();
    let e = again.merge(merged).unwrap_err().to_string();
    assert!(e.contains("is in both indexes"), "{e}");
}

/// An example's tile is the part of the picture its position sees, scaled whole to the
/// tile's size: here a picture whose pixels spell their own coordinates.
#[test]
fn a_tile_is_the_region_its_position_sees() {
    use convscope_core::{
        examples::{seen, tile},
        render::Canvas,
    };
    let (w, h) = (40, 30);
    let pixels = (0..h).flat_map(|y| (0..w).flat_map(move |x| [x as u8, y as u8, 0, 255])).collect();
    let picture = Canvas { width: w, height: h, pixels };
    // A 3x3 field with stride 2 and a padding of 1: position (4, 7) sees rows 7..10, columns 13..16.
    let field = Field { start: [-1, -1], jump: [2, 2], size: [3, 3] };
    let region = seen(Some(field), 4, 7, h, w);
    assert_eq!(region, Region { y0: 7, y1: 10, x0: 13, x1: 16 });
    let small = tile(&picture, region, 12);
    assert_eq!((small.width, small.height), (12, 12));
    assert_eq!(small.pixel(0, 0)[..2], [13, 7]);
    assert_eq!(small.pixel(11, 11)[..2], [15, 9]);
    assert_eq!(small.pixel(5, 4)[..2], [14, 8]);
    // At the corner the field is clipped to the picture, and keeps its aspect.
    let corner = seen(Some(field), 0, 0, h, w);
    assert_eq!(corner, Region { y0: 0, y1: 2, x0: 0, x1: 2 });
    // A layer whose positions see the whole input: the whole picture, 4:3.
    let whole = tile(&picture, seen(None, 0, 0, h, w), 20);
    assert_eq!((whole.width, whole.height), (20, 15));
    assert_eq!(whole.pixel(19, 14)[..2], [38, 28]);
}
