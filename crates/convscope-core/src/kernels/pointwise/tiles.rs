//! convscope's own matrix product for the 1x1 convolutions, in their layout (`[k, cols]` per
//! image, the left matrix read through strides): register tiles of `MR` output rows by `V`
//! vectors of columns, each accumulated across the whole depth in registers, the bias added
//! before and the clamp applied in the registers before the store. Nothing is packed: a
//! column block of the right matrix is one contiguous load per depth step, and each left
//! value one broadcast.
//! `gemm`, which flex calls, packs both matrices on every call and then leaves the bias and
//! clamp to a second pass over the output.

use std::mem::MaybeUninit;

use macerator::{Scalar, VOrd, Vector};

use super::Strided;
use crate::kernels::{Clamp, clamp_value, depthwise::LANES};

/// Whether the tiles take a product of depth `k` over `cols` columns: natively, from one
/// block of columns (narrower products, a squeeze-excite layer's single pixel, would waste
/// most of a tile; the page keeps `gemm`'s SIMD128 kernels, whose tiles fit its registers).
pub(super) fn suits(k: usize, cols: usize) -> bool {
    cfg!(not(target_arch = "wasm32")) && k > 0 && cols >= LANES
}

/// Columns of one tile on the widest vectors: a task's share of the columns is a multiple of
/// it (but for bands).
const WIDEST: usize = 2 * LANES;

/// Fewest columns of a thread's band: 8 tiles. Narrower products (planes of 14x14 and less)
/// are cut by rows of the output, whose tiles stay whole.
const BAND: usize = 8 * WIDEST;

/// Fewest columns of a thread's band of a projection: 3 tiles (planes of 14 x 14 cut in two).
const NARROW_BAND: usize = 3 * WIDEST;

/// The bytes of a right matrix read whole for each block of rows (see [`rows_tiled`]).
const SMALL_RHS: usize = 64 << 10;

/// Most rows of a block of a band (see [`products`]).
const BAND_ROWS: usize = 32;

/// One task of [`products`]: rows `first..` of image `img`'s product, each cut to its columns
/// `from..`, the columns of range `part` of the product's cut (a band, when banded).
struct Task<'o> {
    img: usize,
    first: usize,
    from: usize,
    part: usize,
    rows: Vec<&'o mut [MaybeUninit<f32>]>,
}

