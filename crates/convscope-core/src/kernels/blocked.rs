//! Depthwise convolution on blocks of channels: the planes of [`LANES`] channels copied into
//! one channels-last buffer (`[h][w][LANES]`, padding made explicit), so that one vector holds
//! the same pixel of every channel of the block. Every tap of every pixel is then a whole
//! vector, whatever the plane's width and stride: no lanes wasted on a 7- or 14-pixel row, no
//! phases, no bounds tests. The late layers of a mobile network (many channels of small
//! planes) run here; wide planes stay on [`super::depthwise`]'s row kernels.

use super::{
    Clamp,
    depthwise::{Geometry, LANES, Planes, clamp_row, madd_lanes},
    planes_with,
};

/// Output pixels of a row computed together: their accumulators stay in registers across
/// every tap.
const PIXELS: usize = 4;

/// Whether the blocked kernels are the faster choice for planes of `input`'s size: rows of at
/// most one block of lanes, which the row kernels would fill in part (measured on
/// EfficientNet-Lite0: twice as fast on its 14- and 7-pixel planes, slower from 28 pixels on,
/// where copying into blocks costs more than the lanes it saves).
pub fn suits(input: [usize; 2]) -> bool {
    input[1] <= LANES
}

/// `planes` (`nc` planes of `input`'s size) into `buf` as `[hp][wp][LANES]` with `pad`'s zero
/// padding; channels past `nc` are zero.
fn gather(buf: &mut Vec<f32>, planes: &[f32], nc: usize, input: [usize; 2], pad: [[usize; 2]; 2]) -> [usize; 2] {
    gather_at(buf, 0, planes, nc, input, pad)
}

/// [`gather`] into `buf` from `from` on (what is before it is kept).
fn gather_at(buf: &mut Vec<f32>, from: usize, planes: &[f32], nc: usize, input: [usize; 2], pad: [[usize; 2]; 2]) -> [usize; 2] {
    let [h, w] = input;
    let (hp, wp) = (h + pad[0][0] + pad[0][1], w + pad[1][0] + pad[1][1]);
    buf.truncate(from);
    buf.resize(from + hp * wp * LANES, 0.0);
    let buf = &mut buf[from..];
    if nc == LANES && w <= LANES {
        // A whole block of planes of rows that fit a block of lanes (every block of a layer
        // but its last): each row of the block's planes read as a 16 x 16 tile, transposed
        // in registers, and written a pixel vector at a time.
        for r in 0..h {
            let mut tile = [[0.0f32; LANES]; LANES];
            for (k, t) in tile.iter_mut().enumerate() {
                // A whole block read where the planes hold one past the row (its lanes past
                // `w` are never transposed out); the short copy only at the planes' end.
                let at = (k * h + r) * w;
                match planes.get(at..at + LANES) {
                    Some(block) => t.copy_from_slice(block),
                    None => super::depthwise::copy_short(&mut t[..w], &planes[at..at + w]),
                }
            }
            let at = ((r + pad[0][0]) * wp + pad[1][0]) * LANES;
            let dst: &mut [[f32; LANES]] = buf[at..at + w * LANES].as_chunks_mut::<LANES>().0;
            for (c, d) in dst.iter_mut().enumerate() {
                *d = std::array::from_fn(|k| tile[k][c]);
            }
        }
        return [hp, wp];
    }
    for (k, plane) in planes.chunks_exact(h * w).take(nc).enumerate() {
        for (r, row) in plane.chunks_exact(w).enumerate() {
            let at = ((r + pad[0][0]) * wp + pad[1][0]) * LANES + k;
            for (c, &v) in row.iter().enumerate() {
                buf[at + c * LANES] = v;
            }
        }
    }
    [hp, wp]
}

/// The kernels of `channels` channels (`taps` weights each) in blocks of [`LANES`]: per block
/// `[taps][LANES]`, then its biases as one more row (zero past the last channel). Packed once
/// per call, for every image.
pub(super) fn weights(w: &[f32], bias: Option<&[f32]>, channels: usize, taps: usize) -> Vec<Vec<f32>> {
    (0..channels.div_ceil(LANES))
        .map(|b| {
            let mut out = vec![0.0; (taps + 1) * LANES];
            block_weights(&mut out, w, bias, b, channels, taps);
            out
        })
        .collect()
}

