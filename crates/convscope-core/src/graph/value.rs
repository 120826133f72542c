//! What flows along the graph's edges.

use burn::tensor::Tensor;

use crate::{Error, Result};

/// A batch of activations: spatial feature maps or flat feature vectors.
#[derive(Debug, Clone)]
pub enum Value {
    /// `[batch, channels, height, width]`
    Spatial(Tensor<4>),
    /// `[batch, features]`
    Flat(Tensor<2>),
}

impl Value {
    /// Dimensions including the batch.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::Spatial(t) => t.dims().to_vec(),
            Value::Flat(t) => t.dims().to_vec(),
        }
    }

    /// The spatial tensor, or an error naming what needed it.
    ///
    /// # Shapes
    /// `[batch, channels, height, width]`
    pub fn spatial(self, what: &str) -> Result<Tensor<4>> {
        match self {
            Value::Spatial(t) => Ok(t),
            Value::Flat(t) => Err(Error::InvalidGraph(format!("{what} needs feature maps, got flat {:?}", t.dims()))),
        }
    }

    /// The flat tensor, or an error naming what needed it.
    ///
    /// # Shapes
    /// `[batch, features]`
    pub fn flat(self, what: &str) -> Result<Tensor<2>> {
        match self {
            Value::Flat(t) => Ok(t),
            Value::Spatial(t) => Err(Error::InvalidGraph(format!("{what} needs flat features, got {:?}", t.dims()))),
        }
    }

    /// Same value cut off from the autodiff graph.
    pub fn detach(self) -> Self {
        self.map(|t| t.detach(), |t| t.detach())
    }

    /// Same value marked as a leaf whose gradient is wanted.
    pub fn require_grad(self) -> Self {
        self.map(|t| t.require_grad(), |t| t.require_grad())
    }

    /// Apply a rank-preserving function to either variant.
    pub fn map(self, f4: impl FnOnce(Tensor<4>) -> Tensor<4>, f2: impl FnOnce(Tensor<2>) -> Tensor<2>) -> Self {
        match self {
            Value::Spatial(t) => Value::Spatial(f4(t)),
            Value::Flat(t) => Value::Flat(f2(t)),
        }
    }

    /// A `[batch, ...]` tensor as the value of shape `shape` (without batch, at most 4 axes,
    /// checked by shape inference; see [`Value::from_rows`]). A feature map (`shape` of
    /// three axes) keeps the tensor's own height and width, so ops on the 5-D form run on
    /// images of any size.
    pub fn from5(t: Tensor<5>, shape: &[usize]) -> Self {
        let [b, _, c, h, w] = t.dims();
        if shape.len() == 3 {
            return Value::Spatial(t.reshape([b, c, h, w]));
        }
        Self::from_rows(t.reshape([b as i64, -1]), shape)
    }

    /// `[batch, values]` as the value of shape `shape`: `[C, H, W]`, `[A, B]` (as
    /// `[1, A, B]`) and `[A, B, C, D]` (as `[A * B, C, D]`) are spatial, `[F]` and a scalar
    /// (`[1]`) flat.
    pub fn from_rows(t: Tensor<2>, shape: &[usize]) -> Self {
        let b = t.dims()[0];
        match *shape {
            [c, h, w] => Value::Spatial(t.reshape([b, c, h, w])),
            [h, w] => Value::Spatial(t.reshape([b, 1, h, w])),
            [a, c, h, w] => Value::Spatial(t.reshape([b, a * c, h, w])),
            _ => Value::Flat(t.reshape([b, shape.iter().product::<usize>()])),
        }
    }

    /// The value of shape `shape` (without batch, up to 4 axes) as `[batch, a, b, c, d]`, its
    /// axes aligned right: axis `k` of `shape` is axis `k + 5 - rank` here.
    pub fn to5(self, shape: &[usize]) -> Tensor<5> {
        if let (Value::Spatial(t), 3) = (&self, shape.len()) {
            // A feature map of whatever height and width it has.
            let [b, c, h, w] = t.dims();
            return t.clone().reshape([b, 1, c, h, w]);
        }
        let t = self.flatten();
        let b = t.dims()[0];
        let mut dims = [b, 1, 1, 1, 1];
        for (k, d) in shape.iter().enumerate() {
            dims[k + 5 - shape.len()] = *d;
        }
        t.reshape(dims)
    }

    /// Every element of the batch flattened: `[batch, rest]`.
    pub fn flatten(self) -> Tensor<2> {
        match self {
            Value::Spatial(t) => t.flatten(1, 3),
            Value::Flat(t) => t,
        }
    }
}
