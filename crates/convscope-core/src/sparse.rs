//! A sparse linear map along a tensor's last axis, each output a weighted sum of a fixed number
//! of inputs (a bilinear resampling is one: four taps per output pixel), whose backward is the
//! transposed map, applied the same way: as gathers.
//!
//! Composed of burn's ops, the map is a `select` along the axis, a product and a sum, and its
//! backward a scatter-add of the gradient into the input (`select_assign`). burn 0.22.1's GPU
//! kernel for that scatter gives one thread to each row and walks every tap in order in it:
//! for the patterns' resampling (48 planes of 4 x 224 x 224 taps) that is 48 threads on the
//! whole GPU, each doing 200,000 dependent read-modify-writes. On an H200 a step of one channel
//! took 54 ms where its forward and backward took 16 (BENCHMARKS.md). The transposed map,
//! built on the host from the same taps, turns that into a gather of one thread per input
//! value: the same op as the forward.
//!
//! [`TapOps`] is a backend extension: by default (the GPUs) burn's ops forward and the
//! transposed map's gathers backward; on the CPU, loops over the taps (the backward a scatter,
//! which a CPU does well); a backward of its own under autodiff.

use std::sync::Arc;

use crate::kernels::{planes, tensor, values};

use burn::{
    backend::{
        Autodiff, Backend, TensorMetadata,
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind},
        },
        backend_extension,
        flex::FlexTensor,
        tensor::{FloatTensor, IntTensor},
    },
    tensor::{Int, Shape, Tensor, TensorData},
};

/// The taps of a sparse map from `[rows, inputs]` to `[rows, outputs]`: output `p` of a row is
/// `Σ_j weight[j][p] · x[index[j][p]]`, `j < taps`, stored tap-major (`index[j * outputs + p]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    index: Arc<Vec<i32>>,
    weight: Arc<Vec<f32>>,
    taps: usize,
    inputs: usize,
    /// Inputs `0..tracked` take a gradient; the rest are constants (a fill value, say), whose
    /// taps the transposed map leaves out.
    tracked: usize,
}

impl Taps {
    /// Taps from `index` and `weight` (`taps * outputs` each, tap-major) over `inputs` values,
    /// of which the first `tracked` need a gradient.
    ///
    /// # Panics
    /// If the lengths disagree or an index is outside `0..inputs`.
    pub fn new(index: Vec<i32>, weight: Vec<f32>, taps: usize, inputs: usize, tracked: usize) -> Self {
        assert!(
            taps > 0 && index.len() == weight.len() && index.len().is_multiple_of(taps),
            "taps: {} indices, {} weights, {taps} per output",
            index.len(),
            weight.len()
        );
        assert!(index.iter().all(|&i| (0..inputs as i64).contains(&(i as i64))), "taps: an index is outside 0..{inputs}");
        Self { index: Arc::new(index), weight: Arc::new(weight), taps, inputs, tracked: tracked.min(inputs) }
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.index.len() / self.taps
    }

    /// The transposed map (from `[rows, outputs]` to `[rows, inputs]`): each tracked input
    /// gathers the outputs it fed, with the same weights; constant inputs get zero. Taps of
    /// weight zero are left out; inputs with fewer than the most taps are padded with taps of
    /// weight zero at index 0. Each input's taps keep the forward's order (tap, then output).
    pub fn transposed(&self) -> Taps {
        let (n, m) = (self.outputs(), self.inputs);
        let live = |i: usize| self.weight[i] != 0.0 && (self.index[i] as usize) < self.tracked;
        let mut count = vec![0usize; m];
        for i in (0..self.index.len()).filter(|&i| live(i)) {
            count[self.index[i] as usize] += 1;
        }
        let taps = count.iter().copied().max().unwrap_or(0).max(1);
        let (mut index, mut weight) = (vec![0i32; taps * m], vec![0f32; taps * m]);
        count.fill(0);
        for i in (0..self.index.len()).filter(|&i| live(i)) {
            let q = self.index[i] as usize;
            let slot = count[q] * m + q;
            index[slot] = (i % n) as i32;
            weight[slot] = self.weight[i];
            count[q] += 1;
        }
        Taps { index: Arc::new(index), weight: Arc::new(weight), taps, inputs: n, tracked: n }
    }
}

/// The map, dispatched by burn to the backend a tensor lives on.
#[backend_extension(Flex, Cube: cfg(feature = "wgpu"), Autodiff)]
pub trait TapOps: Backend {
    /// `x` `[rows, inputs]` through `taps` (whose `index` and `weight` are also given as
    /// tensors on `x`'s device, `[taps * outputs]` and `[1, taps, outputs]`): `[rows, outputs]`.
    fn taps(x: FloatTensor<Self>, index: IntTensor<Self>, weight: FloatTensor<Self>, taps: Taps) -> FloatTensor<Self> {
        let rows = x.shape()[0];
        let n = taps.outputs();
        let gathered = Self::float_reshape(Self::float_select(x, 1, index), Shape::new([rows, taps.taps, n]));
        let summed = Self::float_sum_dim(Self::float_mul(gathered, weight), 1);
        Self::float_reshape(summed, Shape::new([rows, n]))
    }

