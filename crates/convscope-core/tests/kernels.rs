//! convscope's own CPU kernels against burn's ops: the depthwise, the 1x1 and the direct
//! (first-layer) convolution (forward, and the gradients with respect to the input, the weight
//! and the bias) on every kernel size, stride, padding and channel count the bundled and
//! imported models use, the clamp and its backward, finite differences, and the same function
//! on wgpu (where burn's ops run).

mod common;

use burn::tensor::{Device, Tensor, TensorData, module::conv2d, ops::ConvOptions};
use common::{XorShift, devices, to_vec};
use convscope_core::kernels::{self, Clamp, Conv, Geometry};

const RELU6: Clamp = Clamp { min: 0.0, max: 6.0 };

/// `(n, c, [h, w], kernel, stride, padding)`: EfficientNet-Lite0's and MobileNetV2's depthwise
/// layers (3x3 and 5x5, stride 1 and 2, TF-same asymmetric padding at stride 2), the
/// torchvision zoo's (symmetric padding, 7x7 in ConvNeXt), and odd sizes; narrow and wide
/// planes, channel counts that fill blocks of 16 in part.
fn cases() -> Vec<(usize, usize, [usize; 2], Geometry)> {
    let g = |k: usize, s: usize, p: [[usize; 2]; 2]| Geometry { kernel: [k, k], stride: [s, s], padding: p };
    vec![
        (1, 32, [16, 16], g(3, 1, [[1, 1], [1, 1]])),
        (1, 96, [14, 14], g(3, 2, [[0, 1], [0, 1]])),
        (2, 8, [15, 15], g(3, 2, [[1, 1], [1, 1]])),
        (1, 24, [12, 12], g(5, 2, [[1, 2], [1, 2]])),
        (1, 40, [7, 7], g(5, 1, [[2, 2], [2, 2]])),
        (2, 16, [9, 9], g(7, 1, [[3, 3], [3, 3]])),
        (1, 3, [11, 8], Geometry { kernel: [3, 5], stride: [1, 2], padding: [[0, 2], [2, 1]] }),
        (1, 2, [5, 5], g(3, 1, [[0, 0], [0, 0]])),
        // Rows wider than a block of lanes run on the row kernels, the rest on the blocked ones.
        (1, 5, [21, 37], g(3, 1, [[1, 1], [1, 1]])),
        (2, 3, [18, 34], g(5, 2, [[1, 2], [1, 2]])),
        (1, 4, [9, 41], Geometry { kernel: [3, 5], stride: [1, 2], padding: [[0, 2], [2, 1]] }),
        // Stride 1 on wide rows, whose input gradient is the forward pass of the flipped
        // kernel: asymmetric padding up to the kernel's size less one, none on a side.
        (2, 3, [10, 40], Geometry { kernel: [3, 5], stride: [1, 1], padding: [[0, 2], [4, 1]] }),
        (1, 2, [17, 19], g(5, 1, [[0, 0], [0, 0]])),
        // Stride 2 on wide rows (the gradient spread out, then the same), even and odd sizes;
        // no padding on an even size (padded after by the kernel's size on the transposed
        // side), padding after as large as the kernel; and a side padded by the kernel's size
        // before, which keeps the gather kernel.
        (2, 3, [20, 33], g(3, 2, [[1, 1], [1, 1]])),
        (1, 2, [23, 24], g(5, 2, [[1, 2], [2, 1]])),
        (1, 2, [21, 22], g(3, 2, [[0, 0], [0, 0]])),
        (1, 2, [21, 21], g(3, 2, [[0, 3], [0, 3]])),
        (1, 2, [6, 20], g(3, 2, [[3, 0], [0, 3]])),
    ]
}

struct Run {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
}

/// The layer, then `sum(y * r)` differentiated with respect to all three inputs.
fn run(device: &Device, mine: bool, case: &(usize, usize, [usize; 2], Geometry), clamp: Option<Clamp>, seed: u64) -> Run {
    let (n, c, input, g) = *case;
    run_conv(device, mine, (n, c, c, input, Conv::Depthwise(g)), clamp, seed)
}

/// `(n, c, o, [h, w], conv)`
type Case = (usize, usize, usize, [usize; 2], Conv);

