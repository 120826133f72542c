//! Vanilla gradient: Simonyan et al., "Deep Inside Convolutional Networks: Visualising Image
//! Classification Models and Saliency Maps", ICLR-W 2014, Sec. 3.1: `M_ij = max_c |dS/dx_cij|`.

use burn::tensor::Tensor;

use super::max_abs_channel;
use crate::{
    Result,
    attention::{Cost, Explain, Method, MethodInfo, Options, Resolution},
};

/// Gradient saliency.
pub struct Saliency;

impl Method for Saliency {
    fn info(&self) -> MethodInfo {
        MethodInfo { id: "saliency", name: "Gradient saliency", paper: "Simonyan et al. 2014, Sec. 3.1: max_c |dS/dx|", resolution: Resolution::Input }
    }

    fn cost(&self, _: &Options, _: [usize; 2]) -> Cost {
        Cost { backward: 1, ..Cost::default() }
    }

    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>> {
        Ok(max_abs_channel(x.input_gradients(x.input.clone())?))
    }
}
