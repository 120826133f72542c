//! Random transforms applied to the image before the network sees it, redrawn every step, so
//! the pattern has to work at every small shift, scale and angle: what survives is structure,
//! not pixel-exact adversarial noise (Olah et al., "Feature Visualization", Distill 2017,
//! "transformation robustness"). The list is plain data; [`STANDARD`] is Lucid's.
//! Every transform is differentiable (padding, slicing, bilinear resampling).

use burn::tensor::Tensor;

use crate::rng::Rng;

/// One transform, with the range it draws from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// Pad every side with `px` pixels.
    Pad {
        /// Pixels per side.
        px: usize,
        /// What the new pixels are.
        fill: Fill,
    },
    /// Crop `px` pixels in total from each dimension, at a random offset (a random shift of
    /// up to `px - 1` pixels).
    Jitter {
        /// Pixels removed per dimension.
        px: usize,
    },
    /// Zoom about the centre by a factor drawn uniformly from `[min, max]`, keeping the
    /// size (Lucid resizes instead; then every step has another image size, which costs a
    /// GPU new kernels each step, and the resize to the model's input undoes it).
    Scale {
        /// Smallest factor.
        min: f32,
        /// Largest factor.
        max: f32,
    },
    /// Rotate about the centre by an angle drawn uniformly from `[-degrees, degrees]`.
    Rotate {
        /// Largest angle.
        degrees: f32,
    },
}

/// What padding (and anything a transform brings in from outside the image) shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// One grey level in [0, 1].
    Constant(f32),
    /// The image mirrored at its edges (the edge pixel not repeated).
    Reflect,
}

/// Lucid's standard transforms: pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees,
/// jitter 4. The padding mirrors the image (Lucent's `pad` default) where Lucid pads with
/// grey 0.5: with a constant grey always around it, every pattern grew a saturated frame
/// (edges against grey drive many units; Lucid's and Lucent's rotations and translations
/// bring in black, which varies the surroundings; ours resample from the padding).
pub const STANDARD: [Transform; 5] = [
    Transform::Pad { px: 12, fill: Fill::Reflect },
    Transform::Jitter { px: 8 },
    Transform::Scale { min: 0.9, max: 1.1 },
    Transform::Rotate { degrees: 10.0 },
    Transform::Jitter { px: 4 },
];

/// [`STANDARD`] for a `size`-pixel image: the pixel amounts scaled by `size / 128` (Lucid's
/// are meant for 128 px images), so a 28 px pattern is padded by 3 pixels, not 12.
pub fn standard(size: usize) -> Vec<Transform> {
    let px = |p: usize| ((p * size) as f32 / 128.0).round().max(1.0) as usize;
    STANDARD
        .iter()
        .map(|t| match *t {
            Transform::Pad { px: p, fill } => Transform::Pad { px: px(p), fill },
            Transform::Jitter { px: p } => Transform::Jitter { px: px(p) },
            other => other,
        })
        .collect()
}

/// A transform with its random values drawn: applying it is deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Drawn {
    /// Pad `px` per side with `fill`.
    Pad(usize, Fill),
    /// Crop `px` per dimension starting at `(dy, dx)`.
    Crop {
        /// Pixels removed per dimension.
        px: usize,
        /// Row offset, `< px`.
        dy: usize,
        /// Column offset, `< px`.
        dx: usize,
    },
    /// Zoom about the centre by this factor (content larger when above 1), same size.
    Scale(f32),
    /// Rotate by this many degrees (counter-clockwise).
    Rotate(f32),
}

impl Transform {
    /// Draw this transform's random values.
    pub fn draw(&self, rng: &mut Rng) -> Drawn {
        match *self {
            Transform::Pad { px, fill } => Drawn::Pad(px, fill),
            Transform::Jitter { px } => {
                let pick = |rng: &mut Rng| (rng.next_u64() % px.max(1) as u64) as usize;
                let dy = pick(rng);
                Drawn::Crop { px, dy, dx: pick(rng) }
            }
            Transform::Scale { min, max } => Drawn::Scale(min + (max - min) * rng.uniform()),
            Transform::Rotate { degrees } => Drawn::Rotate(degrees * (2.0 * rng.uniform() - 1.0)),
        }
    }

