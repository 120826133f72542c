//! Depthwise 2-D convolution on NCHW planes of `f32`: the forward pass with the bias and the
//! clamp applied as each output row is stored, the input gradient as a direct kernel (the
//! forward kernel itself, the kernel flipped, over the output gradient spread out by the
//! stride), and the weight and bias gradients in one pass over the planes.
//!
//! Every kernel first copies a plane once into its *phase plane*: the input with its padding
//! made explicit, each padded row split into `stride` interleaved phases. In that layout every
//! tap of the kernel, for every stride, reads a contiguous run of one phase row, so the inner
//! loops carry no bounds or padding tests and vectorize: one source, compiled for AVX2, AVX-512
//! or SIMD128 by `macerator` and chosen at run time.

use super::{Clamp, clamp_value, planes, planes_new, planes_with};

/// Where a depthwise kernel reads: its size, strides and the padding on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding `[[top, bottom], [left, right]]`.
    pub padding: [[usize; 2]; 2],
}

impl Geometry {
    /// The padded input's size `[h, w]`.
    fn padded(&self, [h, w]: [usize; 2]) -> [usize; 2] {
        [h + self.padding[0][0] + self.padding[0][1], w + self.padding[1][0] + self.padding[1][1]]
    }

    /// The output's size for an input of `[h, w]`, `None` when the kernel does not fit.
    pub fn output(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        let [hp, wp] = self.padded(input);
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        (hp >= kh && wp >= kw && sh > 0 && sw > 0).then(|| [(hp - kh) / sh + 1, (wp - kw) / sw + 1])
    }

    /// The geometry under which the input gradient is a forward pass, at stride 1 and with the
    /// kernel flipped, over the output gradient *spread out* by the stride (`stride - 1` zeros
    /// between neighbours, `(o - 1) * stride + 1` values a side; at stride 1, the gradient
    /// itself). Each side is padded `k - 1 - before` before and `n + before - spread` after, so
    /// an `[h, w]` input's gradient comes out `[h, w]`. Returns it with the spread size; `None`
    /// where a side is padded before by the kernel's size or more, or after so far that the
    /// last output's window lies wholly in the padding.
    fn transposed(&self, input: [usize; 2]) -> Option<(Geometry, [usize; 2])> {
        let out = self.output(input)?;
        let side = |d: usize| -> Option<([usize; 2], usize)> {
            let spread = (out[d] - 1) * self.stride[d] + 1;
            let before = self.padding[d][0];
            Some(([self.kernel[d].checked_sub(1 + before)?, (input[d] + before).checked_sub(spread)?], spread))
        };
        let ((ph, sh), (pw, sw)) = (side(0)?, side(1)?);
        Some((Geometry { kernel: self.kernel, stride: [1, 1], padding: [ph, pw] }, [sh, sw]))
    }

    /// Length of one phase row: `ceil(padded width / stride)`.
    fn phase_len(&self, input: [usize; 2]) -> usize {
        self.padded(input)[1].div_ceil(self.stride[1])
    }
}

/// A padded plane with each row split into `stride` phases: element `(r, c)` of the padded
/// plane is at `(r * stride + c % stride) * len + c / stride`.
struct Phases {
    data: Vec<f32>,
    stride: usize,
    len: usize,
}

/// `row` padded by `left` zeros into `dst` (already zero), split into `s` phases of `len`:
/// padded column `c` lands in phase `c % s` at `c / s`.
#[inline(always)]
fn split_row(dst: &mut [f32], row: &[f32], left: usize, s: usize, len: usize) {
    if s == 1 {
        copy_short(&mut dst[left..left + row.len()], row);
        return;
    }
    if s == 2 && !row.is_empty() {
        // The stride of every strided layer of a mobile network, as one pass over the row's
        // pairs that the compiler turns into vector loads and shuffles (the general loop below
        // reads one element at a time, and made a stride-2 layer's copy cost 10x its
        // multiply-adds).
        let (even, odd) = dst.split_at_mut(len);
        let (row, at) = if left % 2 == 1 {
            // Column `left` is odd: the first element opens the odd phase.
            odd[left / 2] = row[0];
            (&row[1..], left.div_ceil(2))
        } else {
            (row, left / 2)
        };
        let pairs = row.chunks_exact(2);
        if let [last] = pairs.remainder() {
            even[at + row.len() / 2] = *last;
        }
        for ((e, o), p) in even[at..].iter_mut().zip(&mut odd[at..]).zip(pairs) {
            *e = p[0];
            *o = p[1];
        }
        return;
    }
    for phase in 0..s {
        let first = (phase + s - left % s) % s;
        let out = &mut dst[phase * len + (left + first) / s..(phase + 1) * len];
        for (d, &v) in out.iter_mut().zip(row.iter().skip(first).step_by(s)) {
            *d = v;
        }
    }
}

