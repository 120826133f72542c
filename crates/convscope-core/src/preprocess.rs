//! From an image's pixels to the tensor a model takes.
//!
//! By default the whole image (no crop) is resized to the model's input size with an
//! antialiased bilinear filter (a triangle filter whose support widens when shrinking, like
//! PIL's `BILINEAR`); an image already at the input size is used as is. Transparent pixels are
//! composited over white; RGB is turned into grey (ITU-R 601 luma) for one-channel models.
//! Values in 0..255 are then normalised per channel as `(x - mean) / std`.

use burn::tensor::TensorData;
use image::{ImageBuffer, Rgb, imageops::FilterType};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a model wants its input: size, channels and normalisation (on 0..255 pixel values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Input height in pixels.
    pub height: usize,
    /// Input width in pixels.
    pub width: usize,
    /// Per-channel mean subtracted from 0..255 values (first `channels` entries used).
    pub mean: [f32; 3],
    /// Per-channel divisor applied after the mean.
    pub std: [f32; 3],
    /// The model takes its colour planes blue, green, red (OpenCV / Caffe order). `mean` and
    /// `std` are still given red, green, blue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bgr: bool,
}

/// A named normalisation: how a family of models wants pixel values (mean and std on
/// 0..255, red, green, blue).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Preset {
    /// Stable id (links, stored settings).
    pub id: &'static str,
    /// What a menu shows.
    pub label: &'static str,
    /// Per-channel mean.
    pub mean: [f32; 3],
    /// Per-channel divisor.
    pub std: [f32; 3],
}

/// The normalisations people's models use, ImageNet's (torchvision's) first.
pub const PRESETS: &[Preset] = &[
    Preset { id: "imagenet", label: "ImageNet mean/std (torchvision)", mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
    Preset { id: "minus-one-one", label: "values in [-1, 1]", mean: [127.5; 3], std: [127.5; 3] },
    Preset { id: "zero-one", label: "values in [0, 1]", mean: [0.0; 3], std: [255.0; 3] },
    Preset { id: "zero-255", label: "values in [0, 255]", mean: [0.0; 3], std: [1.0; 3] },
];

/// The preset with this mean and std (of the first `channels` values), if any.
pub fn preset_of(mean: &[f32; 3], std: &[f32; 3], channels: usize) -> Option<&'static Preset> {
    let n = channels.clamp(1, 3);
    let same = |a: &[f32; 3], b: &[f32; 3]| a[..n].iter().zip(&b[..n]).all(|(x, y)| (x - y).abs() < 1e-4);
    PRESETS.iter().find(|p| same(&p.mean, mean) && same(&p.std, std))
}

/// Per-channel values as a person writes them: `R, G, B`, or one number for every channel;
/// empty for none (the model's default). Returns the three values and how many were given.
pub fn per_channel(text: &str, what: &str) -> Result<Option<([f32; 3], usize)>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let parts: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| Error::BadInput(format!("{what}: `{}` is not a number", p.trim()))))
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [x] => Ok(Some(([*x; 3], 1))),
        [r, g, b] => Ok(Some(([*r, *g, *b], 3))),
        _ => Err(Error::BadInput(format!("{what}: give 3 numbers (R, G, B) or 1, separated by commas; got {}", parts.len()))),
    }
}

impl InputSpec {
    /// ImageNet mean/std (torchvision's, scaled to 0..255).
    pub fn imagenet(channels: usize, height: usize, width: usize) -> Self {
        Self { channels, height, width, mean: PRESETS[0].mean, std: PRESETS[0].std, bgr: false }
    }

    /// A small one-channel input (a digit, a sketch): the page offers its drawing pad.
    pub fn drawable(&self) -> bool {
        self.channels == 1 && self.height.max(self.width) <= 64
    }

    /// The source colour (0 red, 1 green, 2 blue) of the model's input plane `plane`.
    pub fn colour_of(&self, plane: usize) -> usize {
        if self.bgr && self.channels == 3 { 2 - plane } else { plane }
    }
}

/// An RGBA8 image, row-major, as browsers' `ImageData` and the `image` crate give it.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 4` bytes, RGBA.
    pub pixels: Vec<u8>,
}

impl RgbaImage {
    /// Wraps RGBA bytes; fails if the sizes disagree or the image is empty.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::BadInput(format!("the image is empty ({width}x{height})")));
        }
        if pixels.len() != width * height * 4 {
            return Err(Error::BadInput(format!("{width}x{height} RGBA needs {} bytes, got {}", width * height * 4, pixels.len())));
        }
        Ok(Self { width, height, pixels })
    }
}

/// Which part of the image is fed to the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fit {
    /// The whole image, stretched to the input size (convscope's default).
    Whole,
    /// A centred square whose side is this fraction of the shorter side (0.875 is the
    /// classic EfficientNet / Inception evaluation crop).
    CenterCrop(f32),
}

