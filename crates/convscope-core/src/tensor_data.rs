//! Host-side tensors: what a model file holds before it is uploaded to a device.

use crate::{Error, Result};

/// A dense float32 tensor in host memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values, row-major.
    pub data: Vec<f32>,
}

impl HostTensor {
    /// A tensor from its shape and data; fails if they disagree.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::BadModelFile(format!("tensor of shape {shape:?} needs {n} values, got {}", data.len())));
        }
        Ok(Self { shape, data })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// How a tensor's values are stored in a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredDType {
    /// IEEE 754 binary16, little-endian.
    F16,
    /// IEEE 754 binary32, little-endian.
    F32,
}

impl StoredDType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StoredDType::F16 => 2,
            StoredDType::F32 => 4,
        }
    }

    /// Encode values as little-endian bytes of this dtype.
    pub fn encode(self, values: &[f32], out: &mut Vec<u8>) {
        match self {
            StoredDType::F16 => {
                for v in values {
                    out.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes());
                }
            }
            StoredDType::F32 => {
                for v in values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }

    /// Decode little-endian bytes of this dtype; `bytes.len()` must be a multiple of the size.
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            StoredDType::F16 => bytes.as_chunks::<2>().0.iter().map(|&b| f16_to_f32(u16::from_le_bytes(b))).collect(),
            StoredDType::F32 => bytes.as_chunks::<4>().0.iter().map(|&b| f32::from_le_bytes(b)).collect(),
        }
    }
}

/// The f32 of binary16 bits, exactly as `half` gives it (subnormals, infinities, NaNs made
/// quiet), with no branch, so that a tensor's loop is vectorized: in the page (SIMD128, no
/// hardware conversion) `half`'s branches per value took 50 ms of a cold start's model load.
#[inline]
fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let rest = h & 0x7fff;
    // The exponent and mantissa moved into place and rebiased by a product with 2^112: exact
    // for normal values, and it normalizes the subnormal ones.
    let finite = (f32::from_bits(rest << 13) * f32::from_bits(0x7780_0000)).to_bits();
    let quiet = if rest > 0x7c00 { 0x0040_0000 } else { 0 };
    let special = 0x7f80_0000 | (rest << 13) | quiet;
    f32::from_bits(sign | if rest >= 0x7c00 { special } else { finite })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trip_keeps_three_significant_digits() {
        let values = [0.0f32, 1.0, -2.5, 1e-3, 123.456, -65504.0];
        let mut bytes = Vec::new();
        StoredDType::F16.encode(&values, &mut bytes);
        assert_eq!(bytes.len(), 12);
        let back = StoredDType::F16.decode(&bytes);
        for (a, b) in values.iter().zip(&back) {
            assert!((a - b).abs() <= a.abs() * 1e-3, "{a} -> {b}");
        }
    }

    #[test]
    fn f16_decodes_every_value_as_half_does() {
        // All of them in one buffer, so that the vectorized loop (and its tail) decodes them.
        let bytes: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
        let got = StoredDType::F16.decode(&bytes);
        assert_eq!(got.len(), 1 << 16);
        for (bits, got) in (0..=u16::MAX).zip(got) {
            let want = half::f16::from_bits(bits).to_f32();
            assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}: {got} against {want}");
        }
    }

    #[test]
    fn f32_round_trip_is_exact() {
        let values = [0.1f32, -7.25, f32::MIN_POSITIVE];
        let mut bytes = Vec::new();
        StoredDType::F32.encode(&values, &mut bytes);
        assert_eq!(StoredDType::F32.decode(&bytes), values);
    }

    #[test]
    fn shape_must_match_data() {
        assert!(HostTensor::new(vec![2, 3], vec![0.0; 5]).is_err());
        assert_eq!(HostTensor::new(vec![2, 3], vec![0.0; 6]).unwrap().len(), 6);
    }
}