impl Phases {
    fn zeros(g: &Geometry, input: [usize; 2]) -> Self {
        let (stride, len) = (g.stride[1], g.phase_len(input));
        // The slack lets the last block of a row be read whole (see `accumulate`).
        Phases { data: vec![0.0; g.padded(input)[0] * stride * len + LANES], stride, len }
    }

    /// The plane `x` (`input` sized) with `g`'s padding, split into phases.
    fn of(x: &[f32], g: &Geometry, input: [usize; 2]) -> Self {
        let mut p = Self::zeros(g, input);
        let [top, left] = [g.padding[0][0], g.padding[1][0]];
        let (s, len) = (p.stride, p.len);
        for (i, row) in x.chunks_exact(input[1]).enumerate() {
            split_row(&mut p.data[(top + i) * s * len..][..s * len], row, left, s, len);
        }
        p
    }

    /// Start of the run that tap column `kw` of padded row `r` reads for output column 0.
    fn tap(&self, r: usize, kw: usize) -> usize {
        (r * self.stride + kw % self.stride) * self.len + kw / self.stride
    }
}

/// `dst = src` for the short runs of a plane's row, inlined as whole vectors and a tail, where
/// `copy_from_slice` calls `memmove`: a call per row of a 28-pixel plane was a quarter of a
/// depthwise layer's time.
#[inline(always)]
pub(super) fn copy_short(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copies of one length");
    let (whole, tail) = dst.as_chunks_mut::<LANES>();
    let (from, rest) = src.as_chunks::<LANES>();
    for (d, s) in whole.iter_mut().zip(from) {
        *d = *s;
    }
    // The tail in pieces of 8, 4, 2 and 1 values, each a fixed-size copy (a vector move): a
    // loop over the tail's values was one compare and one scalar store each, and is turned
    // back into a `memmove` call when its count is not fixed.
    copy_tail(tail, rest);
}

/// `dst = src` for fewer than [`LANES`] values, in fixed-size pieces.
#[inline(always)]
fn copy_tail(dst: &mut [f32], src: &[f32]) {
    let mut at = 0;
    macro_rules! piece {
        ($n:literal) => {
            if dst.len() - at >= $n {
                let d: &mut [f32; $n] = (&mut dst[at..at + $n]).try_into().expect("a piece");
                *d = src[at..at + $n].try_into().expect("a piece");
                at += $n;
            }
        };
    }
    piece!(8);
    piece!(4);
    piece!(2);
    piece!(1);
    debug_assert_eq!(at, dst.len(), "a tail of fewer than 16 values");
}

/// Lanes of one block of [`accumulate`]: two AVX2 registers, one AVX-512 register.
pub(super) const LANES: usize = 16;

/// `out[j] = init + Σ w[t] * src[t][j]`: a block of [`LANES`] outputs at a time stays in
/// registers across every tap (fixed-size arrays, so the compiler emits vector operations for
/// whichever instruction set the caller is compiled for), then is stored once. Every source
/// holds whole blocks (`out.len()` rounded up to [`LANES`]: the buffers carry that much
/// slack), so the last, partial block is computed the same way and stored in part.
#[inline(always)]
fn accumulate(out: &mut [f32], w: &[f32], src: &[&[f32]], init: f32) {
    for (c, o) in out.chunks_mut(LANES).enumerate() {
        let at = c * LANES;
        let mut acc = [init; LANES];
        for (&wt, s) in w.iter().zip(src) {
            let s: &[f32; LANES] = s[at..at + LANES].try_into().expect("sources hold whole blocks");
            for l in 0..LANES {
                acc[l] += wt * s[l];
            }
        }
        o.copy_from_slice(&acc[..o.len()]);
    }
}

