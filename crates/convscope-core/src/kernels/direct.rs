//! A regular convolution of few input channels (a network's first layer: 3 colours or one
//! grey channel), computed directly, as XNNPACK does for its first layers: no im2col matrix,
//! no zero-filled buffer the size of the output. The input is copied once, padded and
//! channels-last; each output pixel's channels are computed [`LANES`] at a time, every input
//! value broadcast against a vector of weights, 4 pixels' accumulators kept in registers
//! across the `c * kh * kw` taps; the bias starts the sum and the clamp is applied at the
//! store. Blocks of output channels run in parallel, each writing its own planes.

use super::{
    Clamp,
    blocked::weights,
    depthwise::{Geometry, LANES, clamp_row, madd_block},
    planes, planes_new,
};

/// Output pixels of a row computed together.
const PIXELS: usize = 4;

/// Whether a convolution of `c` input channels (one group, undilated) runs here: few enough
/// that a GEMM's im2col matrix would be mostly copying.
pub fn suits(c: usize, kernel: [usize; 2]) -> bool {
    c <= 4 && kernel != [1, 1]
}

/// The shape of one call.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub o: usize,
    /// Input plane size `[h, w]`.
    pub input: [usize; 2],
}

/// One block of [`LANES`] output channels (`out` holds its `nc` planes), from the padded
/// channels-last input `xp`; `wb` holds the block's weights as `[c * kh * kw][LANES]`, then
/// its biases.
#[allow(clippy::extra_unused_type_parameters, clippy::too_many_arguments)]
#[macerator::with_simd]
fn block<S: macerator::Simd>(out: &mut [f32], nc: usize, xp: &[f32], wb: &[f32], s: Shape, g: &Geometry, wp: usize, clamp: Option<Clamp>) {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let taps = s.c * kh * kw;
    let bias: &[f32; LANES] = wb[taps * LANES..][..LANES].try_into().expect("whole lanes");
    // One output row, channels-last, then copied out plane by plane: each plane's row is
    // written whole and in order, instead of every pixel writing one value to each of
    // `LANES` planes.
    let mut row = vec![0.0; ow * LANES];
    // Where each tap reads, from its pixel's window's first value, in the weights' order
    // (`wb`'s rows): one flat loop over the taps, no index arithmetic inside it.
    let offsets: Vec<usize> = (0..s.c).flat_map(|ci| (0..kh).flat_map(move |i| (0..kw).map(move |j| (i * wp + j) * s.c + ci))).collect();
    let span = offsets.iter().max().map_or(0, |m| m + 1);
    let weights = &wb[..taps * LANES];
    for r in 0..oh {
        for first in (0..ow).step_by(PIXELS) {
            let n = PIXELS.min(ow - first);
            // Pixels past the row's end repeat its last pixel: computed, not stored.
            let windows: [&[f32]; PIXELS] = std::array::from_fn(|p| &xp[(r * sh * wp + (first + p.min(n - 1)) * sw) * s.c..][..span]);
            let mut acc = [*bias; PIXELS];
            for (wv, &at) in weights.chunks_exact(LANES).zip(&offsets) {
                let wv: &[f32; LANES] = wv.try_into().expect("whole lanes");
                for (a, x) in acc.iter_mut().zip(&windows) {
                    madd_block::<S>(a, x[at], wv);
                }
            }
            for (p, a) in acc.iter_mut().enumerate().take(n) {
                clamp_row(a, clamp);
                row[(first + p) * LANES..][..LANES].copy_from_slice(a);
            }
        }
        for (k, plane) in out.chunks_exact_mut(oh * ow).take(nc).enumerate() {
            for (d, px) in plane[r * ow..][..ow].iter_mut().zip(row.chunks_exact(LANES)) {
                *d = px[k];
            }
        }
    }
}