/// Block `b` of [`weights`] into `out` (`(taps + 1) * LANES` zeros).
fn block_weights(out: &mut [f32], w: &[f32], bias: Option<&[f32]>, b: usize, channels: usize, taps: usize) {
    for k in 0..LANES.min(channels - b * LANES) {
        let ch = b * LANES + k;
        for (t, &v) in w[ch * taps..][..taps].iter().enumerate() {
            out[t * LANES + k] = v;
        }
        out[taps * LANES + k] = bias.map_or(0.0, |b| b[ch]);
    }
}

/// Where each tap of a `kernel` reads in a padded channels-last buffer of `wp` pixels a row,
/// from its pixel's window's first vector, in the packed weights' order (see [`weights`]);
/// and the window's length. The kernels loop over the taps once, with no index arithmetic
/// inside the loop.
/// The offsets are written into `offsets` (this thread's buffer of indices: a vector per
/// block was an allocation per block, made by both threads under the one allocator's lock).
fn tap_offsets(offsets: &mut Vec<usize>, [kh, kw]: [usize; 2], wp: usize) -> usize {
    offsets.clear();
    offsets.extend((0..kh).flat_map(|i| (0..kw).map(move |j| (i * wp + j) * LANES)));
    offsets.last().map_or(0, |m| m + LANES)
}

/// One block's output: `out` holds its `nc` planes; `block` is the block's index and the layer's
/// channels, whose kernels `w` and biases `bias` the block packs for itself.
#[allow(clippy::extra_unused_type_parameters, clippy::too_many_arguments)]
#[macerator::with_simd]
fn forward_block<'a, S: macerator::Simd>(
    out: &mut [f32],
    x: &[f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    block: [usize; 2],
    nc: usize,
    g: &Geometry,
    input: [usize; 2],
    clamp: Option<Clamp>,
    scratch: &mut Vec<f32>,
    offsets: &mut Vec<usize>,
) {
    let [oh, ow] = g.output(input).expect("checked by the caller");
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    // The scratch buffer: the block's weights (packed here, by the thread that runs the
    // block: packing every block first was a serial pass), its input channels-last, then its
    // output.
    let wlen = (kh * kw + 1) * LANES;
    scratch.clear();
    scratch.resize(wlen, 0.0);
    let [b, channels] = block;
    block_weights(scratch, w, bias, b, channels, kh * kw);
    let [hp, wp] = gather_at(scratch, wlen, x, nc, input, g.padding);
    let split = wlen + hp * wp * LANES;
    scratch.resize(split + oh * ow * LANES, 0.0);
    let (head, yb) = scratch.split_at_mut(split);
    let (wb, xb) = head.split_at(wlen);
    let bias: &[f32; LANES] = wb[kh * kw * LANES..].try_into().expect("one bias per lane");
    let span = tap_offsets(offsets, g.kernel, wp);
    let weights = &wb[..kh * kw * LANES];
    for r in 0..oh {
        for first in (0..ow).step_by(PIXELS) {
            let n = PIXELS.min(ow - first);
            // Pixels past the row's end repeat its last pixel: computed, not stored.
            let windows: [&[f32]; PIXELS] = std::array::from_fn(|p| &xb[(r * sh * wp + (first + p.min(n - 1)) * sw) * LANES..][..span]);
            let mut acc = [*bias; PIXELS];
            for (wv, &at) in weights.chunks_exact(LANES).zip(offsets.iter()) {
                let wv: &[f32; LANES] = wv.try_into().expect("whole lanes");
                for (a, x) in acc.iter_mut().zip(&windows) {
                    let xv: &[f32; LANES] = x[at..at + LANES].try_into().expect("whole lanes");
                    madd_lanes::<S>(a, wv, xv);
                }
            }
            for (a, y) in acc.iter_mut().zip(yb[(r * ow + first) * LANES..].chunks_exact_mut(LANES)).take(n) {
                clamp_row(a, clamp);
                y.copy_from_slice(a);
            }
        }
    }
    scatter(out, yb, nc, oh * ow);
}

/// The inverse of [`gather`] without padding: `buf` (`[len][LANES]`) out to `nc` planes of `len`.
fn scatter(planes: &mut [f32], buf: &[f32], nc: usize, len: usize) {
    for (k, plane) in planes.chunks_exact_mut(len).take(nc).enumerate() {
        for (d, px) in plane.iter_mut().zip(buf.chunks_exact(LANES)) {
            *d = px[k];
        }
    }
}