/// `row` clamped in place, when there is a clamp (a NaN stays a NaN).
#[inline(always)]
pub(super) fn clamp_row(row: &mut [f32], clamp: Option<Clamp>) {
    if let Some(Clamp { min, max }) = clamp {
        for v in row {
            *v = clamp_value(*v, min, max);
        }
    }
}

/// Output rows computed together: their `ROWS x LANES` accumulators stay in registers across
/// every tap, which gives the multiply-adds independent chains (one chain per block would wait
/// on each add's latency, and a narrow plane has only one block per row).
const ROWS: usize = 4;

/// `a * b + c`: one fused instruction where the backend has it, two operations where a fused
/// multiply-add would be a slow library call (wasm, pre-AVX2 x86).
#[inline(always)]
pub(super) fn madd<S: macerator::Simd>(a: f32, b: f32, c: f32) -> f32 {
    if <f32 as macerator::VFma>::is_accelerated::<S>() { a.mul_add(b, c) } else { a * b + c }
}

/// `acc += w * src`, lane by lane.
#[inline(always)]
pub(super) fn madd_block<S: macerator::Simd>(acc: &mut [f32; LANES], w: f32, src: &[f32; LANES]) {
    for l in 0..LANES {
        acc[l] = madd::<S>(w, src[l], acc[l]);
    }
}

/// `acc += w * src`, lane by lane, a weight for each lane.
#[inline(always)]
pub(super) fn madd_lanes<S: macerator::Simd>(acc: &mut [f32; LANES], w: &[f32; LANES], src: &[f32; LANES]) {
    for l in 0..LANES {
        acc[l] = madd::<S>(w[l], src[l], acc[l]);
    }
}

/// The padded rows of one input plane that the current output rows read, each split into
/// phases as in [`Phases`]: a ring of slots in a scratch buffer, filled as the rows come into
/// reach, so the plane is never copied whole (nor zero-filled) and what is read stays in cache.
struct Window<'a> {
    data: &'a mut Vec<f32>,
    /// Padded row held by each slot.
    held: &'a mut [usize],
    slots: usize,
    /// Length of a slot: `stride` phases of `len`, plus a block of slack (see [`accumulate`]).
    slot: usize,
    len: usize,
}

impl<'a> Window<'a> {
    /// Slots of a window: the padded rows that [`ROWS`] output rows read, rounded up to a
    /// power of two, so that a row's slot is a mask of its index (a division by any count
    /// was a `div` instruction for each kernel row of every [`ROWS`] output rows).
    fn slots(g: &Geometry) -> usize {
        ((ROWS - 1) * g.stride[0] + g.kernel[0]).next_power_of_two()
    }

    /// An empty window in `data`, `held` its slots' rows ([`Window::slots`] of them).
    fn new(data: &'a mut Vec<f32>, held: &'a mut [usize], g: &Geometry, input: [usize; 2]) -> Self {
        let len = g.phase_len(input);
        let slot = g.stride[1] * len + LANES;
        let slots = Self::slots(g);
        data.clear();
        data.resize(slots * slot, 0.0);
        held.fill(usize::MAX);
        Window { data, held, slots, slot, len }
    }

    /// Where padded row `r` starts, copying it in from `x` first if its slot holds another.
    /// Inlined into the kernel that calls it, so the copy is compiled for its vectors too.
    #[inline(always)]
    fn row(&mut self, r: usize, x: &[f32], g: &Geometry, input: [usize; 2]) -> usize {
        let k = r & (self.slots - 1);
        let at = k * self.slot;
        if self.held[k] != r {
            self.held[k] = r;
            let dst = &mut self.data[at..at + self.slot];
            let (top, left, s) = (g.padding[0][0], g.padding[1][0], g.stride[1]);
            if r >= top && r < top + input[0] {
                // Every image row writes the same places of a slot, and the rest of it (the
                // padding and the slack) is zero from `new` or a padding row: not filled again.
                split_row(dst, &x[(r - top) * input[1]..][..input[1]], left, s, self.len);
            } else {
                dst.fill(0.0);
            }
        }
        at
    }
}

