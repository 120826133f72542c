//! 1x1 convolutions as one matrix product per image, written once into the output.
//!
//! burn-flex's matrix product allocates its output through `FlexTensor::empty`, which
//! zero-fills a byte vector and then copies it into an aligned allocation: two passes over
//! every 1x1 convolution's output before the product writes it. Here the product writes
//! straight into the output's own vector, uninitialized until then: natively on convscope's
//! own register tiles (`tiles.rs`), the bias and clamp applied as each tile is stored; in the
//! page (and for products narrower than a block of lanes) through the `gemm` crate flex calls,
//! the bias and clamp following in one pass per plane.

mod tiles;

use super::{Clamp, planes};

/// One call's shape: `n` images of `c` channels in, `o` out, `hw` pixels each.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Images.
    pub n: usize,
    /// Input channels (the product's depth).
    pub c: usize,
    /// Output channels.
    pub o: usize,
    /// Pixels of a plane.
    pub hw: usize,
}

/// Multiply-adds above which one image's product is split among the threads: about a tenth
/// of a millisecond of one core. flex's own threshold (192³, 7M) left five of
/// EfficientNet-Lite0's 1x1 layers on one thread, 3.7-7.2M each; with the pool kept awake a
/// split pays from well below that (2 threads, alternated: the forward pass's minimum lower in
/// 5 pairs of 6, by 3-4%; the same with a threshold of 250k).
const PARALLEL: usize = 1 << 20;

/// A `[rows, cols]` matrix read through strides: element `(i, j)` at `i * rs + j * cs`.
#[derive(Debug, Clone, Copy)]
struct Strided<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl Strided<'_> {
    /// The offset one past the last element of a `[rows, cols]` view, for the bounds check.
    fn end(&self, rows: usize, cols: usize) -> usize {
        (rows - 1) * self.rs + (cols - 1) * self.cs + 1
    }
}

/// `out[img] = lhs x rhs[img]` for every image, then `bias` (one per row) and `clamp`: `lhs`
/// `[m, k]`, shared by all images; `rhs` `[k, cols]` per image, contiguous and row-major,
/// images `k * cols` apart. Returns the `n` products, `[m, cols]` each, row-major.
fn products(lhs: Strided, rhs: &[f32], n: usize, [m, k, cols]: [usize; 3], bias: Option<&[f32]>, clamp: Option<Clamp>) -> Vec<f32> {
    let len = n * m * cols;
    if len == 0 {
        return Vec::new();
    }
    // The bounds every product reads within, checked once here (`gemm` takes raw pointers,
    // the tiles read the left matrix unchecked).
    assert!(k == 0 || lhs.end(m, k) <= lhs.data.len(), "the left matrix is smaller than its shape");
    assert_eq!(rhs.len(), n * k * cols, "the right matrices do not match their shape");
    if let Some(b) = bias {
        assert_eq!(b.len(), m, "one bias per output channel");
    }
    if tiles::suits(k, cols) {
        return tiles::products(lhs, rhs, n, [m, k, cols], bias, clamp, false);
    }
    let mut y = gemm_products(lhs, rhs, n, [m, k, cols]);
    if bias.is_some() || clamp.is_some() {
        let (lo, hi) = Clamp::bounds(clamp);
        planes(&mut y, cols, |plane, row| bias_clamp(row, bias.map_or(0.0, |b| b[plane % m]), lo, hi));
    }
    y
}

