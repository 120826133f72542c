//! Colour decorrelation (Olah et al., "Feature Visualization", Distill 2017, "Preconditioning
//! and parameterization"): the optimizer works in a space whose three axes are uncorrelated
//! over natural images, and the image's RGB is that space times the square root of ImageNet's
//! colour covariance. Steps then change luminance and colour in natural proportions instead
//! of producing high-saturation per-channel noise.

use burn::tensor::{Device, Tensor, TensorData};

/// Square root of ImageNet's RGB covariance, from its singular value decomposition (the
/// matrix Lucid and Lucent use), rows = R, G, B.
pub const SVD_SQRT: [[f32; 3]; 3] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// [`SVD_SQRT`] divided by its largest column norm, so no axis stretches by more than 1.
pub fn normalized() -> [[f32; 3]; 3] {
    let norm = (0..3).map(|c| (0..3).map(|r| SVD_SQRT[r][c].powi(2)).sum::<f32>().sqrt()).fold(0f32, f32::max);
    SVD_SQRT.map(|row| row.map(|v| v / norm))
}

/// `rgb = M x` at every pixel.
///
/// # Shapes
/// `x`: `[batch, 3, H, W]`; returns the same
pub fn decorrelated(x: Tensor<4>, device: &Device) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let m: Vec<f32> = normalized().iter().flatten().copied().collect();
    let m = Tensor::<3>::from_data(TensorData::new(m, [1, 3, 3]), device);
    m.matmul(x.reshape([b, c, h * w])).reshape([b, c, h, w])
}

/// The inverse of [`decorrelated`] on host pixels: `x = M^-1 rgb`.
///
/// # Shapes
/// `rgb`: `3 * H * W` values per image, plane by plane; returns the same
pub fn correlated(rgb: &[f32], plane: usize) -> Vec<f32> {
    let m = normalized();
    let inv = invert(m);
    let mut out = vec![0f32; rgb.len()];
    for (img, o) in rgb.chunks(3 * plane).zip(out.chunks_mut(3 * plane)) {
        for p in 0..plane {
            for r in 0..3 {
                o[r * plane + p] = (0..3).map(|c| inv[r][c] * img[c * plane + p]).sum();
            }
        }
    }
    out
}

fn invert(m: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let m = m.map(|r| r.map(f64::from));
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut inv = [[0f32; 3]; 3];
    for (r, row) in inv.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            // Cofactor of (c, r), transposed.
            let (r1, r2) = ((c + 1) % 3, (c + 2) % 3);
            let (c1, c2) = ((r + 1) % 3, (r + 2) % 3);
            *v = ((m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / det) as f32;
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_columns_are_at_most_unit_and_inverse_inverts() {
        let m = normalized();
        let norms: Vec<f32> = (0..3).map(|c| (0..3).map(|r| m[r][c].powi(2)).sum::<f32>().sqrt()).collect();
        assert!((norms[0] - 1.0).abs() < 1e-6 && norms[1] < 1.0 && norms[2] < 1.0, "{norms:?}");
        let x = vec![0.3, -0.2, 0.5, 0.1, 0.9, -0.7];
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, 1, 2]), &Device::flex());
        let rgb = decorrelated(t, &Device::flex()).into_data().try_to_vec::<f32>().unwrap();
        // Pixel 0 is (0.3, 0.5, 0.9): R = M[0] . x.
        let want_r0: f32 = (0..3).map(|c| m[0][c] * [0.3, 0.5, 0.9][c]).sum();
        assert!((rgb[0] - want_r0).abs() < 1e-6);
        let back = correlated(&rgb, 2);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