/// Output rows `band` of one plane into `out` (those rows only): `x` is the input plane, `w`
/// the channel's `kh * kw` kernel; `scratch` holds the [`Window`]. `narrow` takes one block of
/// columns at a time whatever the vectors (the path of AVX2 and SIMD128, for the tests on a
/// machine with AVX-512). `idx` is a buffer for its indices.
#[allow(clippy::extra_unused_type_parameters, clippy::too_many_arguments)]
#[macerator::with_simd]
fn forward_plane<S: macerator::Simd>(
    out: &mut [f32],
    band: std::ops::Range<usize>,
    x: &[f32],
    w: &[f32],
    bias: f32,
    g: &Geometry,
    input: [usize; 2],
    clamp: Option<Clamp>,
    narrow: bool,
    scratch: &mut Vec<f32>,
    idx: &mut Vec<usize>,
) {
    let [oh, ow] = g.output(input).expect("checked by the caller");
    let [kh, kw] = g.kernel;
    let sh = g.stride[0];
    // The window's slots, the taps' offsets and the rows' bases, in the caller's buffer of
    // indices: three vectors per plane were three allocations per plane, which both threads
    // made under the one allocator's lock (the native tool keeps a single heap).
    idx.clear();
    idx.resize(Window::slots(g) + kw + kh * ROWS, 0);
    let (held, rest) = idx.split_at_mut(Window::slots(g));
    let (taps, base) = rest.split_at_mut(kw);
    let base: &mut [[usize; ROWS]] = base.as_chunks_mut::<ROWS>().0;
    let mut win = Window::new(scratch, held, g, input);
    for (j, t) in taps.iter_mut().enumerate() {
        *t = (j % g.stride[1]) * win.len + j / g.stride[1];
    }
    let taps = &*taps;
    let max_tap = taps.iter().max().copied().unwrap_or(0);
    let (lo, hi) = Clamp::bounds(clamp);
    // Two blocks of columns at a time where the row has them and the registers hold them (a
    // block is one AVX-512 register; two or four of AVX2's or SIMD128's, which would spill):
    // twice the independent chains of multiply-adds. One block at a time otherwise, and for
    // the row's last block.
    let wide = !narrow && S::lanes32() >= LANES;
    debug_assert!(band.end <= oh && out.len() == band.len() * ow, "a band of the plane's rows");
    for first in band.clone().step_by(ROWS) {
        let rows = ROWS.min(band.end - first);
        let at = first - band.start;
        // Rows past the plane's end repeat its last row: computed, not stored.
        for (i, b) in base.iter_mut().enumerate() {
            for (r, b) in b.iter_mut().enumerate() {
                *b = win.row((first + r.min(rows - 1)) * sh + i, x, g, input);
            }
        }
        let data = &win.data[..];
        // The furthest start of a block's first read (column 0): the same for every block
        // of these rows, so found once here, not by each block.
        let reach = base.iter().flatten().max().copied().unwrap_or(0) + max_tap;
        let mut c = 0;
        while c < ow {
            if wide && c + LANES < ow {
                row_blocks::<S, 2>(out, data, w, kw, base, taps, reach, bias, [at, rows, c], ow, lo, hi);
                c += 2 * LANES;
            } else {
                row_blocks::<S, 1>(out, data, w, kw, base, taps, reach, bias, [at, rows, c], ow, lo, hi);
                c += LANES;
            }
        }
    }
}

