//! Parameterizations: how the numbers the optimizer changes become an image. Each piece is
//! small and takes tensors in and gives tensors out: a spatial basis (plain pixels, or a
//! [`fourier`] spectrum), optional colour [`color`] decorrelation, then a squash to valid
//! pixel values. A [`Param`] chains them.

pub mod color;
pub mod fourier;

use burn::tensor::{Device, Tensor, TensorData, activation::sigmoid};

use crate::{Error, Result, rng::Rng};
pub use fourier::Fourier;

/// The spatial basis the parameters live in.
#[derive(Debug, Clone)]
pub enum Spatial {
    /// One parameter per pixel and channel.
    Pixel,
    /// A scaled Fourier spectrum (Lucid's default).
    Fourier(Box<Fourier>),
}

/// How values become valid pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Squash {
    /// `1 / (1 + e^-x)`, into (0, 1) (Lucid's default).
    Sigmoid,
    /// Clamped to [0, 1].
    Clamp,
    /// Left as they are but scaled into the L2 ball of this radius, per image
    /// (`x * min(1, r / |x|)`): for constrained problems, not for pictures.
    L2Ball(f32),
}

/// The whole chain: parameters in, `[batch, C, H, W]` image out.
#[derive(Debug, Clone)]
pub struct Param {
    /// Spatial basis.
    pub spatial: Spatial,
    /// Colour decorrelation (3-channel images only).
    pub decorrelate: bool,
    /// Final squash.
    pub squash: Squash,
    /// Image channels, height and width.
    pub shape: [usize; 3],
    device: Device,
}

/// Which spatial basis to build, by name (for the CLI and the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// [`Spatial::Pixel`].
    Pixel,
    /// [`Spatial::Fourier`] with decay 1.
    Fourier,
}

impl Basis {
    /// `pixel` or `fft`.
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "pixel" => Ok(Basis::Pixel),
            "fft" | "fourier" => Ok(Basis::Fourier),
            _ => Err(Error::BadInput(format!("unknown parameterization `{name}`; use `fft` or `pixel`"))),
        }
    }
}

impl Param {
    /// A parameterization of `channels x size x size` images: `basis`, colour decorrelation
    /// when asked and the image has 3 channels, and `squash`.
    pub fn new(basis: Basis, decorrelate: bool, squash: Squash, [c, h, w]: [usize; 3], device: &Device) -> Self {
        let spatial = match basis {
            Basis::Pixel => Spatial::Pixel,
            Basis::Fourier => Spatial::Fourier(Box::new(Fourier::new(h, w, 1.0, device))),
        };
        Self { spatial, decorrelate: decorrelate && c == 3, squash, shape: [c, h, w], device: device.clone() }
    }

    /// Shape of the parameters for `batch` images.
    pub fn param_shape(&self, batch: usize) -> [usize; 4] {
        let [c, h, w] = self.shape;
        match &self.spatial {
            Spatial::Pixel => [batch, c, h, w],
            Spatial::Fourier(f) => f.shape(batch, c),
        }
    }

    /// Gaussian parameters with standard deviation `sd` (Lucid: 0.01), from `rng`.
    pub fn noise(&self, batch: usize, sd: f32, rng: &mut Rng) -> Tensor<4> {
        let shape = self.param_shape(batch);
        let v: Vec<f32> = rng.normals(shape.iter().product()).into_iter().map(|x| x * sd).collect();
        Tensor::from_data(TensorData::new(v, shape), &self.device)
    }

    /// The image of `params`.
    ///
    /// # Shapes
    /// `params`: [`Param::param_shape`]; returns `[batch, C, H, W]`
    pub fn image(&self, params: Tensor<4>) -> Tensor<4> {
        let x = match &self.spatial {
            Spatial::Pixel => params,
            Spatial::Fourier(f) => f.image(params),
        };
        let x = if self.decorrelate { color::decorrelated(x, &self.device) } else { x };
        match self.squash {
            Squash::Sigmoid => sigmoid(x),
            Squash::Clamp => x.clamp(0.0, 1.0),
            Squash::L2Ball(r) => {
                let [b, c, h, w] = x.dims();
                let norm = x.clone().reshape([b, c * h * w]).powf_scalar(2.0).sum_dim(1).sqrt();
                let factor = (norm.recip() * r).clamp_max(1.0).reshape([b, 1, 1, 1]);
                x * factor
            }
        }
    }

    /// Parameters whose image is `pixels` (values in [0, 1], `batch * C * H * W`, plane by
    /// plane), so an optimization can start from a user's picture. Sigmoid inputs are
    /// clipped to [0.01, 0.99] first, so the logits stay finite.
    pub fn from_pixels(&self, pixels: &[f32]) -> Result<Tensor<4>> {
        let [c, h, w] = self.shape;
        let plane = h * w;
        if pixels.is_empty() || !pixels.len().is_multiple_of(c * plane) {
            return Err(Error::BadInput(format!("{} values are not whole {c}x{h}x{w} images", pixels.len())));
        }
        let batch = pixels.len() / (c * plane);
        let mut x: Vec<f32> = match self.squash {
            Squash::Sigmoid => pixels.iter().map(|p| p.clamp(0.01, 0.99)).map(|p| (p / (1.0 - p)).ln()).collect(),
            _ => pixels.to_vec(),
        };
        if self.decorrelate {
            x = color::correlated(&x, plane);
        }
        let v = match &self.spatial {
            Spatial::Pixel => x,
            Spatial::Fourier(f) => f.spectrum(&x),
        };
        Ok(Tensor::from_data(TensorData::new(v, self.param_shape(batch)), &self.device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pixels_round_trips_through_every_chain() {
        let d = Device::flex();
        let pixels: Vec<f32> = (0..2 * 3 * 6 * 6).map(|i| 0.05 + 0.9 * ((i * 29 % 17) as f32 / 16.0)).collect();
        for basis in [Basis::Pixel, Basis::Fourier] {
            for decorrelate in [false, true] {
                let p = Param::new(basis, decorrelate, Squash::Sigmoid, [3, 6, 6], &d);
                let img = p.image(p.from_pixels(&pixels).unwrap()).into_data().try_to_vec::<f32>().unwrap();
                for (a, b) in pixels.iter().zip(&img) {
                    assert!((a - b).abs() < 1e-4, "{basis:?} {decorrelate}: {a} vs {b}");
                }
            }
        }
        let p = Param::new(Basis::Pixel, false, Squash::Sigmoid, [3, 6, 6], &d);
        assert!(p.from_pixels(&[0.5; 10]).unwrap_err().to_string().contains("not whole 3x6x6 images"));
    }

    #[test]
    fn l2_ball_scales_only_outside() {
        let d = Device::flex();
        let p = Param::new(Basis::Pixel, false, Squash::L2Ball(1.0), [1, 1, 2], &d);
        let x = Tensor::<4>::from_data(TensorData::new(vec![3.0f32, 4.0, 0.3, 0.4], [2, 1, 1, 2]), &d);
        let v = p.image(x).into_data().try_to_vec::<f32>().unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6 && (v[2] - 0.3).abs() < 1e-6 && (v[3] - 0.4).abs() < 1e-6);
    }
}
