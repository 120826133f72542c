//! Shared by the integration tests: devices to run on, bundled models, sample images.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, DeviceKind};
use convscope_core::{Model, RgbaImage};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The backends every numeric test runs on: the CPU always, wgpu (natively, e.g. on Mesa
/// lavapipe) unless `CONVSCOPE_TEST_BACKENDS=cpu`.
pub fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![("cpu", Device::flex())];
    if std::env::var("CONVSCOPE_TEST_BACKENDS").as_deref() != Ok("cpu") {
        convscope_core::fusion::turn_off();
        out.push(("wgpu", Device::wgpu(DeviceKind::DefaultDevice)));
    }
    out
}

pub fn load_model(name: &str, device: &Device) -> Model {
    let bytes = std::fs::read(repo().join("weights").join(format!("{name}.csm"))).expect("bundled model");
    Model::from_bytes(&bytes, device).expect("bundled model loads")
}

pub fn sample(name: &str) -> RgbaImage {
    let img = image::open(repo().join("www/samples").join(name)).expect("sample image").to_rgba8();
    let (w, h) = img.dimensions();
    RgbaImage::new(w as usize, h as usize, img.into_raw()).unwrap()
}

pub fn to_vec<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Deterministic pseudo-random numbers in [-1, 1): bit-exact on every target (xorshift).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next_f32() * scale).collect()
    }
}