/// Rows `first..first + rows` of `out` (at most [`ROWS`]), columns `c..` (`NV` blocks, the
/// last cut at `ow`), from the window `data` whose rows for these outputs start at `base`
/// (kernel row by output row) and whose kernel columns start at `taps` past them; `reach` is
/// the largest of `base` plus the largest of `taps`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_blocks<S: macerator::Simd, const NV: usize>(
    out: &mut [f32],
    data: &[f32],
    w: &[f32],
    kw: usize,
    base: &[[usize; ROWS]],
    taps: &[usize],
    reach: usize,
    bias: f32,
    [first, rows, c]: [usize; 3],
    ow: usize,
    lo: f32,
    hi: f32,
) {
    // Every read below lies within the window: a row's slot holds its phases and a block of
    // slack past them, and a block starts before `ow`. Checked once here, so that the loop
    // over the taps has no exit but its end (a bounds check's exit kept the accumulators in
    // memory).
    debug_assert_eq!(reach, base.iter().flatten().max().copied().unwrap_or(0) + taps.iter().max().copied().unwrap_or(0));
    let last = reach + c + (NV - 1) * LANES;
    assert!(last + LANES <= data.len(), "a tap reads past the window");
    let mut acc = [[[bias; LANES]; NV]; ROWS];
    for (kernel_row, b) in w.chunks_exact(kw).zip(base) {
        for (&wt, &tap) in kernel_row.iter().zip(taps) {
            for (a, &b) in acc.iter_mut().zip(b) {
                for (v, a) in a.iter_mut().enumerate() {
                    // SAFETY: `b + tap + c + v * LANES + LANES <= data.len()` (checked
                    // above); unaligned reads of plain floats.
                    let src = unsafe { data.as_ptr().add(b + tap + c + v * LANES).cast::<[f32; LANES]>().read_unaligned() };
                    madd_block::<S>(a, wt, &src);
                }
            }
        }
    }
    let n = (NV * LANES).min(ow - c);
    for (r, a) in acc.iter().enumerate().take(rows) {
        let mut v = [[0.0; LANES]; NV];
        for (v, a) in v.as_flattened_mut().iter_mut().zip(a.as_flattened()) {
            *v = clamp_value(*a, lo, hi);
        }
        copy_short(&mut out[(first + r) * ow + c..][..n], &v.as_flattened()[..n]);
    }
}

/// One input-gradient plane from the output gradient `dy` (already through the clamp), in
/// gather form: each input row and phase is the sum of the taps that reach it, written once.
///
/// Padded input column `c = stride * q + phase` receives kernel column `j = phase + stride * m`
/// from output column `q - m`; so with `dy`'s rows padded by `reach` zeros on the left, every
/// tap reads a contiguous run.
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn input_grad_plane<S: macerator::Simd>(dx: &mut [f32], dy: &[f32], w: &[f32], g: &Geometry, input: [usize; 2]) {
    let [oh, ow] = g.output(input).expect("checked by the caller");
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [top, left] = [g.padding[0][0], g.padding[1][0]];
    let len = g.phase_len(input);
    let reach = kw.div_ceil(sw);
    let row_len = len + reach;
    let mut padded = vec![0.0f32; oh * row_len + LANES];
    for (src, dst) in dy.chunks_exact(ow).zip(padded.chunks_exact_mut(row_len)) {
        dst[reach..reach + ow].copy_from_slice(src);
    }
    let mut acc = vec![0.0f32; len];
    let (mut ws, mut srcs): (Vec<f32>, Vec<&[f32]>) = (Vec::with_capacity(kh * kw), Vec::with_capacity(kh * kw));
    for (i, dx_row) in dx.chunks_exact_mut(input[1]).enumerate() {
        let r = top + i;
        for phase in 0..sw {
            ws.clear();
            srcs.clear();
            for a in 0..kh.min(r + 1) {
                if (r - a) % sh != 0 || (r - a) / sh >= oh {
                    continue;
                }
                let row = (r - a) / sh * row_len;
                for m in 0..reach {
                    let j = phase + sw * m;
                    if j < kw {
                        ws.push(w[a * kw + j]);
                        srcs.push(&padded[row + reach - m..][..len.next_multiple_of(LANES)]);
                    }
                }
            }
            accumulate(&mut acc, &ws, &srcs, 0.0);
            // Back from the phase to the input's columns.
            let first = (phase + sw - left % sw) % sw;
            for (d, &v) in dx_row.iter_mut().skip(first).step_by(sw).zip(&acc[(left + first) / sw..]) {
                *d = v;
            }
        }
    }
}

