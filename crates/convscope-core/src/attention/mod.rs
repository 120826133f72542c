//! Attention: which regions of the image drive the model's score for a target.
//!
//! A [`Method`] turns an [`Explain`] request (graph, input, [`Target`], layer, [`Options`])
//! into a raw map on the device: the class activation mappings work at a layer's resolution
//! (`cam/`), the gradient and perturbation methods at the input's (`gradient/`). Every raw map
//! is non-negative (after the method's ReLU or absolute value); [`AttentionMap`] normalises
//! it to `[0, 1]` on the host and says when it is constant. [`faithfulness`] measures how far
//! a map can be trusted (deletion and insertion curves, the drop when only the map is kept,
//! against a random map) and [`sanity`] runs the model-parameter randomization test.
//!
//! A method computes on the device; [`Explain::map`], [`faithfulness::faithfulness`] and
//! [`sanity::sanity`] read back, awaiting it (the CLI blocks on them with
//! [`crate::readback::block`], the page awaits them).

mod cam;
pub mod faithfulness;
pub mod figure;
mod gradient;
pub mod sanity;
mod target;

use burn::tensor::Tensor;
use serde::Serialize;

pub use gradient::integrated_gradients::attributions as integrated_gradients_attributions;
pub use target::Target;

use crate::{Error, Graph, LayerId, Result, Trace, Value};

/// Knobs of the methods that need them; the defaults follow each paper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    /// Seed of every random choice (SmoothGrad's noise, the random baseline, randomized
    /// weights): the same seed gives the same map.
    pub seed: u64,
    /// How many images go through the network at once in the methods that run it many times.
    pub batch: usize,
    /// SmoothGrad: noisy samples (Smilkov et al. use 50; 25 is within their plateau).
    pub samples: usize,
    /// SmoothGrad: noise standard deviation as a fraction of the input's range (0.15).
    pub noise: f32,
    /// Integrated Gradients: steps of the path integral.
    pub steps: usize,
    /// Occlusion: side of the occluding square in input pixels (0: a seventh of the input).
    pub window: usize,
    /// Occlusion: step between squares (0: half the window).
    pub stride: usize,
    /// Score-CAM: channels scored, the most active first (0: all, as in the paper).
    pub max_channels: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { seed: 0, batch: 16, samples: 25, noise: 0.15, steps: 32, window: 0, stride: 0, max_channels: 0 }
    }
}

/// At which resolution a method's raw map comes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// The chosen layer's `h x w`.
    Layer,
    /// The input's `H x W`.
    Input,
}

/// What the registry says about a method.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MethodInfo {
    /// Id used by the CLI and the page, e.g. `gradcam++`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// The paper and the equation implemented.
    pub paper: &'static str,
    /// Where the raw map lives.
    pub resolution: Resolution,
}

/// What a method runs through the whole network beyond the image's own pass (the CAMs that
/// need a gradient run only from their layer, which an analysis already has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Cost {
    /// Forward passes.
    pub forward: usize,
    /// Backward passes (each with its forward pass).
    pub backward: usize,
    /// Plus one forward pass per channel of the layer (Score-CAM without a channel limit).
    pub per_channel: bool,
}

impl Cost {
    /// Runs the network more than once: worth a progress message, and fewer timed runs.
    pub fn slow(&self) -> bool {
        self.per_channel || self.forward + self.backward > 1
    }

    /// For a menu: `None` for a method that costs nothing more, else what it runs.
    pub fn describe(&self) -> Option<String> {
        let plural = |n: usize, what: &str| format!("{n} {what} pass{}", if n == 1 { "" } else { "es" });
        match (self.forward, self.backward, self.per_channel) {
            (_, _, true) => Some("a forward pass per channel".into()),
            (0, 0, false) => None,
            (f, 0, false) => Some(plural(f, "forward")),
            (_, b, false) => Some(plural(b, "backward")),
        }
    }
}

/// An attention method: a request in, a raw non-negative map out (on the device).
pub trait Method: Sync {
    /// Registry entry.
    fn info(&self) -> MethodInfo;