fn run_conv(device: &Device, mine: bool, (n, c, o, [h, w], conv): Case, clamp: Option<Clamp>, seed: u64) -> Run {
    let mut rng = XorShift(seed);
    let scale = if clamp.is_some() { 6.0 } else { 1.0 };
    let (w_shape, options) = match conv {
        Conv::Depthwise(g) => ([c, 1, g.kernel[0], g.kernel[1]], ConvOptions::new_with_padding(g.stride, g.padding.map(|[a, e]| (a, e)), [1, 1], c)),
        Conv::Pointwise => ([o, c, 1, 1], ConvOptions::new([1, 1], [0, 0], [1, 1], 1)),
        Conv::Direct(g) => ([o, c, g.kernel[0], g.kernel[1]], ConvOptions::new_with_padding(g.stride, g.padding.map(|[a, e]| (a, e)), [1, 1], 1)),
    };
    let x = Tensor::<4>::from_data(TensorData::new(rng.vec(n * c * h * w, scale), [n, c, h, w]), device).require_grad();
    let wt = Tensor::<4>::from_data(TensorData::new(rng.vec(w_shape.iter().product(), 1.0), w_shape), device).require_grad();
    let b = Tensor::<1>::from_data(TensorData::new(rng.vec(o, 1.0), [o]), device).require_grad();
    let y = if mine {
        kernels::conv2d(x.clone(), wt.clone(), Some(b.clone()), conv, clamp)
    } else {
        let y = conv2d(x.clone(), wt.clone(), Some(b.clone()), options);
        match clamp {
            Some(k) => y.clamp(k.min, k.max),
            None => y,
        }
    };
    let r = Tensor::<4>::from_data(TensorData::new(rng.vec(y.shape().num_elements(), 1.0), y.dims()), device);
    let grads = (y.clone() * r).sum().backward();
    let grad = |t: Tensor<4>| to_vec(t.grad(&grads).expect("tracked"));
    Run { y: to_vec(y.inner()), dx: grad(x.clone()), dw: grad(wt.clone()), db: to_vec(b.grad(&grads).expect("tracked")) }
}

fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (a, e)) in got.iter().zip(want).enumerate() {
        assert!((a - e).abs() <= rel * scale, "{what}[{i}]: {a} vs {e} (scale {scale})");
    }
}

#[test]
fn depthwise_forward_and_every_gradient_equal_burns() {
    // On pools of 1, 2 and 3 threads: one image's rows are cut into a band per thread, for the
    // forward pass and for the input gradient at stride 1 (the same kernel).
    for threads in 1..=3 {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a test pool").install(depthwise_equals_burns);
    }
}

fn depthwise_equals_burns() {
    let device = Device::flex().autodiff();
    for (i, case) in cases().iter().enumerate() {
        for clamp in [None, Some(RELU6)] {
            let what = format!("case {i} {case:?} clamp {clamp:?}");
            let (mine, burn) = (run(&device, true, case, clamp, 7 + i as u64), run(&device, false, case, clamp, 7 + i as u64));
            assert_close(&format!("{what}: y"), &mine.y, &burn.y, 1e-5);
            assert_close(&format!("{what}: dx"), &mine.dx, &burn.dx, 1e-5);
            assert_close(&format!("{what}: dw"), &mine.dw, &burn.dw, 1e-5);
            assert_close(&format!("{what}: db"), &mine.db, &burn.db, 1e-5);
            if clamp.is_some() {
                let clamped = mine.y.iter().filter(|&&v| v == 0.0 || v == 6.0).count();
                assert!(clamped > 0 && clamped < mine.y.len(), "{what}: the clamp must cut some values and pass others");
            }
        }
    }
}

#[test]
fn pointwise_forward_and_every_gradient_equal_burns() {
    let device = Device::flex().autodiff();
    // Lite0's expansions and projections, and a batch of two.
    for (i, case) in [(1, 16, 96, [14, 14], Conv::Pointwise), (1, 96, 24, [7, 7], Conv::Pointwise), (2, 24, 8, [5, 9], Conv::Pointwise)].into_iter().enumerate()
    {
        for clamp in [None, Some(RELU6)] {
            let what = format!("case {i} {case:?} clamp {clamp:?}");
            let (mine, burn) = (run_conv(&device, true, case, clamp, 40 + i as u64), run_conv(&device, false, case, clamp, 40 + i as u64));
            assert_close(&format!("{what}: y"), &mine.y, &burn.y, 1e-5);
            assert_close(&format!("{what}: dx"), &mine.dx, &burn.dx, 1e-5);
            assert_close(&format!("{what}: dw"), &mine.dw, &burn.dw, 1e-5);
            assert_close(&format!("{what}: db"), &mine.db, &burn.db, 1e-5);
        }
    }
}