    /// How the transform reads, e.g. `jitter 8`.
    pub fn describe(&self) -> String {
        match self {
            Transform::Pad { px, fill: Fill::Constant(v) } => format!("pad {px} ({v})"),
            Transform::Pad { px, fill: Fill::Reflect } => format!("pad {px} (mirrored)"),
            Transform::Jitter { px } => format!("jitter {px}"),
            Transform::Scale { min, max } => format!("scale {min}-{max}"),
            Transform::Rotate { degrees } => format!("rotate +-{degrees} deg"),
        }
    }
}

/// Draw every transform of `list`, in order.
pub fn draw(list: &[Transform], rng: &mut Rng) -> Vec<Drawn> {
    list.iter().map(|t| t.draw(rng)).collect()
}

/// Apply drawn transforms in order, then resize to `size` when given.
///
/// The chain is one affine map from output pixels to input pixels (padding, crops, scales,
/// rotations and the resize all are), so it is applied as one bilinear resampling: pixels
/// outside the image read the first pad's fill (a grey level or the mirrored image), or the
/// nearest edge pixel when nothing pads. One resampling blurs less than one per transform, and it is
/// four indexed reads and a weighted sum per pixel ([`crate::sparse`]), whose backward is also
/// gathers, on every backend.
///
/// # Shapes
/// `x`: `[batch, C, H, W]`; returns `[batch, C, H', W']`
pub fn apply(drawn: &[Drawn], x: Tensor<4>, size: Option<[usize; 2]>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let warp = Warp::compose(drawn, [h, w], size);
    if warp.is_identity([h, w]) {
        return x;
    }
    warp.apply(x)
}

/// Bilinear resize to `[height, width]`, pixel centres aligned (as `interpolate` with
/// `align_corners` false, edges clamped, no antialiasing).
///
/// # Shapes
/// `x`: `[batch, C, H, W]`; returns `[batch, C, height, width]`
pub fn resize(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    apply(&[], x, Some(size))
}

impl Drawn {
    /// Apply to a batch (every element the same way).
    ///
    /// # Shapes
    /// `x`: `[batch, C, H, W]`; returns `[batch, C, H', W']`
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        apply(&[*self], x, None)
    }

    /// Output size, and the affine map from output to input pixel coordinates (pixel `i`'s
    /// centre at `i`): `[x_in, y_in] = A [x_out, y_out, 1]`, rows of `A`.
    fn map(&self, [h, w]: [usize; 2]) -> ([usize; 2], [[f64; 3]; 2]) {
        let shift = |dx: f64, dy: f64| [[1.0, 0.0, dx], [0.0, 1.0, dy]];
        match *self {
            Drawn::Pad(px, _) => ([h + 2 * px, w + 2 * px], shift(-(px as f64), -(px as f64))),
            Drawn::Crop { px, dy, dx } if px < h && px < w => ([h - px, w - px], shift(dx as f64, dy as f64)),
            Drawn::Crop { .. } => ([h, w], shift(0.0, 0.0)),
            Drawn::Scale(s) => {
                let k = 1.0 / s as f64;
                let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
                ([h, w], [[k, 0.0, cx - k * cx], [0.0, k, cy - k * cy]])
            }
            Drawn::Rotate(deg) => {
                let (sin, cos) = (deg as f64).to_radians().sin_cos();
                let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
                // Source = rotation of the output position about the centre.
                ([h, w], [[cos, -sin, cx - cos * cx + sin * cy], [sin, cos, cy - sin * cx - cos * cy]])
            }
        }
    }
}

/// Half-pixel scaling from `from` to `to`: `x_in = (x_out + 0.5) w / w' - 0.5`.
fn scaling([h, w]: [usize; 2], [th, tw]: [usize; 2]) -> [[f64; 3]; 2] {
    let (sx, sy) = (w as f64 / tw as f64, h as f64 / th as f64);
    [[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]]
}