/// [`super::products`] on the tiles, cut into tasks of whole tiles for the threads: by images,
/// then by blocks of rows, then (for a product with few rows, such as a projection to 24
/// channels over 3,136 pixels) by ranges of columns.
///
/// `narrow` takes tiles of 6 rows by 16 columns whatever the vectors (AVX2's shape, for the
/// tests on a machine with AVX-512; AVX2's own 8-lane vectors run only on a machine without
/// AVX-512).
#[allow(clippy::too_many_arguments)]
pub(super) fn products(lhs: Strided, rhs: &[f32], n: usize, [m, k, cols]: [usize; 3], bias: Option<&[f32]>, clamp: Option<Clamp>, narrow: bool) -> Vec<f32> {
    let len = n * m * cols;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    let threads = crate::kernels::threads();
    // One image of many columns: each thread a band of them, all rows (see `on_threads`).
    // A projection (depth above rows, as 672 channels to 112) is banded from narrower planes:
    // it reads far more than it writes, so where its input lies counts most.
    let band = if k > m { NARROW_BAND } else { BAND };
    let banded = n == 1 && threads > 1 && cols >= threads * band && m * k * cols >= super::PARALLEL;
    // Otherwise tasks per image: a few per thread, when the product is worth splitting.
    let per_image = if banded || n * m * k * cols < super::PARALLEL { 1 } else { (4 * threads).div_ceil(n) };
    let row_blocks = m.div_ceil(8);
    let (task_rows, col_chunks) = if banded {
        // A thread's band in blocks of at most `BAND_ROWS` rows, each swept across the band's
        // columns in turn: all the rows at once wrote as many output rows at each step, and
        // was a third slower (a 96-row expansion over 112 x 112 pixels).
        (m.div_ceil(m.div_ceil(BAND_ROWS)).next_multiple_of(8), 1)
    } else if per_image <= 1 {
        (m, 1)
    } else if row_blocks >= per_image {
        (m.div_ceil(per_image).next_multiple_of(8), 1)
    } else {
        (8, per_image.div_ceil(row_blocks))
    };
    // Where each task's columns start.
    let cuts: Vec<usize> = if banded {
        (0..threads).map(|t| crate::kernels::band(cols, t, threads).start).collect()
    } else {
        let chunk = cols.div_ceil(col_chunks).next_multiple_of(WIDEST).min(cols);
        (0..cols).step_by(chunk.max(1)).collect()
    };
    let mut tasks: Vec<Task> = Vec::with_capacity(n * m.div_ceil(task_rows) * cuts.len());
    for (img, o) in spare.chunks_mut(m * cols).enumerate() {
        for (t, block) in o.chunks_mut(task_rows * cols).enumerate() {
            let mut pieces: Vec<Vec<&mut [MaybeUninit<f32>]>> = cuts.iter().map(|_| Vec::with_capacity(task_rows)).collect();
            for row in block.chunks_mut(cols) {
                let mut rest = row;
                for (i, piece) in pieces.iter_mut().enumerate() {
                    let end = cuts.get(i + 1).map_or(cols, |&e| e);
                    let (part, tail) = rest.split_at_mut(end - cuts[i]);
                    piece.push(part);
                    rest = tail;
                }
            }
            tasks.extend(pieces.into_iter().zip(&cuts).enumerate().map(|(part, (rows, &from))| Task { img, first: t * task_rows, from, part, rows }));
        }
    }
    let run = |mut t: Task| rows(&mut t.rows, t.first, t.from, lhs, &rhs[t.img * k * cols..], k, cols, bias, clamp, narrow);
    if banded {
        // Each band's tasks, on the band's thread.
        let mut bands: Vec<Vec<Task>> = cuts.iter().map(|_| Vec::new()).collect();
        for t in tasks {
            bands[t.part].push(t);
        }
        crate::kernels::on_threads(bands, |tasks| tasks.into_iter().for_each(run));
    } else {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            tasks.into_par_iter().for_each(run);
        }
        #[cfg(not(feature = "rayon"))]
        tasks.into_iter().for_each(run);
    }
    // SAFETY: the tasks' pieces cover the output, and the tiles wrote every float of each.
    unsafe { out.set_len(len) };
    out
}