/// Resampling filter. Both widen their support when shrinking (antialiased).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// Triangle (bilinear), the default.
    Bilinear,
    /// Catmull-Rom cubic (a = -0.5), like PIL's `BICUBIC`.
    Bicubic,
}

/// Turns RGBA pixels into a model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// What part of the image.
    pub fit: Fit,
    /// How to resample it.
    pub filter: Filter,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self { fit: Fit::Whole, filter: Filter::Bilinear }
    }
}

impl Preprocess {
    /// By name, as the CLI's `--fit` and the page's input menu say it: `whole` (the default)
    /// or `center-crop` (the 87.5% centre crop with bicubic resampling of ImageNet evaluations).
    pub fn named(fit: &str) -> Result<Self> {
        match fit {
            "whole" => Ok(Self::default()),
            "center-crop" => Ok(Self { fit: Fit::CenterCrop(0.875), filter: Filter::Bicubic }),
            other => Err(Error::BadInput(format!("unknown fit `{other}`; use whole or center-crop"))),
        }
    }

    /// The part of a `width` x `height` image that is fed to the model, as `(x, y, width,
    /// height)` in its pixels (whole pixels: the crop is cut on the pixel grid).
    pub fn source_rect(&self, width: usize, height: usize) -> (f32, f32, f32, f32) {
        match self.fit {
            Fit::Whole => (0.0, 0.0, width as f32, height as f32),
            Fit::CenterCrop(fraction) => {
                let side = ((width.min(height) as f32) * fraction).round().max(1.0) as usize;
                (((width - side) / 2) as f32, ((height - side) / 2) as f32, side as f32, side as f32)
            }
        }
    }

    /// The image resized as the model sees it, RGB8, before normalisation.
    pub fn resize(&self, image: &RgbaImage, spec: &InputSpec) -> Result<Vec<u8>> {
        if spec.channels != 1 && spec.channels != 3 {
            return Err(Error::BadInput(format!("models with {} input channels are not supported", spec.channels)));
        }
        // Composite over white.
        let rgb: Vec<u8> = image
            .pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let a = p[3] as u32;
                [0, 1, 2].map(|c| ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8)
            })
            .collect();
        let buf: ImageBuffer<Rgb<u8>, Vec<u8>> = ImageBuffer::from_raw(image.width as u32, image.height as u32, rgb).expect("sizes checked");
        let buf = match self.fit {
            Fit::Whole => buf,
            Fit::CenterCrop(_) => {
                let (x, y, side, _) = self.source_rect(image.width, image.height);
                image::imageops::crop_imm(&buf, x as u32, y as u32, side as u32, side as u32).to_image()
            }
        };
        let (w, h) = (spec.width as u32, spec.height as u32);
        let resized = if buf.width() == w && buf.height() == h {
            buf
        } else {
            let filter = match self.filter {
                Filter::Bilinear => FilterType::Triangle,
                Filter::Bicubic => FilterType::CatmullRom,
            };
            image::imageops::resize(&buf, w, h, filter)
        };
        Ok(resized.into_raw())
    }
}

