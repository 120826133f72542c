//! Max pooling over a 2-D window (`max_pool2d`).

use std::{collections::HashMap, rc::Rc};

use burn::tensor::{module::max_pool2d, ops::MaxPoolOptions};
use serde::{Deserialize, Serialize};

use super::{Kernel, LayerProps, Lowering, OpDef, Padding2d, Redirect, one, pad_pairs, window_shape};
use crate::graph::field::Footprint;
use crate::{
    Result,
    graph::{LayerShape, Value},
    tensor_data::HostTensor,
};

/// Max pooling over a 2-D window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxPool2d {
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Per-side padding (padded cells never win).
    pub padding: Padding2d,
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Round output size up instead of down.
    pub ceil_mode: bool,
}

impl MaxPool2d {
    pub(crate) fn kernel_of(&self) -> Rc<dyn Kernel> {
        Rc::new(MaxPoolKernel(MaxPoolOptions {
            kernel_size: self.kernel,
            stride: self.stride,
            padding: pad_pairs(&self.padding),
            dilation: self.dilation,
            ceil_mode: self.ceil_mode,
        }))
    }
}

impl OpDef for MaxPool2d {
    fn kind(&self) -> String {
        "max_pool2d".into()
    }

    fn footprint(&self, _weights: &HashMap<String, HostTensor>) -> Footprint {
        Footprint::Window { kernel: self.kernel, stride: self.stride, padding: self.padding, dilation: self.dilation }
    }

    fn shape(&self, ins: &[&LayerShape], _: &HashMap<String, HostTensor>) -> std::result::Result<LayerShape, String> {
        window_shape(ins, self.kernel, self.stride, &self.padding, self.dilation, self.ceil_mode)
    }

    fn props(&self) -> LayerProps {
        LayerProps { windowed: true, ..LayerProps::default() }
    }

    fn lower(&self, _: &mut Lowering<'_>) -> Rc<dyn Kernel> {
        self.kernel_of()
    }
}

#[derive(Debug, Clone)]
struct MaxPoolKernel(MaxPoolOptions<2>);

impl Kernel for MaxPoolKernel {
    fn apply(&self, mut inputs: Vec<Value>, _: Redirect) -> Result<Value> {
        Ok(Value::Spatial(max_pool2d(one(&mut inputs)?.spatial("max_pool2d")?, self.0.clone())))
    }
}
