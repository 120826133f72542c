//! Occlusion: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV
//! 2014, Sec. 4.2: a grey square (0 in normalised input space, the mean colour) slides over
//! the image; each pixel gets the mean drop of the target's score over the squares that cover
//! it (as Captum's `Occlusion`), then ReLU: where hiding the image lowers the score. Pixels
//! no square covers (when the stride does not divide the image) get 0.

use burn::tensor::{Tensor, TensorData, activation::relu, module::conv_transpose2d, ops::ConvTransposeOptions};

use crate::{
    Error, Result,
    attention::{Cost, Explain, Method, MethodInfo, Options, Resolution},
};

/// Occlusion.
pub struct Occlusion;

impl Method for Occlusion {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "occlusion",
            name: "Occlusion",
            paper: "Zeiler & Fergus 2014, Sec. 4.2: score drop under a sliding grey square",
            resolution: Resolution::Input,
        }
    }

    fn cost(&self, o: &Options, [h, w]: [usize; 2]) -> Cost {
        // Every square, and the image itself.
        let (_, _, ny, nx) = grid(h, w, o);
        Cost { forward: ny * nx + 1, ..Cost::default() }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let [_, _, h, w] = x.input.dims();
        let (win, stride, ny, nx) = grid(h, w, &x.options);
        if win > h.min(w) {
            return Err(Error::BadInput(format!("occlusion window {win} is larger than the {h}x{w} input")));
        }
        let device = x.input.device();
        let full = x.scores(x.input.clone(), false)?;
        let mut drops = Vec::new();
        let step = x.options.batch.max(1);
        let n = ny * nx;
        for s in (0..n).step_by(step) {
            let e = (s + step).min(n);
            let mut mask = vec![1f32; (e - s) * h * w];
            for (j, p) in (s..e).enumerate() {
                let (y0, x0) = ((p / nx) * stride, (p % nx) * stride);
                for y in y0..y0 + win {
                    mask[j * h * w + y * w + x0..j * h * w + y * w + x0 + win].fill(0.0);
                }
            }
            let mask = Tensor::<4>::from_data(TensorData::new(mask, [e - s, 1, h, w]), &device);
            drops.push(full.clone() - x.scores(x.input.clone() * mask, false)?);
        }
        let drops = Tensor::cat(drops, 0).reshape([1, 1, ny, nx]);
        let ones = Tensor::<4>::ones([1, 1, win, win], &device);
        let options = ConvTransposeOptions::new([stride, stride], [0, 0], [0, 0], [1, 1], 1);
        let total = conv_transpose2d(drops, ones.clone(), None, options.clone());
        let cover = conv_transpose2d(Tensor::ones([1, 1, ny, nx], &device), ones, None, options);
        let [_, _, th, tw] = total.dims();
        let mean = (total / cover).reshape([th, tw]);
        let map = Tensor::<2>::zeros([h, w], &device).slice_assign([0..th, 0..tw], mean);
        Ok(relu(map))
    }
}

/// The squares on an `h` x `w` input: window, stride, and how many fit down and across (none
/// when the window is larger than the input).
fn grid(h: usize, w: usize, o: &Options) -> (usize, usize, usize, usize) {
    let win = if o.window == 0 { (h.min(w) / 7).max(1) } else { o.window };
    let stride = if o.stride == 0 { (win / 2).max(1) } else { o.stride };
    let fit = |n: usize| if win > n { 0 } else { (n - win) / stride + 1 };
    (win, stride, fit(h), fit(w))
}
