//! Eigen-CAM: Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal
//! Components", IJCNN 2020 (arXiv:2008.00299): the projection of the layer's activations on
//! their first principal component, `L = ReLU(M v_1)` where `M` is `A` as `[h*w, K]` with
//! each channel centred and `v_1` its first right singular vector. No gradients and no target:
//! the same map for every class. The singular vector comes from power iteration on the
//! smaller Gram matrix `G`, by repeated squaring (`G^1024` in ten matrix products, each
//! rescaled, then one step from a seeded start): a handful of kernel launches instead of
//! hundreds. Its sign is chosen so the map agrees with the summed activation.

use burn::tensor::{Tensor, TensorData, activation::relu};

use crate::{
    Result,
    attention::{Explain, Method, MethodInfo, Resolution},
    rng::Rng,
};

/// Squarings of the Gram matrix: `G^(2^SQUARINGS)` separates the first eigenvector from the
/// second by `(l2 / l1)^1024`.
const SQUARINGS: usize = 10;

/// Eigen-CAM.
pub struct EigenCam;

impl Method for EigenCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "eigencam",
            name: "Eigen-CAM",
            paper: "Muhammad & Yeasin 2020 (arXiv:2008.00299): L = ReLU(M v_1), first principal component",
            resolution: Resolution::Layer,
        }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        let a = x.activation()?;
        let [k, h, w] = a.dims();
        let n = h * w;
        let m = a.clone().reshape([k, n]).transpose();
        let m = m.clone() - m.mean_dim(0);
        let device = m.device();
        let mut rng = Rng::new(x.options.seed);
        // Iterate on the smaller of M^T M (K x K) and M M^T (n x n).
        let v = if k <= n {
            let gram = m.clone().transpose().matmul(m.clone());
            power(gram, Tensor::from_data(TensorData::new(rng.normals(k), [k, 1]), &device))
        } else {
            let gram = m.clone().matmul(m.clone().transpose());
            let u = power(gram, Tensor::from_data(TensorData::new(rng.normals(n), [n, 1]), &device));
            unit(m.clone().transpose().matmul(u))
        };
        let p = m.matmul(v).reshape([n]);
        let total = a.sum_dim(0).reshape([n]);
        let agree = (p.clone() * total).sum().greater_equal_elem(0.0).float() * 2.0 - 1.0;
        Ok(relu(p * agree).reshape([h, w]))
    }
}

fn unit(v: Tensor<2>) -> Tensor<2> {
    let norm = (v.clone() * v.clone()).sum().sqrt() + 1e-30;
    v / norm.reshape([1, 1])
}

fn power(gram: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
    let mut g = gram.clone();
    for _ in 0..SQUARINGS {
        let sq = g.clone().matmul(g);
        let norm = (sq.clone() * sq.clone()).sum().sqrt() + 1e-30;
        g = sq / norm.reshape([1, 1]);
    }
    unit(gram.matmul(unit(g.matmul(v))))
}