/// [`products`] by `gemm`, without the bias and clamp.
fn gemm_products(lhs: Strided, rhs: &[f32], n: usize, [m, k, cols]: [usize; 3]) -> Vec<f32> {
    let len = n * m * cols;
    if k == 0 {
        // No input channels: every product is zero (the bias follows).
        return vec![0.0; len];
    }
    // A product with one row, one column or a depth of at most 2 takes `gemm`'s vector
    // paths, which view the output as a slice: that output is zeroed first (these products
    // are small: a squeeze-excite layer, a classifier head), every other one is written once.
    let mut out: Vec<f32> = if m <= 1 || cols <= 1 || k <= 2 {
        let mut zeroed = vec![0.0; len];
        // SAFETY: shortening a vector of floats drops nothing; its capacity keeps the zeros,
        // which `gemm` overwrites below.
        unsafe { zeroed.set_len(0) };
        zeroed
    } else {
        Vec::with_capacity(len)
    };
    let one = |dst: *mut f32, img: usize, threads: gemm::Parallelism| {
        let rhs = &rhs[img * k * cols..][..k * cols];
        // SAFETY: `dst` points to `m * cols` writable floats of this image's output; `lhs` is
        // valid for `m x k` elements through its strides and `rhs` for `k x cols` row-major
        // (both checked above). With `read_dst` false, `gemm` only writes `dst`, so its
        // uninitialized contents are never read (and the paths that view it as a slice get it
        // zeroed).
        unsafe {
            gemm::gemm(
                m,
                cols,
                k,
                dst,
                1,
                cols as isize,
                false,
                lhs.data.as_ptr(),
                lhs.cs as isize,
                lhs.rs as isize,
                rhs.as_ptr(),
                1,
                cols as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                threads,
            );
        }
    };
    let spare = &mut out.spare_capacity_mut()[..len];
    let per_image = m * cols;
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        if n > 1 {
            spare.par_chunks_mut(per_image).enumerate().for_each(|(img, dst)| one(dst.as_mut_ptr().cast(), img, gemm::Parallelism::None));
        } else {
            let threads = if m * k * cols >= PARALLEL { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
            one(spare.as_mut_ptr().cast(), 0, threads);
        }
    }
    #[cfg(not(feature = "rayon"))]
    for (img, dst) in spare.chunks_mut(per_image).enumerate() {
        one(dst.as_mut_ptr().cast(), img, gemm::Parallelism::None);
    }
    // SAFETY: every image's product wrote all `m * cols` of its floats, so all `len` are
    // initialized.
    unsafe { out.set_len(len) };
    out
}

/// The convolution: `x` `[n, c, hw]`, `w` `[o, c]`, `bias` `[o]`, then the clamp; returns
/// `[n, o, hw]`.
pub fn forward(x: &[f32], w: &[f32], bias: &[f32], s: Shape, clamp: Option<Clamp>) -> Vec<f32> {
    assert_eq!(bias.len(), s.o, "one bias per output channel");
    products(Strided { data: w, rs: s.c, cs: 1 }, x, s.n, [s.o, s.c, s.hw], Some(bias), clamp)
}

/// `v = min(max(v + b, lo), hi)` over a plane, compiled for the machine's widest vectors and
/// chosen at run time (a closure of generic code ran on the baseline's 128-bit ones, and its
/// `f32::max`/`min` turned a NaN into a bound: here a NaN stays a NaN, as a clamp should leave
/// it).
#[allow(clippy::extra_unused_type_parameters)]
#[macerator::with_simd]
fn bias_clamp<S: macerator::Simd>(row: &mut [f32], b: f32, lo: f32, hi: f32) {
    for v in row {
        let x = *v + b;
        let x = if x < lo { lo } else { x };
        *v = if x > hi { hi } else { x };
    }
}