#[test]
fn direct_forward_and_every_gradient_equal_burns() {
    let device = Device::flex().autodiff();
    let g = |k: usize, s: usize, p: [[usize; 2]; 2]| Geometry { kernel: [k, k], stride: [s, s], padding: p };
    // EfficientNet-Lite0's stem (TF-same at stride 2), a grey first layer, odd sizes and
    // channel counts, a batch of two.
    for (i, case) in [
        (1, 3, 32, [30, 28], Conv::Direct(g(3, 2, [[0, 1], [0, 1]]))),
        (2, 1, 6, [12, 9], Conv::Direct(g(5, 1, [[2, 2], [2, 2]]))),
        (1, 4, 20, [8, 23], Conv::Direct(Geometry { kernel: [3, 5], stride: [1, 2], padding: [[0, 2], [2, 1]] })),
    ]
    .into_iter()
    .enumerate()
    {
        for clamp in [None, Some(RELU6)] {
            let what = format!("case {i} {case:?} clamp {clamp:?}");
            let (mine, burn) = (run_conv(&device, true, case, clamp, 60 + i as u64), run_conv(&device, false, case, clamp, 60 + i as u64));
            assert_close(&format!("{what}: y"), &mine.y, &burn.y, 1e-5);
            assert_close(&format!("{what}: dx"), &mine.dx, &burn.dx, 1e-5);
            assert_close(&format!("{what}: dw"), &mine.dw, &burn.dw, 1e-5);
            assert_close(&format!("{what}: db"), &mine.db, &burn.db, 1e-5);
        }
    }
}

#[test]
fn depthwise_gradients_match_finite_differences() {
    let device = Device::flex();
    let (n, c, [h, w], g) = (1, 2, [6, 7], Geometry { kernel: [3, 3], stride: [2, 2], padding: [[0, 1], [1, 1]] });
    let mut rng = XorShift(99);
    let (xv, wv, bv) = (rng.vec(n * c * h * w, 1.0), rng.vec(c * 9, 1.0), rng.vec(c, 1.0));
    let [oh, ow] = g.output([h, w]).unwrap();
    let rv = rng.vec(n * c * oh * ow, 1.0);
    // f64 sum of the f32 layer, so the differences are not lost to rounding.
    let loss = |xv: &[f32], wv: &[f32]| -> f64 {
        let x = Tensor::<4>::from_data(TensorData::new(xv.to_vec(), [n, c, h, w]), &device);
        let wt = Tensor::<4>::from_data(TensorData::new(wv.to_vec(), [c, 1, 3, 3]), &device);
        let b = Tensor::<1>::from_data(TensorData::new(bv.clone(), [c]), &device);
        to_vec(kernels::conv2d(x, wt, Some(b), Conv::Depthwise(g), None)).iter().zip(&rv).map(|(y, r)| (*y as f64) * (*r as f64)).sum()
    };
    let ad = device.clone().autodiff();
    let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, h, w]), &ad).require_grad();
    let wt = Tensor::<4>::from_data(TensorData::new(wv.clone(), [c, 1, 3, 3]), &ad).require_grad();
    let b = Tensor::<1>::from_data(TensorData::new(bv.clone(), [c]), &ad);
    let y = kernels::conv2d(x.clone(), wt.clone(), Some(b), Conv::Depthwise(g), None);
    let grads = (y * Tensor::<4>::from_data(TensorData::new(rv.clone(), [n, c, oh, ow]), &ad)).sum().backward();
    let (dx, dw) = (to_vec(x.grad(&grads).unwrap()), to_vec(wt.grad(&grads).unwrap()));
    let eps = 1e-2f32;
    for i in 0..xv.len() {
        let (mut up, mut down) = (xv.clone(), xv.clone());
        up[i] += eps;
        down[i] -= eps;
        let fd = (loss(&up, &wv) - loss(&down, &wv)) / (2.0 * eps as f64);
        assert!((fd - dx[i] as f64).abs() < 1e-3, "dx[{i}]: {} vs finite difference {fd}", dx[i]);
    }
    for i in 0..wv.len() {
        let (mut up, mut down) = (wv.clone(), wv.clone());
        up[i] += eps;
        down[i] -= eps;
        let fd = (loss(&xv, &up) - loss(&xv, &down)) / (2.0 * eps as f64);
        assert!((fd - dw[i] as f64).abs() < 1e-3, "dw[{i}]: {} vs finite difference {fd}", dw[i]);
    }
}

