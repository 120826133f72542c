//! The sparse map (`convscope_core::sparse`, the patterns' resampling) against the same map
//! composed of burn's ops (a `select`, a product and a sum, differentiated by burn), on every
//! device: forward and gradient, with repeated indices, taps of weight zero and a constant
//! last input.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::{XorShift, devices, to_vec};
use convscope_core::sparse::{self, Taps};

const ROWS: usize = 3;
const INPUTS: usize = 41; // the last one a constant (a fill value)
const OUTPUTS: usize = 97;
const TAPS: usize = 4;

fn taps() -> (Vec<i32>, Vec<f32>) {
    let mut r = XorShift(11);
    let index: Vec<i32> = (0..TAPS * OUTPUTS).map(|_| ((r.next_f32() + 1.0) / 2.0 * INPUTS as f32) as i32 % INPUTS as i32).collect();
    // Every fifth weight zero, as bilinear taps on a pixel centre are.
    let weight: Vec<f32> = (0..TAPS * OUTPUTS).map(|i| if i % 5 == 0 { 0.0 } else { r.next_f32() }).collect();
    (index, weight)
}

/// The map's output and the gradient of `Σ y · r` with respect to `x`, through `map`.
fn run(device: &burn::tensor::Device, map: impl Fn(Tensor<2>) -> Tensor<2>) -> (Vec<f32>, Vec<f32>) {
    let ad = device.clone().autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(XorShift(3).vec(ROWS * INPUTS, 1.0), [ROWS, INPUTS]), &ad).require_grad();
    let r = Tensor::<2>::from_data(TensorData::new(XorShift(5).vec(ROWS * OUTPUTS, 1.0), [ROWS, OUTPUTS]), &ad);
    let y = map(x.clone());
    let loss = (y.clone() * r).sum();
    let grads = loss.backward();
    (to_vec(y), to_vec(x.grad(&grads).expect("x takes a gradient")))
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}[{i}]: {g} against {w}");
    }
}

#[test]
fn the_sparse_map_and_its_gathered_backward_match_burns_select_and_scatter() {
    let (index, weight) = taps();
    assert!(index.iter().any(|&i| i as usize == INPUTS - 1), "some taps read the constant");
    for (name, device) in devices() {
        let (y, dx) = run(&device, |x| sparse::apply(x, Taps::new(index.clone(), weight.clone(), TAPS, INPUTS, INPUTS - 1)));
        let (y_ref, dx_ref) = run(&device, |x| {
            let d = x.device();
            let i = Tensor::<1, Int>::from_data(TensorData::new(index.clone(), [TAPS * OUTPUTS]), &d);
            let w = Tensor::<3>::from_data(TensorData::new(weight.clone(), [1, TAPS, OUTPUTS]), &d);
            (x.select(1, i).reshape([ROWS, TAPS, OUTPUTS]) * w).sum_dim(1).reshape([ROWS, OUTPUTS])
        });
        close(&format!("{name}: forward"), &y, &y_ref);
        for row in 0..ROWS {
            let at = row * INPUTS;
            close(&format!("{name}: gradient, row {row}"), &dx[at..at + INPUTS - 1], &dx_ref[at..at + INPUTS - 1]);
            assert_eq!(dx[at + INPUTS - 1], 0.0, "{name}: the constant takes no gradient");
            assert_ne!(dx_ref[at + INPUTS - 1], 0.0, "burn's gradient of the constant is not zero, so the check above can fail");
        }
    }
}