    /// What it runs with `options` on an input of `input` (height, width) pixels.
    fn cost(&self, _options: &Options, _input: [usize; 2]) -> Cost {
        Cost::default()
    }
    /// The raw map, `[h, w]` at [`MethodInfo::resolution`], after the method's ReLU or
    /// absolute value and before normalisation.
    fn explain(&self, x: &Explain<'_>) -> Result<Tensor<2>>;
}

/// Every method, in the order menus list them.
pub static METHODS: &[&dyn Method] = &[
    &cam::gradcam::GradCam,
    &cam::gradcam_pp::GradCamPlusPlus,
    &cam::xgradcam::XGradCam,
    &cam::layercam::LayerCam,
    &cam::hirescam::HiResCam,
    &cam::scorecam::ScoreCam,
    &cam::eigencam::EigenCam,
    &gradient::saliency::Saliency,
    &gradient::smoothgrad::SmoothGrad,
    &gradient::integrated_gradients::IntegratedGradients,
    &gradient::occlusion::Occlusion,
];

/// The method with id `id`; the error lists the ids.
pub fn method(id: &str) -> Result<&'static dyn Method> {
    METHODS.iter().copied().find(|m| m.info().id == id).ok_or_else(|| {
        Error::BadInput(format!("unknown attention method `{id}`; methods are: {}", METHODS.iter().map(|m| m.info().id).collect::<Vec<_>>().join(", ")))
    })
}

/// One request: explain `target` for `input` through `graph`, at `layer` for the CAMs.
#[derive(Debug, Clone)]
pub struct Explain<'a> {
    /// The network.
    pub graph: &'a Graph,
    /// `[1, C, H, W]`, normalised, on the graph's device; never modified.
    pub input: Tensor<4>,
    /// What is explained.
    pub target: Target,
    /// The layer the CAMs read (spatial).
    pub layer: LayerId,
    /// Method knobs.
    pub options: Options,
    trace: Option<Trace>,
}

impl<'a> Explain<'a> {
    /// A request; `layer` defaults to the last spatial layer before the network flattens
    /// its features ([`Graph::last_spatial_layer`]).
    pub fn new(graph: &'a Graph, input: Tensor<4>, target: Target, layer: Option<LayerId>, options: Options) -> Result<Self> {
        let classes = graph.info(graph.output()).shape[0];
        target.check(classes)?;
        let layer = match layer {
            Some(l) => l,
            None => {
                graph.last_spatial_layer().ok_or_else(|| Error::BadInput("the model has no layer with feature maps before its head; choose a layer".into()))?
            }
        };
        let info = graph.info(layer);
        if info.shape.len() != 3 {
            return Err(Error::BadInput(format!("layer `{}` has flat features {:?}; attention maps need a layer with feature maps", info.id, info.shape)));
        }
        let dims = input.dims();
        if dims[0] != 1 || dims[1..] != graph.input_shape()[..] {
            return Err(Error::BadInput(format!("attention takes one image [1, {:?}], got {dims:?}", graph.input_shape())));
        }
        Ok(Self { graph, input, target, layer, options, trace: None })
    }

    /// Reuse the values of an earlier forward pass (see [`Graph::trace_of`]).
    pub fn with_trace(mut self, trace: Trace) -> Self {
        if trace.layer() == self.layer {
            self.trace = Some(trace);
        }
        self
    }

    fn trace(&self) -> Result<Trace> {
        match &self.trace {
            Some(t) => Ok(t.clone()),
            None => self.graph.forward_to(self.input.clone(), self.layer),
        }
    }

    /// The layer's activation `A`, `[K, h, w]`.
    pub fn activation(&self) -> Result<Tensor<3>> {
        let a = self.trace()?.activation().clone().spatial("attention")?;
        let [_, k, h, w] = a.dims();
        Ok(a.reshape([k, h, w]))
    }

    /// The layer's activation `A` and the gradient of the target's score with respect to it,
    /// both `[K, h, w]`: one pass from the layer to the logits and back.
    pub fn layer_gradient(&self) -> Result<(Tensor<3>, Tensor<3>)> {
        let trace = self.trace()?;
        let a = trace.activation().clone().spatial("attention")?;
        let [_, k, h, w] = a.dims();
        let leaf = a.clone().autodiff().require_grad();
        let logits = self.graph.forward_from(&trace, Value::Spatial(leaf.clone()))?;
        let grads = self.target.score(logits).sum().backward();
        let g = leaf.grad(&grads).ok_or_else(|| Error::InvalidGraph("the score does not depend on the layer".into()))?;
        Ok((a.reshape([k, h, w]), g.reshape([k, h, w])))
    }