#[test]
fn an_untracked_weight_gets_no_gradient_and_the_input_gradient_is_unchanged() {
    let device = Device::flex().autodiff();
    let case = cases()[1];
    let (n, c, [h, w], g) = case;
    let mut rng = XorShift(5);
    let x = Tensor::<4>::from_data(TensorData::new(rng.vec(n * c * h * w, 1.0), [n, c, h, w]), &device).require_grad();
    let wt = Tensor::<4>::from_data(TensorData::new(rng.vec(c * 9, 1.0), [c, 1, 3, 3]), &device);
    let y = kernels::conv2d(x.clone(), wt.clone(), None, Conv::Depthwise(g), Some(RELU6));
    let grads = y.sum().backward();
    assert!(wt.grad(&grads).is_none());
    let options = ConvOptions::new_with_padding(g.stride, g.padding.map(|[a, e]| (a, e)), [1, 1], c);
    let x2 = x.clone().detach().require_grad();
    let grads2 = conv2d(x2.clone(), wt, None, options).clamp(0.0, 6.0).sum().backward();
    assert_close("dx", &to_vec(x.grad(&grads).unwrap()), &to_vec(x2.grad(&grads2).unwrap()), 1e-5);
}

#[test]
fn the_clamp_and_its_backward_equal_burns() {
    let device = Device::flex().autodiff();
    let mut rng = XorShift(3);
    let v = rng.vec(4 * 50, 8.0);
    for k in [RELU6, Clamp { min: 0.0, max: f32::INFINITY }, Clamp { min: -1.0, max: 2.5 }] {
        let x = Tensor::<2>::from_data(TensorData::new(v.clone(), [4, 50]), &device).require_grad();
        let x2 = x.clone().detach().require_grad();
        let r = Tensor::<2>::from_data(TensorData::new(rng.vec(200, 1.0), [4, 50]), &device);
        let (a, e) = (kernels::clamp(x.clone(), k), x2.clone().clamp_min(k.min).clamp_max(k.max));
        assert_eq!(to_vec(a.clone().inner()), to_vec(e.clone().inner()), "{k:?}");
        let (ga, ge) = ((a * r.clone()).sum().backward(), (e * r).sum().backward());
        assert_eq!(to_vec(x.grad(&ga).unwrap()), to_vec(x2.grad(&ge).unwrap()), "{k:?}");
    }
}

/// The clamp's backward masks a gradient it holds alone in place; one that is shared (kept
/// elsewhere too) it must copy, leaving the other holder's values as they were.
#[test]
fn the_clamps_backward_leaves_a_shared_gradient_as_it_was() {
    use burn::backend::{Flex, flex::FlexTensor};
    use kernels::KernelOps;
    let tensor = |v: [f32; 5]| FlexTensor::from_data(TensorData::new(v.to_vec(), [5]));
    let y = tensor([-1.0, 0.5, 7.0, 3.0, 6.0]);
    let g = tensor([1.0, 2.0, 3.0, 4.0, 5.0]);
    let values = |t: FlexTensor| t.into_data().try_to_vec::<f32>().unwrap();
    let kept = g.clone();
    assert_eq!(values(Flex::clamp_backward(y.clone(), g, RELU6)), [0.0, 2.0, 0.0, 4.0, 0.0]);
    assert_eq!(values(kept), [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(values(Flex::clamp_backward(y, tensor([1.0, 2.0, 3.0, 4.0, 5.0]), RELU6)), [0.0, 2.0, 0.0, 4.0, 0.0]);
}

#[test]
fn on_every_device_the_layer_is_the_same() {
    let (n, c, input, g) = cases()[3];
    let stem = Conv::Direct(Geometry { kernel: [3, 3], stride: [2, 2], padding: [[0, 1], [0, 1]] });
    for case in [(n, c, c, input, Conv::Depthwise(g)), (1, 16, 24, [6, 6], Conv::Pointwise), (1, 3, 16, [10, 12], stem)] {
        let reference = run_conv(&Device::flex().autodiff(), false, case, Some(RELU6), 11);
        for (name, device) in devices() {
            let got = run_conv(&device.autodiff(), true, case, Some(RELU6), 11);
            assert_close(&format!("{name} {case:?}: y"), &got.y, &reference.y, 1e-4);
            assert_close(&format!("{name} {case:?}: dx"), &got.dx, &reference.dx, 1e-4);
            assert_close(&format!("{name} {case:?}: dw"), &got.dw, &reference.dw, 1e-4);
        }
    }
}