/// The tile for the vectors of the machine: 8 rows of 32 columns on AVX-512 (16 accumulators
/// of its 32 registers), 6 rows of 16 columns on AVX2 (12 of its 16 registers: with 8, four
/// rows, the 1x1 layers took 5% longer on an AMD EPYC), 4 rows of 16 columns on 4-lane
/// vectors (16 of SSE's registers).
// The lifetimes are named for `with_simd`, which takes no elided ones.
#[allow(clippy::extra_unused_type_parameters, clippy::too_many_arguments, clippy::needless_lifetimes)]
#[macerator::with_simd]
fn rows<'a, 'b, S: macerator::Simd>(
    out: &mut [&'b mut [MaybeUninit<f32>]],
    first: usize,
    from: usize,
    lhs: Strided<'a>,
    rhs: &[f32],
    k: usize,
    cols: usize,
    bias: Option<&'a [f32]>,
    clamp: Option<Clamp>,
    narrow: bool,
) {
    match f32::lanes::<S>() {
        16.. if !narrow => rows_tiled::<S, 8, 2>(out, first, from, lhs, rhs, k, cols, bias, clamp),
        16.. => rows_tiled::<S, 6, 1>(out, first, from, lhs, rhs, k, cols, bias, clamp),
        8 => rows_tiled::<S, 6, 2>(out, first, from, lhs, rhs, k, cols, bias, clamp),
        _ => rows_tiled::<S, 4, 4>(out, first, from, lhs, rhs, k, cols, bias, clamp),
    }
}

/// `out`: rows `first..` of the product, each its columns `from..` (all the same length) =
/// `lhs[first.., ..] x rhs`, then bias and clamp, on tiles of `MR` rows by `V` vectors.
/// `rhs` starts at this image's `[k, cols]` matrix; whatever follows it in the slice may be
/// read (not used) by a tile that overhangs the last column.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_tiled<S: macerator::Simd, const MR: usize, const V: usize>(
    out: &mut [&mut [MaybeUninit<f32>]],
    first: usize,
    from: usize,
    lhs: Strided,
    rhs: &[f32],
    k: usize,
    cols: usize,
    bias: Option<&[f32]>,
    clamp: Option<Clamp>,
) {
    let rows = out.len();
    let here = out.first().map_or(0, |r| r.len());
    let width = V * f32::lanes::<S>();
    assert!(width <= WIDEST, "a tile is wider than its row buffer");
    assert!(rhs.len() >= k * cols, "the right matrix is smaller than its shape");
    assert!(rows == 0 || lhs.end(first + rows, k) <= lhs.data.len(), "the left matrix is smaller than its shape");
    assert!(from + here <= cols && out.iter().all(|r| r.len() == here), "the rows' columns are not one range");
    let (lo, hi) = Clamp::bounds(clamp);
    let part = Part { first, from, here, lhs, rhs, k, cols, bias, lo, hi };
    // The blocks of rows: whole tiles, then what is left in tiles of 4, 2 and 1.
    let mut blocks = Vec::with_capacity(rows / MR + 3);
    let mut r = 0;
    while r < rows {
        let left = rows - r;
        let mr = [MR, 4, 2, 1].into_iter().find(|&t| t <= left).expect("a tile of 1 row");
        blocks.push((r, mr));
        r += mr;
    }
    if k * cols * size_of::<f32>() <= SMALL_RHS || k <= rows {
        // A right matrix that stays in cache (a 7 x 7 plane's: 192 x 49 floats) is read once
        // per block of rows, and each row's weights once: columns outer read the whole left
        // matrix (1152 x 192 floats, more than the core's cache) once per block of columns.
        // So is the shallow right matrix of an expansion (16 channels to 96 over 112 x 112
        // pixels), which writes each output row in turn: columns outer wrote as many rows at
        // once as the task has, and took 19% longer.
        for &(r, mr) in &blocks {
            for at in (0..here).step_by(width) {
                block::<S, MR, V>(&mut out[r..r + mr], r, at, &part);
            }
        }
    } else {
        // Each block of columns of `rhs` (`k` x `width`) is read by every block of rows in
        // turn while it is in cache: rows outer would stream the whole of `rhs` once per
        // block of rows, which makes a projection to few channels over many pixels bound by
        // memory.
        for at in (0..here).step_by(width) {
            for &(r, mr) in &blocks {
                block::<S, MR, V>(&mut out[r..r + mr], r, at, &part);
            }
        }
    }
}

/// What every block of a task shares (see [`rows_tiled`]).
struct Part<'a> {
    first: usize,
    from: usize,
    here: usize,
    lhs: Strided<'a>,
    rhs: &'a [f32],
    k: usize,
    cols: usize,
    bias: Option<&'a [f32]>,
    lo: f32,
    hi: f32,
}