/// Its gradient with respect to `x`: `dy` `[n, o, hw]` (already through the clamp), `w`
/// `[o, c]`; returns `[n, c, hw]`, each image `wᵀ x dy`.
pub fn input_grad(dy: &[f32], w: &[f32], s: Shape) -> Vec<f32> {
    products(Strided { data: w, rs: 1, cs: s.c }, dy, s.n, [s.c, s.o, s.hw], None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The definition, one sum per output value, in f64.
    fn naive(x: &[f32], w: &[f32], b: &[f32], s: Shape) -> Vec<f32> {
        let mut y = vec![0.0; s.n * s.o * s.hw];
        for img in 0..s.n {
            for oc in 0..s.o {
                for p in 0..s.hw {
                    let sum: f64 = (0..s.c).map(|ci| f64::from(w[oc * s.c + ci]) * f64::from(x[(img * s.c + ci) * s.hw + p])).sum();
                    y[(img * s.o + oc) * s.hw + p] = (sum + f64::from(b[oc])) as f32;
                }
            }
        }
        y
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (p, q)) in a.iter().zip(b).enumerate() {
            assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "value {i}: {p} against {q}");
        }
    }

    #[test]
    fn forward_and_input_gradient_are_the_definition() {
        // One image and a batch; planes of 7x7 to 56x56; depths from 3 to 96; products big
        // enough to be split among threads, by rows and (few rows) by columns, with rows
        // past the last whole tile and columns past the last whole block; a projection of a
        // 14 x 14 plane (banded from fewer columns); an expansion (each block of rows across
        // all the columns).
        // Then the vector paths: one pixel (a squeeze-excite layer), one output or one input
        // channel, a depth of 2, and no input channel at all.
        let shapes = [
            (1, 3, 5, 49),
            (3, 16, 24, 196),
            (2, 40, 8, 3136),
            (1, 96, 144, 3136),
            (1, 96, 21, 3000),
            (1, 240, 44, 196),
            (1, 17, 1, 20),
            (5, 1, 1, 1),
            (1, 16, 96, 3136),
        ];
        let vector = [(2, 24, 96, 1), (1, 8, 1, 300), (1, 1, 8, 300), (2, 2, 6, 50), (1, 0, 4, 9)];
        // One image's columns are cut into bands among the threads: pools of 1 to 3.
        super::super::on_pools(|| shapes.into_iter().chain(vector).for_each(matches));
    }

    fn matches((n, c, o, hw): (usize, usize, usize, usize)) {
        let s = Shape { n, c, o, hw };
        let (x, w, b) = (values(n * c * hw, 1), values(o * c, 2), values(o, 3));
        close(&forward(&x, &w, &b, s, None), &naive(&x, &w, &b, s));
        let clamp = Clamp { min: 0.0, max: 0.5 };
        let clamped: Vec<f32> = naive(&x, &w, &b, s).iter().map(|v| v.clamp(0.0, 0.5)).collect();
        close(&forward(&x, &w, &b, s, Some(clamp)), &clamped);
        // dx = wᵀ dy: the forward of the transposed weight, without bias.
        let dy = values(n * o * hw, 4);
        let wt: Vec<f32> = (0..c * o).map(|i| w[(i % o) * c + i / o]).collect();
        let back = Shape { n, c: o, o: c, hw };
        close(&input_grad(&dy, &w, s), &naive(&dy, &wt, &vec![0.0; c], back));
        // The tiles of 6 rows by 16 columns (AVX2's shape), on any machine.
        if tiles::suits(c, hw) {
            let lhs = Strided { data: &w, rs: c, cs: 1 };
            close(&tiles::products(lhs, &x, n, [o, c, hw], Some(&b), Some(clamp), true), &clamped);
        }
    }

    #[test]
    fn the_clamp_keeps_a_nan() {
        // A NaN pixel stays a NaN through the clamp (a max/min that took the bound would hide
        // a broken input as 0 or 6), on the tiles and on `gemm`'s path alike.
        for s in [Shape { n: 1, c: 24, o: 20, hw: 196 }, Shape { n: 1, c: 24, o: 20, hw: 3 }] {
            let (mut x, w, b) = (values(s.c * s.hw, 1), values(s.o * s.c, 2), values(s.o, 3));
            x[5] = f32::NAN;
            let y = forward(&x, &w, &b, s, Some(Clamp { min: 0.0, max: 6.0 }));
            for (i, v) in y.iter().enumerate() {
                assert_eq!(v.is_nan(), i % s.hw == 5 % s.hw, "value {i} of {s:?}: {v}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "do not match their shape")]
    fn a_short_input_is_refused() {
        forward(&[0.0; 10], &[0.0; 4], &[0.0; 2], Shape { n: 1, c: 2, o: 2, hw: 6 }, None);
    }
}