/// `a` after `b`: `a(b(p))`.
fn then(a: [[f64; 3]; 2], b: [[f64; 3]; 2]) -> [[f64; 3]; 2] {
    let mut out = [[0.0; 3]; 2];
    for r in 0..2 {
        for c in 0..3 {
            out[r][c] = a[r][0] * b[0][c] + a[r][1] * b[1][c] + if c == 2 { a[r][2] } else { 0.0 };
        }
    }
    out
}

/// A composed resampling: output size, map to the input, and what lies outside.
struct Warp {
    size: [usize; 2],
    map: [[f64; 3]; 2],
    fill: Option<Fill>,
}

/// Mirror an integer coordinate into `0..n` (period `2 (n - 1)`, edges not repeated).
fn reflect(c: f64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let m = (c as i64).rem_euclid(period);
    (if m > n as i64 - 1 { period - m } else { m }) as usize
}

impl Warp {
    fn compose(drawn: &[Drawn], input: [usize; 2], resize: Option<[usize; 2]>) -> Self {
        let mut size = input;
        let mut map = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        for d in drawn {
            let (to, m) = d.map(size);
            map = then(map, m);
            size = to;
        }
        if let Some(to) = resize.filter(|to| *to != size) {
            map = then(map, scaling(size, to));
            size = to;
        }
        let fill = drawn.iter().find_map(|d| if let Drawn::Pad(_, f) = d { Some(*f) } else { None });
        Self { size, map, fill }
    }

    fn is_identity(&self, input: [usize; 2]) -> bool {
        self.size == input && self.map == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    }

    /// Four corner indices per output pixel into the flattened input (plus one slot past
    /// the end for the fill value) and their bilinear weights, corner-major.
    fn taps(&self, [h, w]: [usize; 2]) -> (Vec<i32>, Vec<f32>) {
        let [oh, ow] = self.size;
        let n = oh * ow;
        let (mut idx, mut wts) = (vec![0i32; 4 * n], vec![0f32; 4 * n]);
        let outside = (h * w) as i32;
        for i in 0..oh {
            for j in 0..ow {
                let p = i * ow + j;
                let (x, y) = (j as f64, i as f64);
                let sx = self.map[0][0] * x + self.map[0][1] * y + self.map[0][2];
                let sy = self.map[1][0] * x + self.map[1][1] * y + self.map[1][2];
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let corners =
                    [(y0, x0, (1.0 - fy) * (1.0 - fx)), (y0, x0 + 1.0, (1.0 - fy) * fx), (y0 + 1.0, x0, fy * (1.0 - fx)), (y0 + 1.0, x0 + 1.0, fy * fx)];
                for (k, (cy, cx, wt)) in corners.into_iter().enumerate() {
                    let inside = cy >= 0.0 && cx >= 0.0 && cy < h as f64 && cx < w as f64;
                    idx[k * n + p] = match (inside, self.fill) {
                        (true, _) => (cy as usize * w + cx as usize) as i32,
                        (false, Some(Fill::Reflect)) => (reflect(cy, h) * w + reflect(cx, w)) as i32,
                        (false, Some(Fill::Constant(_))) => outside,
                        (false, None) => (cy.clamp(0.0, h as f64 - 1.0) as usize * w + cx.clamp(0.0, w as f64 - 1.0) as usize) as i32,
                    };
                    wts[k * n + p] = wt;
                }
            }
        }
        (idx, wts)
    }

    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let [oh, ow] = self.size;
        let device = x.device();
        let (idx, wts) = self.taps([h, w]);
        let flat = x.reshape([b * c, h * w]);
        let grey = match self.fill {
            Some(Fill::Constant(v)) => v,
            _ => 0.0,
        };
        let fill = Tensor::<2>::full([b * c, 1], grey, &device);
        let flat = Tensor::cat(vec![flat, fill], 1);
        // The fill slot is a constant: the backward leaves it out.
        let taps = crate::sparse::Taps::new(idx, wts, 4, h * w + 1, h * w);
        crate::sparse::apply(flat, taps).reshape([b, c, oh, ow])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn ramp(h: usize, w: usize) -> Tensor<4> {
        let v: Vec<f32> = (0..h * w).map(|i| i as f32).collect();
        Tensor::from_data(TensorData::new(v, [1, 1, h, w]), &Device::flex())
    }