/// Rows `r..r + dst.len()` of a task (a whole tile's, or fewer at the end) by its block of
/// columns at `at`.
#[inline(always)]
fn block<S: macerator::Simd, const MR: usize, const V: usize>(dst: &mut [&mut [MaybeUninit<f32>]], r: usize, at: usize, p: &Part) {
    let width = V * f32::lanes::<S>();
    let (c0, n) = (p.from + at, width.min(p.here - at));
    // Depth steps whose block of `width` columns lies wholly inside `rhs`: read in place;
    // the rest (only near the end of the slice) through a zero-padded copy.
    let direct = if p.rhs.len() >= c0 + width { ((p.rhs.len() - c0 - width) / p.cols + 1).min(p.k) } else { 0 };
    let (x, row, (lhs, cols, k, lo, hi)) = (&p.rhs[c0..], p.first + r, (p.lhs, p.cols, p.k, p.lo, p.hi));
    match dst.len() {
        m if m == MR => tile::<S, MR, V>(dst, at, n, lhs, row, x, cols, k, direct, biases(p.bias, row), lo, hi),
        4 => tile::<S, 4, V>(dst, at, n, lhs, row, x, cols, k, direct, biases(p.bias, row), lo, hi),
        2 => tile::<S, 2, V>(dst, at, n, lhs, row, x, cols, k, direct, biases(p.bias, row), lo, hi),
        _ => tile::<S, 1, V>(dst, at, n, lhs, row, x, cols, k, direct, biases(p.bias, row), lo, hi),
    }
}

/// The biases of rows `row..row + R` (zeros without any).
fn biases<const R: usize>(bias: Option<&[f32]>, row: usize) -> [f32; R] {
    std::array::from_fn(|i| bias.map_or(0.0, |b| b[row + i]))
}