/// The convolution: `x` is `[n, c, h, w]`, `w` is `[o, c, kh, kw]`, `bias` is `[o]`; returns
/// `[n, o, oh, ow]`, clamped to `clamp` when given.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: Shape, g: &Geometry, clamp: Option<Clamp>) -> Vec<f32> {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let [h, wd] = s.input;
    let [kh, kw] = g.kernel;
    let (top, left) = (g.padding[0][0], g.padding[1][0]);
    let (hp, wp) = (h + top + g.padding[0][1], wd + left + g.padding[1][1]);
    let taps = s.c * kh * kw;
    let wb = weights(w, bias, s.o, taps);
    let mut xp = vec![0.0; hp * wp * s.c];
    // Image `img` channels-last into `xp`, a padded row per task (in order, a serial pass over
    // the whole input that the second thread waited for).
    let gather = |xp: &mut [f32], img: usize| {
        let image = &x[img * s.c * h * wd..][..s.c * h * wd];
        planes(xp, wp * s.c, |pr, row| {
            let Some(r) = pr.checked_sub(top).filter(|&r| r < h) else { return };
            for (ci, plane) in image.chunks_exact(h * wd).enumerate() {
                for (c, &v) in plane[r * wd..][..wd].iter().enumerate() {
                    row[(left + c) * s.c + ci] = v;
                }
            }
        });
    };
    let compute = |xp: &[f32], b: usize, planes: &mut [f32]| {
        let nc = planes.len() / (oh * ow);
        block(planes, nc, xp, &wb[b], s, g, wp, clamp);
    };
    if s.n == 1 {
        // One image (a forward pass): its output zeroed block by block by the threads that
        // compute it, not first in one serial pass.
        gather(&mut xp, 0);
        return planes_new(s.o * oh * ow, LANES * oh * ow, |_, b, planes| compute(&xp, b, planes));
    }
    let mut out = vec![0.0; s.n * s.o * oh * ow];
    for (img, o) in out.chunks_exact_mut(s.o * oh * ow).enumerate() {
        gather(&mut xp, img);
        planes(o, LANES * oh * ow, |b, planes| compute(&xp, b, planes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, term by term.
    fn naive(x: &[f32], w: &[f32], b: &[f32], s: Shape, g: &Geometry) -> Vec<f32> {
        let [oh, ow] = g.output(s.input).unwrap();
        let [kh, kw] = g.kernel;
        let mut out = vec![0.0; s.n * s.o * oh * ow];
        for n in 0..s.n {
            for o in 0..s.o {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = b[o];
                        for c in 0..s.c {
                            for a in 0..kh {
                                for e in 0..kw {
                                    let (y, xx) =
                                        ((i * g.stride[0] + a) as isize - g.padding[0][0] as isize, (j * g.stride[1] + e) as isize - g.padding[1][0] as isize);
                                    if y >= 0 && xx >= 0 && (y as usize) < s.input[0] && (xx as usize) < s.input[1] {
                                        acc += w[((o * s.c + c) * kh + a) * kw + e] * x[((n * s.c + c) * s.input[0] + y as usize) * s.input[1] + xx as usize];
                                    }
                                }
                            }
                        }
                        out[((n * s.o + o) * oh + i) * ow + j] = acc;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32 - 0.5).collect()
    }

    #[test]
    fn forward_is_the_definition() {
        // EfficientNet's stem (TF-same at stride 2), a grey 5x5, odd sizes and channel counts
        // that fill a block of lanes in part, a batch of two.
        for (s, kernel, stride, padding) in [
            (Shape { n: 1, c: 3, o: 32, input: [17, 19] }, [3, 3], [2, 2], [[0, 1], [0, 1]]),
            (Shape { n: 2, c: 1, o: 6, input: [12, 9] }, [5, 5], [1, 1], [[2, 2], [2, 2]]),
            (Shape { n: 1, c: 4, o: 20, input: [8, 23] }, [3, 5], [1, 2], [[0, 2], [2, 1]]),
        ] {
            let g = Geometry { kernel, stride, padding };
            let x = values(s.n * s.c * s.input[0] * s.input[1], 1);
            let w = values(s.o * s.c * kernel[0] * kernel[1], 2);
            let b = values(s.o, 3);
            let want = naive(&x, &w, &b, s, &g);
            let got = forward(&x, &w, Some(&b), s, &g, None);
            assert_eq!(got.len(), want.len());
            for (a, e) in got.iter().zip(&want) {
                assert!((a - e).abs() < 1e-5, "{s:?} {g:?}: {a} vs {e}");
            }
            let clamped = forward(&x, &w, Some(&b), s, &g, Some(Clamp { min: 0.0, max: 0.2 }));
            for (a, e) in clamped.iter().zip(&got) {
                assert_eq!(*a, e.clamp(0.0, 0.2));
            }
            assert!(got.iter().any(|&v| v > 0.2) && got.iter().any(|&v| v < 0.0), "the clamp must cut both sides");
        }
    }
}