    /// Gradient of the target's score with respect to each image of `xs` (normalised input
    /// space), `[n, C, H, W]`, run `options.batch` at a time.
    pub fn input_gradients(&self, xs: Tensor<4>) -> Result<Tensor<4>> {
        self.batched(xs, |chunk| {
            let leaf = chunk.autodiff().require_grad();
            let (logits, _) = self.graph.forward(leaf.clone(), &[])?;
            let grads = self.target.score(logits).sum().backward();
            leaf.grad(&grads).ok_or_else(|| Error::InvalidGraph("the score does not depend on the input".into()))
        })
    }

    /// The target's score (`probability`: as a probability, else the raw score) for each
    /// image of `xs`, `[n]`, run `options.batch` at a time.
    pub fn scores(&self, xs: Tensor<4>, probability: bool) -> Result<Tensor<1>> {
        let out = self.batched(xs, |chunk| {
            let (logits, _) = self.graph.forward(chunk, &[])?;
            let s = if probability { self.target.probability(logits) } else { self.target.score(logits) };
            let n = s.dims()[0];
            Ok(s.reshape([n, 1, 1, 1]))
        })?;
        let n = out.dims()[0];
        Ok(out.reshape([n]))
    }

    fn batched(&self, xs: Tensor<4>, f: impl Fn(Tensor<4>) -> Result<Tensor<4>>) -> Result<Tensor<4>> {
        let [n, c, h, w] = xs.dims();
        let step = self.options.batch.max(1);
        let parts = (0..n)
            .step_by(step)
            .map(|s| {
                let part = f(xs.clone().slice([s..(s + step).min(n), 0..c, 0..h, 0..w]));
                crate::progress::ran((s + step).min(n) - s);
                part
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(if parts.len() == 1 { parts.into_iter().next().expect("one part") } else { Tensor::cat(parts, 0) })
    }

    /// The raw map of `method` for this request.
    pub fn run(&self, method: &dyn Method) -> Result<Tensor<2>> {
        method.explain(self)
    }

    /// The images `method` runs through the network for this request (at least one), as
    /// [`crate::progress`] counts them.
    pub fn passes(&self, method: &dyn Method) -> usize {
        let [_, _, h, w] = self.input.dims();
        let cost = method.cost(&self.options, [h, w]);
        let channels = if cost.per_channel { self.graph.info(self.layer).shape[0] } else { 0 };
        (cost.forward + cost.backward + channels).max(1)
    }

    /// The map of `method` for this request, read back to the host.
    pub async fn map(&self, method: &dyn Method) -> Result<AttentionMap> {
        let _task = crate::progress::task(self.passes(method));
        let raw = self.run(method)?;
        let [h, w] = raw.dims();
        AttentionMap::new(crate::readback::read(raw).await?, h, w)
    }
}

/// A map on the host: the raw values and the same normalised to `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttentionMap {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// As the method gave it (non-negative; any non-finite value replaced by 0).
    pub raw: Vec<f32>,
    /// `(raw - min) / (max - min)`; all zeros when the map is constant.
    pub values: Vec<f32>,
    /// The map has one value everywhere: it says nothing about where the evidence is.
    pub constant: bool,
}

impl AttentionMap {
    /// Normalise a raw `height x width` map.
    pub fn new(mut raw: Vec<f32>, height: usize, width: usize) -> Result<Self> {
        if raw.len() != height * width || raw.is_empty() {
            return Err(Error::BadInput(format!("a {height}x{width} map needs {} values, got {}", height * width, raw.len())));
        }
        for v in &mut raw {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        let (lo, hi) = raw.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let constant = hi - lo <= 1e-12 * hi.abs().max(1.0);
        let values = if constant { vec![0.0; raw.len()] } else { raw.iter().map(|v| (v - lo) / (hi - lo)).collect() };
        Ok(Self { height, width, raw, values, constant })
    }

    /// `(row, column)` of the largest value (the first one on ties).
    pub fn peak(&self) -> (usize, usize) {
        let i = self.values.iter().enumerate().fold(0, |b, (i, &v)| if v > self.values[b] { i } else { b });
        (i / self.width, i % self.width)
    }

    /// The normalised map resampled bilinearly to `width x height` (pixel centres aligned),
    /// e.g. to the input's size.
    pub fn resized(&self, width: usize, height: usize) -> Vec<f32> {
        crate::render::bilinear(&self.values, self.width, self.height, 1, width, height)
    }
}