/// One tile: rows `row..row + MR` of the product (written to `dst`'s rows from `at`), `n`
/// columns (at most `V` vectors) from `x`'s first; `x` holds `k` rows `xs` apart, of which
/// the first `direct` can be read a whole `V` vectors wide.
///
/// The accumulators are the machine's own vectors, not arrays of floats left to the
/// compiler: on AVX2, 16-float arrays were vectorized 4 lanes at a time with half the
/// accumulators on the stack (the 1x1 layers 3.9x onnxruntime's on an AMD EPYC).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: macerator::Simd, const MR: usize, const V: usize>(
    dst: &mut [&mut [MaybeUninit<f32>]],
    at: usize,
    n: usize,
    lhs: Strided,
    row: usize,
    x: &[f32],
    xs: usize,
    k: usize,
    direct: usize,
    bias: [f32; MR],
    lo: f32,
    hi: f32,
) {
    let lanes = f32::lanes::<S>();
    let width = V * lanes;
    let mut acc: [[Vector<S, f32>; V]; MR] = std::array::from_fn(|i| [bias[i].splat::<S>(); V]);
    let base = row * lhs.rs;
    // Checked once, so that the loop has no exit but its end (a bounds check's exit kept
    // every accumulator stored to memory at each step).
    assert!(direct == 0 || (direct - 1) * xs + width <= x.len(), "the tile reads past the right matrix");
    // The rows' offsets from the first: each depth step moves one pointer (an index per row,
    // as the compiler chose from `at + i * rs`, was an add per row at each step).
    let rows: [usize; MR] = std::array::from_fn(|i| i * lhs.rs);
    for d in 0..direct {
        // SAFETY: `d * xs + width <= x.len()` for every `d < direct` (checked above);
        // unaligned loads of plain floats.
        let xv: [Vector<S, f32>; V] = std::array::from_fn(|j| unsafe { f32::vload_unaligned::<S>(x.as_ptr().add(d * xs + j * lanes)) });
        // SAFETY: row `row`'s element at depth `d` lies within the left matrix (checked by the
        // caller against `lhs.end`).
        let w = unsafe { lhs.data.as_ptr().add(base + d * lhs.cs) };
        step::<S, MR, V>(&mut acc, &xv, w, &rows);
    }
    for d in direct..k {
        let mut pad = [0.0; WIDEST];
        let src = &x[d * xs..];
        for (j, v) in pad.iter_mut().take(n.min(src.len())).enumerate() {
            *v = src[j];
        }
        // SAFETY: `width <= WIDEST` (checked by the caller).
        let xv: [Vector<S, f32>; V] = std::array::from_fn(|j| unsafe { f32::vload_unaligned::<S>(pad.as_ptr().add(j * lanes)) });
        // SAFETY: as above.
        let w = unsafe { lhs.data.as_ptr().add(base + d * lhs.cs) };
        step::<S, MR, V>(&mut acc, &xv, w, &rows);
    }
    // Clamped in the registers, `max(lo, v)` then `min(hi, v)`, where that keeps a NaN (x86's
    // take the second operand where either is a NaN; NEON's and SIMD128's return the NaN);
    // elsewhere (macerator's scalar fallback is `f32::max`, which drops it) value by value.
    // Without a clamp the bounds are infinite.
    let in_registers =
        <f32 as VOrd>::is_min_max_accelerated::<S>() && cfg!(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32"));
    let (lo_v, hi_v) = (lo.splat::<S>(), hi.splat::<S>());
    for (a, dst) in acc.iter().zip(dst.iter_mut()) {
        let a: [Vector<S, f32>; V] = if in_registers { std::array::from_fn(|j| hi_v.min(lo_v.max(a[j]))) } else { *a };
        let dst = &mut dst[at..][..n];
        if in_registers && n == width {
            // A whole tile's row, stored as vectors (a loop over `n` became a `memcpy` call
            // per row, 4% of a forward pass).
            for (j, v) in a.iter().enumerate() {
                // SAFETY: `dst` holds at least `width` floats; unaligned writes of plain
                // floats, into memory the caller owns.
                unsafe { f32::vstore_unaligned::<S>(dst.as_mut_ptr().cast::<f32>().add(j * lanes), *v) };
            }
        } else {
            // Out of the registers, then the row's first `n` copied out.
            let mut row = [0.0; WIDEST];
            for (j, v) in a.iter().enumerate() {
                // SAFETY: `(j + 1) * lanes <= width <= WIDEST`.
                unsafe { f32::vstore_unaligned::<S>(row.as_mut_ptr().add(j * lanes), *v) };
            }
            if !in_registers {
                for v in &mut row[..n] {
                    *v = clamp_value(*v, lo, hi);
                }
            }
            store_part(dst, &row[..n]);
        }
    }
}

/// The first `dst.len()` (fewer than a tile's) values of `src` into `dst`, the last columns of
/// a row: as runs of 16, 8, 4, 2 and 1, each a fixed-size copy. A loop over the length was a
/// `memcpy` call per row (10,000 a forward pass, 4% of its time in `perf`); kept out of line,
/// so that its branches stay out of the tile's registers.
#[inline(never)]
fn store_part(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    fn run<const W: usize>(dst: &mut [MaybeUninit<f32>], src: &[f32], at: &mut usize) {
        while dst.len() - *at >= W {
            let d: &mut [MaybeUninit<f32>; W] = (&mut dst[*at..*at + W]).try_into().expect("W values");
            let s: &[f32; W] = src[*at..*at + W].try_into().expect("W values");
            for (d, &s) in d.iter_mut().zip(s) {
                d.write(s);
            }
            *at += W;
        }
    }
    let mut at = 0;
    run::<16>(dst, src, &mut at);
    run::<8>(dst, src, &mut at);
    run::<4>(dst, src, &mut at);
    run::<2>(dst, src, &mut at);
    run::<1>(dst, src, &mut at);
}

/// One depth step of a tile: `acc[i] += w[rows[i]] * xv`, fused where the machine has a
/// fused multiply-add (as the depthwise kernels' `madd` rounds); `w` points to the tile's
/// first row at this depth, `rows` holds its rows' offsets.
#[inline(always)]
fn step<S: macerator::Simd, const MR: usize, const V: usize>(acc: &mut [[Vector<S, f32>; V]; MR], xv: &[Vector<S, f32>; V], w: *const f32, rows: &[usize; MR]) {
    let fused = <f32 as macerator::VFma>::is_accelerated::<S>();
    for (a, &r) in acc.iter_mut().zip(rows) {
        // SAFETY: the tile's rows and every column of `lhs` lie within its data (checked by
        // the caller against `lhs.end`).
        let w = unsafe { *w.add(r) }.splat::<S>();
        for (av, &xv) in a.iter_mut().zip(xv) {
            *av = if fused { w.fma(xv, *av) } else { w * xv + *av };
        }
    }
}