/// The grey value a one-channel model takes for an RGB pixel (ITU-R BT.601 luma, 0..255).
pub fn luma(p: &[u8]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// RGB8 pixels as a model of `channels` channels sees them: grey (each pixel's luma) for one
/// channel, unchanged for three.
pub fn as_seen(rgb: Vec<u8>, channels: usize) -> Vec<u8> {
    if channels != 1 {
        return rgb;
    }
    rgb.chunks_exact(3).flat_map(|p| [luma(p).round().clamp(0.0, 255.0) as u8; 3]).collect()
}

/// Normalise RGB8 pixels at the input size into CHW floats.
pub fn normalise(rgb: &[u8], spec: &InputSpec) -> TensorData {
    let n = spec.height * spec.width;
    let mut out = vec![0f32; spec.channels * n];
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        if spec.channels == 1 {
            out[i] = (luma(p) - spec.mean[0]) / spec.std[0];
        } else {
            for plane in 0..3 {
                let c = spec.colour_of(plane);
                out[plane * n + i] = (p[c] as f32 - spec.mean[c]) / spec.std[c];
            }
        }
    }
    TensorData::new(out, [1, spec.channels, spec.height, spec.width])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_grey_inputs_are_drawable_and_seen_in_grey() {
        let grey = |h, w| InputSpec { channels: 1, height: h, width: w, mean: [0.0; 3], std: [255.0; 3], bgr: false };
        assert!(grey(28, 28).drawable() && grey(64, 48).drawable());
        assert!(!grey(112, 112).drawable() && !InputSpec::imagenet(3, 28, 28).drawable());
        // Pure red, green and blue as a grey model takes them; colour models see them as they are.
        let rgb = vec![255, 0, 0, 0, 255, 0, 0, 0, 255];
        assert_eq!(as_seen(rgb.clone(), 1), [76, 76, 76, 150, 150, 150, 29, 29, 29]);
        assert_eq!(as_seen(rgb.clone(), 3), rgb);
    }

    #[test]
    fn per_channel_values_and_presets() {
        assert_eq!(per_channel(" 1, 2 ,3", "mean").unwrap(), Some(([1.0, 2.0, 3.0], 3)));
        assert_eq!(per_channel("127.5", "mean").unwrap(), Some(([127.5; 3], 1)));
        assert_eq!(per_channel("  ", "mean").unwrap(), None);
        assert!(per_channel("1, 2", "std").unwrap_err().to_string().contains("std: give 3 numbers (R, G, B) or 1"));
        assert!(per_channel("1, x, 3", "mean").unwrap_err().to_string().contains("`x` is not a number"));
        assert_eq!(preset_of(&[0.0; 3], &[255.0; 3], 3).unwrap().id, "zero-one");
        assert_eq!(preset_of(&[127.5, 0.0, 0.0], &[127.5, 1.0, 1.0], 1).unwrap().id, "minus-one-one");
        assert!(preset_of(&[1.0; 3], &[2.0; 3], 3).is_none());
    }

    fn solid(w: usize, h: usize, rgba: [u8; 4]) -> RgbaImage {
        RgbaImage::new(w, h, rgba.repeat(w * h)).unwrap()
    }

    /// The input planes `Model::prepare` uploads for `image` (whole, bilinear).
    fn planes(image: &RgbaImage, spec: &InputSpec) -> Vec<f32> {
        normalise(&Preprocess::default().resize(image, spec).unwrap(), spec).try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn whole_image_is_resized_and_normalised() {
        let spec = InputSpec { channels: 3, height: 4, width: 4, mean: [100.0, 0.0, 0.0], std: [2.0, 1.0, 10.0], bgr: false };
        let v = planes(&solid(9, 5, [120, 3, 50, 255]), &spec);
        assert_eq!(v.len(), 48);
        assert!(v[..16].iter().all(|&x| (x - 10.0).abs() < 1e-6));
        assert!(v[16..32].iter().all(|&x| (x - 3.0).abs() < 1e-6));
        assert!(v[32..].iter().all(|&x| (x - 5.0).abs() < 1e-6));
        // Blue, green, red: the planes swap, each normalised with its colour's mean and std.
        let bgr = InputSpec { bgr: true, ..spec };
        let v = planes(&solid(9, 5, [120, 3, 50, 255]), &bgr);
        assert!(v[..16].iter().all(|&x| (x - 5.0).abs() < 1e-6) && v[32..].iter().all(|&x| (x - 10.0).abs() < 1e-6));
    }

    #[test]
    fn transparent_pixels_become_white_and_grey_uses_luma() {
        let spec = InputSpec { channels: 1, height: 2, width: 2, mean: [0.0; 3], std: [1.0; 3], bgr: false };
        let rgb = Preprocess::default().resize(&solid(2, 2, [0, 0, 0, 0]), &spec).unwrap();
        assert_eq!(rgb, vec![255; 12]);
        let t = normalise(&[255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 10, 10], &spec);
        let v = t.try_to_vec::<f32>().unwrap();
        assert!((v[0] - 76.245).abs() < 1e-3 && (v[1] - 149.685).abs() < 1e-3 && (v[3] - 10.0).abs() < 1e-4);
    }

    #[test]
    fn an_image_at_input_size_is_used_as_is() {
        let pixels: Vec<u8> = (0..16u8).flat_map(|i| [i * 10, i, 255 - i, 255]).collect();
        let img = RgbaImage::new(4, 4, pixels.clone()).unwrap();
        let rgb = Preprocess::default().resize(&img, &InputSpec::imagenet(3, 4, 4)).unwrap();
        let expect: Vec<u8> = pixels.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        assert_eq!(rgb, expect);
    }

    #[test]
    fn centre_crop_takes_the_middle() {
        // Left half red, right half blue, 8x4: the centred 4x4 square is half and half.
        let pixels: Vec<u8> = (0..32).flat_map(|i| if i % 8 < 4 { [255, 0, 0, 255] } else { [0, 0, 255, 255] }).collect();
        let img = RgbaImage::new(8, 4, pixels).unwrap();
        let pre = Preprocess { fit: Fit::CenterCrop(1.0), filter: Filter::Bicubic };
        let rgb = pre.resize(&img, &InputSpec::imagenet(3, 4, 4)).unwrap();
        assert_eq!(&rgb[0..3], &[255, 0, 0]);
        assert_eq!(&rgb[9..12], &[0, 0, 255]);
    }

    #[test]
    fn preprocessing_by_name() {
        assert_eq!(Preprocess::named("whole").unwrap(), Preprocess::default());
        assert_eq!(Preprocess::named("center-crop").unwrap().fit, Fit::CenterCrop(0.875));
        assert!(Preprocess::named("zoom").unwrap_err().to_string().contains("unknown fit `zoom`"));
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(RgbaImage::new(0, 3, vec![]).is_err());
        assert!(RgbaImage::new(2, 2, vec![0; 15]).is_err());
    }
}
