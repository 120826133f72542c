//! Occlusion: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV
//! 2014, Sec. 4.2: a grey square (0 in normalised input space, the mean colour) slides over
//! the image; each pixel gets the mean drop of the target's score over the squares that cover
//! it (as Captum's `Occlusion`), then ReLU: where hiding the image lowers the score. Pixels
//! no square covers (when the stride does not divide the image) get 0.

use burn::tensor::{Tensor, TensorData, activation::relu, module::conv_transpose2d, ops::ConvTransposeOptions};

use crate::{
    Error, Result,
    attention::{Explain, Method, MethodInfo, Resolution},
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

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let [_, _, h, w] = x.input.dims();
        let win = if x.options.window == 0 { (h.min(w) / 7).max(1) } else { x.options.window };
        let stride = if x.options.stride == 0 { (win / 2).max(1) } else { x.options.stride };
        if win > h.min(w) {
            return Err(Error::BadInput(format!("occlusion window {win} is larger than the {h}x{w} input")));
        }
        let (ny, nx) = ((h - win) / stride + 1, (w - win) / stride + 1);
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