    /// The gradient of [`TapOps::taps`] with respect to `x`, from `grad` `[rows, outputs]`:
    /// `[rows, inputs]`, zero on the constant inputs. By default the transposed map's gathers
    /// (its taps built on the host, uploaded to `grad`'s device, its index as `index`'s dtype).
    fn taps_backward(grad: FloatTensor<Self>, index: IntTensor<Self>, taps: Taps) -> FloatTensor<Self> {
        let t = taps.transposed();
        let (device, n) = (grad.device(), t.outputs());
        let index = Self::int_from_data(TensorData::new(t.index.to_vec(), [t.taps * n]).convert_dtype(index.dtype()), &device);
        let weight = Self::float_from_data(TensorData::new(t.weight.to_vec(), [1, t.taps, n]).convert_dtype(grad.dtype()), &device);
        Self::taps(grad, index, weight, t)
    }
}

/// On the CPU, loops over each row's taps: the forward reads them, the backward adds each
/// output's gradient into the inputs it read (a scatter, which a CPU does well, in place of
/// the transposed map's longer, padded gathers: 10-50% slower per patterns step here).
impl TapOps for burn::backend::Flex {
    fn taps(x: FlexTensor, _: FlexTensor, _: FlexTensor, taps: Taps) -> FlexTensor {
        let m = taps.inputs;
        let n = taps.outputs();
        let x = values(&x);
        let rows = x.len() / m;
        let mut out = vec![0.0; rows * n];
        planes(&mut out, n, |r, o| {
            let x = &x[r * m..(r + 1) * m];
            for (index, weight) in taps.index.chunks(n).zip(taps.weight.chunks(n)) {
                for ((o, &i), &w) in o.iter_mut().zip(index).zip(weight) {
                    *o += w * x[i as usize];
                }
            }
        });
        tensor(out, [rows, n])
    }

    fn taps_backward(grad: FlexTensor, _: FlexTensor, taps: Taps) -> FlexTensor {
        let m = taps.inputs;
        let n = taps.outputs();
        let g = values(&grad);
        let rows = g.len() / n;
        let mut out = vec![0.0; rows * m];
        planes(&mut out, m, |r, o| {
            let g = &g[r * n..(r + 1) * n];
            for (index, weight) in taps.index.chunks(n).zip(taps.weight.chunks(n)) {
                for ((&i, &w), &g) in index.iter().zip(weight).zip(g) {
                    o[i as usize] += w * g;
                }
            }
            o[taps.tracked..].fill(0.0);
        });
        tensor(out, [rows, m])
    }
}

#[cfg(feature = "wgpu")]
impl TapOps for burn::backend::Cube {}

#[derive(Debug)]
struct TapsBackward;

impl<B: Backend + TapOps> Backward<B, 1> for TapsBackward {
    /// The forward's index on the device (the backward's index takes its dtype), and its taps.
    type State = (IntTensor<B>, Taps);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            let (index, taps) = ops.state;
            grads.register::<B>(node.id, B::taps_backward(grad, index, taps));
        }
    }
}

impl<B: Backend + TapOps, C: CheckpointStrategy> TapOps for Autodiff<B, C> {
    fn taps(x: FloatTensor<Self>, index: IntTensor<Self>, weight: FloatTensor<Self>, taps: Taps) -> FloatTensor<Self> {
        match TapsBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::taps(x.into_primitive(), index.clone(), weight.into_primitive(), taps.clone());
                prep.finish((index, taps), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::taps(x.into_primitive(), index, weight.into_primitive(), taps)),
        }
    }

    fn taps_backward(grad: FloatTensor<Self>, index: IntTensor<Self>, taps: Taps) -> FloatTensor<Self> {
        // Second-order gradients are not needed: the result is a constant.
        FloatTensor::<Self>::new(B::taps_backward(grad.into_primitive(), index, taps))
    }
}

/// `x` through `taps`; under autodiff its backward is the transposed map, also gathers.
///
/// # Shapes
/// `x`: `[rows, inputs]`; returns `[rows, outputs]`
pub fn apply(x: Tensor<2>, taps: Taps) -> Tensor<2> {
    let device = x.device();
    let n = taps.outputs();
    let index = Tensor::<1, Int>::from_data(TensorData::new(taps.index.to_vec(), [taps.taps * n]), &device);
    let weight = Tensor::<3>::from_data(TensorData::new(taps.weight.to_vec(), [1, taps.taps, n]), &device);
    Tensor::from_dispatch(<burn::backend::Dispatch as TapOps>::taps(x.into_dispatch(), index.into_dispatch(), weight.into_dispatch(), taps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transposed_map_gathers_what_each_input_fed_and_skips_constants_and_zero_weights() {
        // Two outputs over three inputs, two taps each: y0 = 0.5 x0 + 0.5 x2, y1 = 1 x0 + 0 x1;
        // x2 is a constant.
        let t = Taps::new(vec![0, 0, 2, 1], vec![0.5, 1.0, 0.5, 0.0], 2, 3, 2);
        let tt = t.transposed();
        assert_eq!((tt.taps, tt.inputs, tt.outputs()), (2, 2, 3));
        // Input 0 gathers output 0 (0.5) then output 1 (1.0); inputs 1 and 2 nothing.
        assert_eq!(*tt.index, vec![0, 0, 0, 1, 0, 0]);
        assert_eq!(*tt.weight, vec![0.5, 0.0, 0.0, 1.0, 0.0, 0.0]);
        // Transposing twice gives the forward's live taps back.
        let back = tt.transposed();
        assert_eq!(back.outputs(), 2);
        assert_eq!(*back.weight, vec![0.5, 1.0]);
        assert_eq!(*back.index, vec![0, 0]);
    }

    #[test]
    #[should_panic(expected = "outside 0..3")]
    fn an_index_outside_the_inputs_is_refused() {
        Taps::new(vec![0, 3], vec![1.0, 1.0], 1, 3, 3);
    }
}