/// One block's input gradient: `dy` holds its `nc` output-gradient planes; each output pixel
/// adds its taps into a padded channels-last buffer, which is then copied out unpadded.
#[allow(clippy::extra_unused_type_parameters, clippy::too_many_arguments)]
#[macerator::with_simd]
fn input_grad_block<S: macerator::Simd>(
    dx: &mut [f32],
    dy: &[f32],
    wb: &[f32],
    nc: usize,
    g: &Geometry,
    input: [usize; 2],
    scratch: &mut Vec<f32>,
    offsets: &mut Vec<usize>,
) {
    let [oh, ow] = g.output(input).expect("checked by the caller");
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [h, w] = input;
    let (top, left) = (g.padding[0][0], g.padding[1][0]);
    let wp = w + left + g.padding[1][1];
    let hp = h + top + g.padding[0][1];
    // The output gradient, channels-last, then the padded input gradient after it.
    gather(scratch, dy, nc, [oh, ow], [[0, 0], [0, 0]]);
    let split = oh * ow * LANES;
    scratch.resize(split + hp * wp * LANES, 0.0);
    let (dyb, dxb) = scratch.split_at_mut(split);
    let span = tap_offsets(offsets, g.kernel, wp);
    let weights = &wb[..kh * kw * LANES];
    for r in 0..oh {
        for c in 0..ow {
            let gv: &[f32; LANES] = dyb[(r * ow + c) * LANES..][..LANES].try_into().expect("whole lanes");
            let window = &mut dxb[(r * sh * wp + c * sw) * LANES..][..span];
            for (wv, &at) in weights.chunks_exact(LANES).zip(offsets.iter()) {
                let wv: &[f32; LANES] = wv.try_into().expect("whole lanes");
                let d: &mut [f32; LANES] = (&mut window[at..at + LANES]).try_into().expect("whole lanes");
                madd_lanes::<S>(d, wv, gv);
            }
        }
    }
    for k in 0..nc {
        for r in 0..h {
            let src = ((r + top) * wp + left) * LANES + k;
            for (c, d) in dx[(k * h + r) * w..][..w].iter_mut().enumerate() {
                *d = dxb[src + c * LANES];
            }
        }
    }
}

/// [`super::depthwise::forward`] on blocks of channels.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: Planes, g: &Geometry, clamp: Option<Clamp>) -> Vec<f32> {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let plane = s.input[0] * s.input[1];
    let run = |scratch: &mut Vec<f32>, img: usize, b: usize, o: &mut [f32]| {
        let (first, nc) = (b * LANES, o.len() / (oh * ow));
        let xb = &x[(img * s.c + first) * plane..][..nc * plane];
        super::with_indices(|offsets| forward_block(o, xb, w, bias, [b, s.c], nc, g, s.input, clamp, scratch, offsets));
    };
    let blocks = s.c.div_ceil(LANES);
    if s.n == 1 || s.c.is_multiple_of(LANES) {
        // No block straddles two images: the output zeroed block by block by the threads
        // that compute it, not first in one serial pass.
        return super::planes_new(s.n * s.c * oh * ow, LANES * oh * ow, |scratch, i, o| run(scratch, i / blocks, i % blocks, o));
    }
    let mut out = vec![0.0; s.n * s.c * oh * ow];
    for (img, o) in out.chunks_exact_mut(s.c * oh * ow).enumerate() {
        planes_with(o, LANES * oh * ow, |scratch, b, o| run(scratch, img, b, o));
    }
    out
}

/// [`super::depthwise::input_grad`] on blocks of channels.
pub fn input_grad(dy: &[f32], w: &[f32], s: Planes, g: &Geometry) -> Vec<f32> {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let taps = g.kernel[0] * g.kernel[1];
    let plane = s.input[0] * s.input[1];
    let wb = weights(w, None, s.c, taps);
    let mut dx = vec![0.0; s.n * s.c * plane];
    for (img, d) in dx.chunks_exact_mut(s.c * plane).enumerate() {
        planes_with(d, LANES * plane, |scratch, b, d| {
            let (first, nc) = (b * LANES, d.len() / plane);
            let dyb = &dy[(img * s.c + first) * oh * ow..][..nc * oh * ow];
            super::with_indices(|offsets| input_grad_block(d, dyb, &wb[b], nc, g, s.input, scratch, offsets));
        });
    }
    dx
}