    fn to_vec(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_standard_list_gives_one_size_whatever_it_draws() {
        let mut rng = Rng::new(3);
        let drawn = draw(&STANDARD, &mut rng);
        let Drawn::Scale(s) = drawn[2] else { panic!() };
        assert!((0.9..=1.1).contains(&s));
        for seed in 0..5 {
            let out = apply(&draw(&STANDARD, &mut Rng::new(seed)), ramp(128, 128), None);
            assert_eq!(out.dims()[2..], [128 + 24 - 8 - 4, 128 + 24 - 8 - 4]);
        }
        assert_eq!(draw(&STANDARD, &mut Rng::new(3)), drawn);
    }

    #[test]
    fn pad_and_crop_move_pixels_exactly() {
        let x = ramp(3, 4);
        let padded = to_vec(Drawn::Pad(1, Fill::Constant(0.5)).apply(x.clone()));
        assert_eq!(padded.len(), 5 * 6);
        assert_eq!(padded[0], 0.5);
        assert_eq!(padded[6 + 1], 0.0);
        assert_eq!(padded[3 * 6 + 4], 11.0);
        let cropped = to_vec(Drawn::Crop { px: 2, dy: 1, dx: 2 }.apply(x));
        assert_eq!(cropped, vec![6.0, 7.0]);
    }

    #[test]
    fn a_composed_chain_equals_its_steps_where_they_are_exact() {
        // Pad 2 with 0.5, crop 3 at (1, 2), then scale x2 and back: the crop of the padded ramp.
        let x = ramp(4, 5);
        let chain = [Drawn::Pad(2, Fill::Constant(0.5)), Drawn::Crop { px: 3, dy: 1, dx: 2 }];
        let out = to_vec(apply(&chain, x.clone(), None));
        let padded = to_vec(Drawn::Pad(2, Fill::Constant(0.5)).apply(x.clone()));
        let want: Vec<f32> = (1..6).flat_map(|i| (2..8).map(move |j| (i, j))).map(|(i, j)| padded[i * 9 + j]).collect();
        assert_eq!(out, want);
        let there_and_back = to_vec(apply(&[Drawn::Scale(2.0), Drawn::Scale(0.5)], x.clone(), None));
        // Two half-pixel scalings by 2 and 1/2 compose to the identity map.
        assert_eq!(there_and_back, to_vec(x));
    }

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        let x = ramp(1, 4);
        assert_eq!(to_vec(Drawn::Pad(2, Fill::Reflect).apply(x).slice([0..1, 0..1, 2..3, 0..8])), vec![2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
    }

    #[test]
    fn resize_matches_half_pixel_bilinear() {
        // 2x upsampling of [0, 1, 2, 3] with centres aligned: 0, .25, .75, 1.25, 1.75, 2.25, 2.75, 3 (edges clamped).
        let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [1, 1, 1, 4]), &Device::flex());
        let out = to_vec(resize(x, [1, 8]));
        let want = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
    }

    #[test]
    fn zoom_magnifies_about_the_centre() {
        // 2x zoom of a 1x5 ramp 0..4 about its centre (2): 1, 1.5, 2, 2.5, 3.
        let out = to_vec(Drawn::Scale(2.0).apply(ramp(1, 5)));
        assert_eq!(out, vec![1.0, 1.5, 2.0, 2.5, 3.0]);
    }

    #[test]
    fn rotation_by_90_degrees_turns_the_image() {
        let x = ramp(4, 4);
        let out = to_vec(Drawn::Rotate(90.0).apply(x));
        // Counter-clockwise on screen (y down): the top row becomes the left column, reversed.
        let col0: Vec<f32> = (0..4).map(|i| out[i * 4]).collect();
        assert_eq!(col0.iter().map(|v| v.round()).collect::<Vec<_>>(), vec![3.0, 2.0, 1.0, 0.0], "{out:?}");
    }
}