/// Eight-lane dot product (the lanes keep the sum vectorizable).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// One plane's contribution to its channel's weight gradient, added to `dw`.
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn weight_grad_plane<S: macerator::Simd>(dw: &mut [f32], x: &[f32], dy: &[f32], g: &Geometry, input: [usize; 2]) {
    let p = Phases::of(x, g, input);
    let [_, ow] = g.output(input).expect("checked by the caller");
    let [kh, kw] = g.kernel;
    for (oh, row) in dy.chunks_exact(ow).enumerate() {
        for i in 0..kh {
            let r = oh * g.stride[0] + i;
            for j in 0..kw {
                let at = p.tap(r, j);
                dw[i * kw + j] += dot(&p.data[at..at + ow], row);
            }
        }
    }
}

/// The shape of one call: `n` images of `c` channels of `input`-sized planes.
#[derive(Debug, Clone, Copy)]
pub struct Planes {
    /// Images.
    pub n: usize,
    /// Channels (one kernel each).
    pub c: usize,
    /// Plane size `[h, w]`.
    pub input: [usize; 2],
}

impl Planes {
    fn len(&self) -> usize {
        self.input[0] * self.input[1]
    }
}

/// The convolution: `x` is `[n, c, h, w]`, `w` is `[c, 1, kh, kw]`, `bias` is `[c]`; returns
/// `[n, c, oh, ow]`, clamped to `clamp` when given.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: Planes, g: &Geometry, clamp: Option<Clamp>) -> Vec<f32> {
    if super::blocked::suits(s.input) {
        return super::blocked::forward(x, w, bias, s, g, clamp);
    }
    forward_rows(x, w, bias, s, g, clamp, false)
}

/// [`forward`] on the row kernels, whatever the planes' width (`narrow`: see [`forward_plane`]).
fn forward_rows(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: Planes, g: &Geometry, clamp: Option<Clamp>, narrow: bool) -> Vec<f32> {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let k = g.kernel[0] * g.kernel[1];
    let plane = |ch: usize, o: &mut [f32], rows: std::ops::Range<usize>, xp: &[f32], scratch: &mut Vec<f32>| {
        super::with_indices(|idx| forward_plane(o, rows, xp, &w[ch * k..][..k], bias.map_or(0.0, |b| b[ch]), g, s.input, clamp, narrow, scratch, idx));
    };
    if s.n == 1 && super::threads() > 1 && oh >= 2 * super::threads() {
        // One image: each thread its band of rows of every plane (see `on_threads`).
        return super::bands_new(s.c, [oh, ow], |ch, rows, o, scratch| plane(ch, o, rows, &x[ch * s.len()..][..s.len()], scratch));
    }
    planes_new(s.n * s.c * oh * ow, oh * ow, |scratch, p, o| plane(p % s.c, o, 0..oh, &x[p * s.len()..][..s.len()], scratch))
}

/// The gradient with respect to the input, `[n, c, h, w]`, from `dy` (`[n, c, oh, ow]`).
pub fn input_grad(dy: &[f32], w: &[f32], s: Planes, g: &Geometry) -> Vec<f32> {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let k = g.kernel[0] * g.kernel[1];
    if super::blocked::suits(s.input) {
        return super::blocked::input_grad(dy, w, s, g);
    }
    if let Some((t, spread)) = g.transposed(s.input) {
        let wf: Vec<f32> = w.chunks_exact(k).flat_map(|kernel| kernel.iter().rev()).copied().collect();
        if g.stride == [1, 1] {
            return forward_rows(dy, &wf, None, Planes { input: [oh, ow], ..s }, &t, None, false);
        }
        // At stride 2 and up, each plane of `dy` is spread out first; the forward kernel then
        // multiplies `stride²` times the taps it needs (most by zero), and still measured
        // a fifth faster on 3x3 layers, and as fast on 5x5 ones, as the gather kernel below.
        let [sh, sw] = g.stride;
        let mut dx = vec![0.0; s.n * s.c * s.len()];
        planes_with(&mut dx, s.len(), |scratch, plane, d| {
            let ch = plane % s.c;
            let mut z = vec![0.0f32; spread[0] * spread[1]];
            for (i, row) in dy[plane * oh * ow..][..oh * ow].chunks_exact(ow).enumerate() {
                for (at, &value) in z[i * sh * spread[1]..].iter_mut().step_by(sw).zip(row) {
                    *at = value;
                }
            }
            super::with_indices(|idx| forward_plane(d, 0..s.input[0], &z, &wf[ch * k..][..k], 0.0, &t, spread, None, false, scratch, idx));
        });
        return dx;
    }
    let mut dx = vec![0.0; s.n * s.c * s.len()];
    planes(&mut dx, s.len(), |plane, d| {
        let ch = plane % s.c;
        input_grad_plane(d, &dy[plane * oh * ow..][..oh * ow], &w[ch * k..][..k], g, s.input);
    });
    dx
}

/// The gradient with respect to the weight, `[c, 1, kh, kw]`: one pass over each channel's
/// planes.
pub fn weight_grad(x: &[f32], dy: &[f32], s: Planes, g: &Geometry) -> Vec<f32> {
    let [oh, ow] = g.output(s.input).expect("checked by the caller");
    let k = g.kernel[0] * g.kernel[1];
    let mut dw = vec![0.0; s.c * k];
    planes(&mut dw, k, |ch, d| {
        for b in 0..s.n {
            let plane = b * s.c + ch;
            weight_grad_plane(d, &x[plane * s.len()..][..s.len()], &dy[plane * oh * ow..][..oh * ow], g, s.input);
        }
    });
    dw
}

/// The gradient with respect to the bias, `[c]`: the sum of each channel's `dy`.
pub fn bias_grad(dy: &[f32], n: usize, c: usize) -> Vec<f32> {
    let len = dy.len() / (n * c).max(1);
    let ones = vec![1.0; len];
    let mut db = vec![0.0; c];
    for (plane, d) in dy.chunks_exact(len.max(1)).enumerate() {
        db[plane % c] += dot(d, &ones);
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, term by term.
    fn naive(x: &[f32], w: &[f32], b: &[f32], s: Planes, g: &Geometry) -> Vec<f32> {
        let [oh, ow] = g.output(s.input).unwrap();
        let [kh, kw] = g.kernel;
        let mut out = vec![0.0; s.n * s.c * oh * ow];
        for n in 0..s.n {
            for c in 0..s.c {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = b[c];
                        for a in 0..kh {
                            for e in 0..kw {
                                let (y, xx) =
                                    ((i * g.stride[0] + a) as isize - g.padding[0][0] as isize, (j * g.stride[1] + e) as isize - g.padding[1][0] as isize);
                                if y >= 0 && xx >= 0 && (y as usize) < s.input[0] && (xx as usize) < s.input[1] {
                                    acc += w[(c * kh + a) * kw + e] * x[((n * s.c + c) * s.input[0] + y as usize) * s.input[1] + xx as usize];
                                }
                            }
                        }
                        out[((n * s.c + c) * oh + i) * ow + j] = acc;
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
    fn forward_is_the_definition_for_every_stride_and_asymmetric_padding() {
        for (kernel, stride, padding, input) in [
            ([3, 3], [1, 1], [[1, 1], [1, 1]], [7, 9]),
            ([3, 3], [2, 2], [[0, 1], [0, 1]], [8, 8]),
            ([5, 5], [2, 2], [[1, 2], [1, 2]], [9, 11]),
            ([5, 5], [1, 1], [[2, 2], [2, 2]], [5, 6]),
            ([3, 5], [1, 2], [[0, 0], [2, 1]], [4, 13]),
            ([3, 3], [1, 1], [[1, 1], [1, 1]], [7, 35]),
            ([3, 3], [2, 2], [[0, 1], [0, 1]], [20, 20]),
            ([5, 5], [2, 2], [[1, 2], [1, 2]], [9, 33]),
            ([3, 5], [1, 2], [[0, 0], [2, 1]], [4, 40]),
            // Widths a mobile network's blocks do not use: ConvNeXt's 7x7, a 2x2.
            ([7, 7], [1, 1], [[3, 3], [3, 3]], [9, 30]),
            ([2, 2], [2, 2], [[0, 0], [0, 0]], [6, 36]),
        ] {
            let g = Geometry { kernel, stride, padding };
            // A batch, and one image (whose rows are cut into bands among the threads).
            for n in [2, 1] {
                super::super::on_pools(|| forward_matches(Planes { n, c: 3, input }, &g));
            }
        }
    }

    fn forward_matches(s: Planes, g: &Geometry) {
        let (kernel, input) = (g.kernel, s.input);
        let x = values(s.n * s.c * s.len(), 1);
        let w = values(s.c * kernel[0] * kernel[1], 2);
        let b = values(s.c, 3);
        let want = naive(&x, &w, &b, s, g);
        let got = forward(&x, &w, Some(&b), s, g, None);
        assert_eq!(got.len(), want.len());
        for (a, e) in got.iter().zip(&want) {
            assert!((a - e).abs() < 1e-5, "{g:?}: {a} vs {e}");
        }
        // Both kernels, whichever `forward` chose (the blocked ones for narrow planes).
        let blocked = super::super::blocked::forward(&x, &w, Some(&b), s, g, None);
        // The row kernels, with two blocks of columns at a time where the vectors are
        // AVX-512's, and one at a time (AVX2's and the page's path) on any machine.
        let rows = forward_rows(&x, &w, Some(&b), s, g, None, false);
        let narrow = forward_rows(&x, &w, Some(&b), s, g, None, true);
        for (got, which) in [(blocked, "blocked"), (rows, "rows"), (narrow, "rows, one block at a time")] {
            for (a, e) in got.iter().zip(&want) {
                assert!((a - e).abs() < 1e-5, "{which} {g:?} {input:?}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn a_nan_in_the_input_stays_a_nan_through_the_clamp() {
        // One NaN pixel: every output whose window holds it is NaN, the rest are clamped
        // numbers; for the row kernels (wide planes) and the blocked ones (narrow planes).
        let clamp = Some(Clamp { min: 0.0, max: 6.0 });
        for (input, g) in [
            ([9, 40], Geometry { kernel: [3, 3], stride: [1, 1], padding: [[1, 1], [1, 1]] }),
            ([9, 9], Geometry { kernel: [5, 5], stride: [2, 2], padding: [[1, 2], [1, 2]] }),
        ] {
            let s = Planes { n: 1, c: 3, input };
            let mut x = values(s.c * s.len(), 11);
            let at = [4, 5];
            x[s.len() + at[0] * input[1] + at[1]] = f32::NAN; // channel 1
            let w = values(s.c * g.kernel[0] * g.kernel[1], 12);
            let out = forward(&x, &w, None, s, &g, clamp);
            let [oh, ow] = g.output(input).unwrap();
            for ch in 0..s.c {
                for i in 0..oh {
                    for j in 0..ow {
                        let v = out[(ch * oh + i) * ow + j];
                        let reads = |d: usize, o: usize| (o * g.stride[d]..o * g.stride[d] + g.kernel[d]).contains(&(at[d] + g.padding[d][0]));
                        if ch == 1 && reads(0, i) && reads(1, j) {
                            assert!(v.is_nan(), "{input:?} ch {ch} ({i}, {j}): {v}, not NaN");
                        } else {
                            assert!((0.0..=6.0).contains(&v), "{input:?} ch {ch} ({i}, {j}): {v}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_clamp_is_applied_to_every_output() {
        let g = Geometry { kernel: [3, 3], stride: [1, 1], padding: [[1, 1], [1, 1]] };
        let s = Planes { n: 1, c: 2, input: [6, 6] };
        let x: Vec<f32> = values(72, 7).iter().map(|v| v * 40.0).collect();
        let w = values(18, 8);
        let out = forward(&x, &w, None, s, &g, Some(Clamp { min: 0.0, max: 6.0 }));
        let raw = forward(&x, &w, None, s, &g, None);
        assert!(raw.iter().any(|&v| v > 6.0) && raw.iter().any(|&v| v < 0.0), "the test needs both sides");
        for (o, r) in out.iter().zip(&raw) {
            assert_eq!(*o, r.clamp(0.0, 6.0));
        }
    }
}
