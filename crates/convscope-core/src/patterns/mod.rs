//! Filter patterns by activation maximization: start from noise and change the pixels by
//! gradient ascent until a unit of the network responds as strongly as it can (Erhan et al.
//! 2009; Olah et al., "Feature Visualization", Distill 2017).
//!
//! Three small ideas compose, as in Lucid: a [`param`]eterization turns the numbers the
//! optimizer changes into an image (Fourier basis, colour decorrelation, sigmoid), random
//! [`transform`]s make the pattern robust to shifts, scales and rotations, and an
//! [`objective`] turns the activation of a layer into a loss. [`Render`] runs Adam on them a
//! few steps at a time (`step(n)`), so a caller can draw the current images between chunks
//! and stop whenever it likes. A layer's gallery is one optimization with one batch element
//! per channel ([`objective::channels`]).
//!
//! The network stays on its plain device; only the parameters are put on the autodiff
//! device each step, so the weights are constants of the tape.

use serde::Serialize;

pub mod objective;
pub mod param;
pub mod transform;

use burn::tensor::{Tensor, TensorData};

pub use objective::Objective;
pub use param::{Basis, Param, Squash};
pub use transform::{Fill, STANDARD, Transform, standard};

use crate::{Error, Graph, InputSpec, LayerId, Result, rng::Rng};

/// How the (transformed) image reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Resized (bilinear) to the model's input size, as Lucent does: the network sees
    /// features at the scale it was trained on. Works for every model.
    ModelInput,
    /// Fed at its own size: cheaper at small sizes; only where no layer up to the objective's
    /// flattens feature maps ([`Graph::any_size_up_to`]).
    AsIs,
}

/// Everything about an optimization except what it optimizes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Side of the square image, pixels.
    pub size: usize,
    /// Spatial basis of the parameters.
    pub basis: Basis,
    /// Colour decorrelation (3-channel models only).
    pub decorrelate: bool,
    /// How values become pixels.
    pub squash: Squash,
    /// Random transforms, redrawn every step, applied in order.
    pub transforms: Vec<Transform>,
    /// How the image reaches the network.
    pub fit: Fit,
    /// Adam's step size.
    pub learning_rate: f32,
    /// Standard deviation of the starting noise in parameter space.
    pub init_sd: f32,
    /// For this many first steps, an image whose gradient vanishes (its unit is reached
    /// only through switched-off rectifiers, as from a grey start) takes instead the gradient
    /// of the network with every rectifier passing every gradient below zero
    /// ([`Graph::redirected`]);
    /// images with a gradient of their own keep it (Lucid's redirected ReLU, per image).
    /// Redirecting every image made deep layers' patterns collapse: the linearised network
    /// pushes every channel's image the same way. Throughout, the rectifiers of the layers
    /// whose units the objective wants large (channel, neuron, class) pass gradients to the
    /// channels that are switched off everywhere in an image
    /// ([`crate::graph::Redirect::Dead`]): a unit still dead is pushed to switch on rather
    /// than left with no gradient, and a live one is optimized as it is (passing the
    /// pre-activation's gradient to live units too made the objective itself go down on the
    /// digit CNN's `conv2`).
    pub redirect_steps: usize,
    /// Seed of the starting noise and of every transform drawn.
    pub seed: u64,
}

impl Default for Options {
    /// Lucid's defaults: 128 px, Fourier basis with colour decorrelation, sigmoid, the
    /// standard transforms, Adam 0.05, noise 0.01; resized to the model's input size
    /// (Lucent's choice). 32 steps with the redirect to fall back on, where Lucid has 16.
    fn default() -> Self {
        Self {
            size: 128,
            basis: Basis::Fourier,
            decorrelate: true,
            squash: Squash::Sigmoid,
            transforms: STANDARD.to_vec(),
            fit: Fit::ModelInput,
            learning_rate: 0.05,
            init_sd: 0.01,
            redirect_steps: 32,
            seed: 0,
        }
    }
}

/// Adam (Kingma & Ba 2015, Algorithm 1) on one parameter tensor.
#[derive(Debug, Clone)]
struct Adam {
    rate: f32,
    moments: Option<(Tensor<4>, Tensor<4>)>,
    t: i32,
}

impl Adam {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    fn step(&mut self, p: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
        self.t += 1;
        let (m, v) = match self.moments.take() {
            Some((m, v)) => (m * Self::BETA1 + g.clone() * (1.0 - Self::BETA1), v * Self::BETA2 + g.powf_scalar(2.0) * (1.0 - Self::BETA2)),
            None => (g.clone() * (1.0 - Self::BETA1), g.powf_scalar(2.0) * (1.0 - Self::BETA2)),
        };
        let m_hat = m.clone() / (1.0 - Self::BETA1.powi(self.t));
        let v_hat = v.clone() / (1.0 - Self::BETA2.powi(self.t));
        self.moments = Some((m, v));
        p - m_hat / (v_hat.sqrt() + Self::EPS) * self.rate
    }
}

impl Options {
    /// The defaults for `size`-pixel images, the transforms scaled to that size
    /// ([`standard`]).
    pub fn sized(size: usize) -> Self {
        Self { size, transforms: standard(size), ..Self::default() }
    }
}

/// An optimization in progress: parameters, optimizer state, objective, random stream.
#[derive(Debug, Clone)]
pub struct Render {
    graph: Graph,
    redirected: Graph,
    objective: Objective,
    layers: Vec<LayerId>,
    param: Param,
    params: Tensor<4>,
    adam: Adam,
    options: Options,
    rng: Rng,
    /// `x * 255 / std - mean / std` per channel, `[1, C, 1, 1]` each.
    normalise: (Tensor<4>, Tensor<4>),
    /// The model takes blue, green, red: the image's planes are flipped first.
    bgr: bool,
    model_size: [usize; 2],
    batch: usize,
    steps: usize,
    /// Steps that computed the redirected gradient too.
    redirected_steps: usize,
    loss: Option<Tensor<1>>,
}

/// Whether every value is above zero.
fn all_positive(v: &[f32]) -> bool {
    v.iter().all(|&x| x > 0.0)
}

impl Render {
    /// A new optimization of `batch` images from seeded noise, for a model with input `input`.
    pub fn new(graph: &Graph, input: &InputSpec, objective: Objective, batch: usize, options: Options) -> Result<Self> {
        if batch == 0 {
            return Err(Error::BadInput("a batch of 0 images".into()));
        }
        if !(4..=1024).contains(&options.size) {
            return Err(Error::BadInput(format!("image size {} px is out of range: use 4 to 1024", options.size)));
        }
        if !(options.learning_rate > 0.0 && options.learning_rate.is_finite()) {
            return Err(Error::BadInput(format!("the learning rate must be positive, got {}", options.learning_rate)));
        }
        objective.check(graph, batch)?;
        let layers = objective.layers();
        let deepest = *layers.last().expect("a checked objective has a layer");
        if options.fit == Fit::AsIs && !graph.any_size_up_to(deepest) {
            return Err(Error::BadInput(format!(
                "layer `{}` needs the model's input size ({}x{}): its network flattens feature maps before it; resize to the model input instead",
                graph.info(deepest).id,
                input.height,
                input.width
            )));
        }
        let device = graph.device();
        let c = input.channels;
        let param = Param::new(options.basis, options.decorrelate, options.squash, [c, options.size, options.size], device);
        let mut rng = Rng::new(options.seed);
        let params = param.noise(batch, options.init_sd, &mut rng);
        // Plane k of the model's input is colour `colour_of(k)` of the image (blue first for a
        // BGR model: the image's planes are flipped before).
        let scale: Vec<f32> = (0..c).map(|k| 255.0 / input.std[input.colour_of(k)]).collect();
        let shift: Vec<f32> = (0..c).map(|k| -input.mean[input.colour_of(k)] / input.std[input.colour_of(k)]).collect();
        let normalise = (Tensor::from_data(TensorData::new(scale, [1, c, 1, 1]), device), Tensor::from_data(TensorData::new(shift, [1, c, 1, 1]), device));
        Ok(Self {
            redirected: graph.redirected(),
            graph: graph.redirected_at(&objective.unit_layers()),
            objective,
            layers,
            param,
            params,
            adam: Adam { rate: options.learning_rate, moments: None, t: 0 },
            options,
            rng,
            normalise,
            bgr: input.bgr && c == 3,
            model_size: [input.height, input.width],
            batch,
            steps: 0,
            redirected_steps: 0,
            loss: None,
        })
    }

    /// Start from pictures instead of noise: `pixels` in [0, 1], `batch` (or 1, shared)
    /// images of `C x size x size`, plane by plane. Resets the optimizer.
    pub fn start_from(&mut self, pixels: &[f32]) -> Result<()> {
        let [c, h, w] = self.param.shape;
        let one = c * h * w;
        let pixels = if pixels.len() == one { pixels.repeat(self.batch) } else { pixels.to_vec() };
        if pixels.len() != one * self.batch {
            return Err(Error::BadInput(format!("{} values given: need {} images of {c}x{h}x{w}", pixels.len(), self.batch)));
        }
        self.params = self.param.from_pixels(&pixels)?;
        self.adam = Adam { rate: self.options.learning_rate, moments: None, t: 0 };
        self.steps = 0;
        self.redirected_steps = 0;
        Ok(())
    }

    /// Run `n` optimization steps.
    ///
    /// During the redirect window each step reads back which images' own gradients vanished
    /// and computes the redirected gradient only if one did (Lucid's rule, per image). Natively
    /// it waits for that read-back on any device (on lavapipe that halves such a step). In the
    /// browser nothing can wait: there it is read only where it is ready at once (the CPU),
    /// and on WebGPU the redirected pass always runs (its result multiplied by zero for the
    /// live images). Awaiting the read-back there instead was tried: on SwiftShader a step of
    /// 16 channels went from 2.7 s to 49 s.
    pub fn step(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            let drawn = transform::draw(&self.options.transforms, &mut self.rng);
            let (loss, mut g) = self.gradient(&self.graph, &drawn)?;
            if self.steps < self.options.redirect_steps {
                // An image whose gradient vanishes (every path to its unit runs through
                // switched-off rectifiers) takes the gradient of the network with every
                // rectifier redirected; the others keep their own.
                let [b, ..] = g.dims();
                let live = g.clone().powi_scalar(2).reshape([b as i32, -1]).sum_dim(1).greater_elem(0.0).float();
                if Self::all_live_now(live.clone())? != Some(true) {
                    let (_, redirected) = self.gradient(&self.redirected, &drawn)?;
                    let live = live.reshape([b, 1, 1, 1]);
                    g = g * live.clone() + redirected * (live.neg() + 1.0);
                    self.redirected_steps += 1;
                }
            }
            self.params = self.adam.step(self.params.clone(), g);
            self.loss = Some(loss);
            self.steps += 1;
        }
        Ok(())
    }

    /// Whether every image has a gradient of its own, from `live` (`[batch, 1]`, 1 or 0), where
    /// that can be known now: natively always (waiting for the device), in the browser only
    /// where the read-back is ready at once.
    fn all_live_now(live: Tensor<2>) -> Result<Option<bool>> {
        #[cfg(not(target_arch = "wasm32"))]
        return Ok(Some(all_positive(&crate::readback::block(crate::readback::read(live))?)));
        #[cfg(target_arch = "wasm32")]
        return Ok(crate::readback::read_now(live).map(|v| all_positive(&v)));
    }

    /// The loss (`[1]`, detached) and its gradient with respect to the parameters, through
    /// `graph`, for the transforms `drawn`.
    fn gradient(&self, graph: &Graph, drawn: &[transform::Drawn]) -> Result<(Tensor<1>, Tensor<4>)> {
        let leaf = self.params.clone().autodiff().require_grad();
        let size = (self.options.fit == Fit::ModelInput).then_some(self.model_size);
        let x = self.normalised(transform::apply(drawn, self.param.image(leaf.clone()), size));
        let activations = graph.activations(x, &self.layers)?;
        let loss = self.objective.loss(&activations)?;
        let mut grads = loss.backward();
        let g = leaf
            .grad_remove(&mut grads)
            .ok_or_else(|| Error::InvalidGraph(format!("`{}` does not depend on the image", self.objective.describe(&self.graph))))?;
        Ok((loss.detach(), g))
    }

    /// Steps run so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// How many of those steps also computed the gradient through the redirected network
    /// (`Options::redirect_steps`): each such step costs about two. Only the steps where some
    /// image's own gradient vanished, except on WebGPU in the browser, where it is every step
    /// of the redirect window.
    pub fn redirected_steps(&self) -> usize {
        self.redirected_steps
    }

    /// The current images, untransformed, values in [0, 1] (unless the squash is an L2 ball).
    ///
    /// # Shapes
    /// returns `[batch, C, size, size]`
    pub fn image(&self) -> Tensor<4> {
        self.param.image(self.params.clone())
    }

    /// The mean of every channel of `layer` for each current image, untransformed, fed to
    /// the network as the steps feed it, `[batch, C]`: how strongly each pattern drives
    /// each channel (a channel still at 0 on its own pattern is off).
    pub fn channel_means(&self, layer: LayerId) -> Result<Tensor<2>> {
        let size = (self.options.fit == Fit::ModelInput).then_some(self.model_size);
        let x = self.normalised(transform::apply(&[], self.image(), size));
        let a = self.graph.activations(x, &[layer])?.remove(0);
        Ok(match a {
            crate::Value::Spatial(t) => {
                let [b, c, _, _] = t.dims();
                t.mean_dim(3).mean_dim(2).reshape([b, c])
            }
            crate::Value::Flat(t) => t,
        })
    }

    /// Images in [0, 1] normalised as the network takes them.
    fn normalised(&self, x: Tensor<4>) -> Tensor<4> {
        let x = if self.bgr { x.flip([1]) } else { x };
        x * self.normalise.0.clone() + self.normalise.1.clone()
    }

    /// The loss of the last step, `[1]`; `None` before the first.
    pub fn loss(&self) -> Option<Tensor<1>> {
        self.loss.clone()
    }

    /// What is optimized.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Images in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The network being visualised (its layers as the model's).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

/// Host images (`[batch, C, H, W]` values in [0, 1]) as RGBA8, one image after the other;
/// one-channel images become grey.
pub fn to_rgba(images: &[f32], channels: usize, height: usize, width: usize) -> Vec<u8> {
    let plane = height * width;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    images
        .chunks(channels * plane)
        .flat_map(|img| {
            (0..plane).flat_map(move |p| {
                let at = |c: usize| byte(img[c.min(channels - 1) * plane + p]);
                [at(0), at(1), at(2), 255]
            })
        })
        .collect()
}

/// The layer whose patterns a view shows first when none is asked for: the feature-map layer a
/// third of the way through the network's (textures rather than the first layers' plain
/// colours, and quick to optimize: only that far is run). `blocks.5` of the bundled
/// EfficientNet-Lite0, `conv2` of the digit model.
pub fn default_layer(graph: &crate::graph::Graph) -> Option<crate::LayerId> {
    let maps: Vec<usize> = (0..graph.layers().len()).filter(|&i| graph.layers()[i].shape.len() == 3).collect();
    maps.get(maps.len() / 3).map(|&i| crate::LayerId(i))
}

/// How each pattern drove its own channel: `values[i]` is channel `channels[i]`'s mean on
/// image `i`, and `off[i]` says it stayed switched off there (a rectified layer at 0: that
/// channel may never switch on; other layers' values can be negative and say nothing of the
/// kind).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Own {
    /// The channel's mean on its own pattern.
    pub values: Vec<f32>,
    /// Whether it stayed off.
    pub off: Vec<bool>,
}

/// [`Own`] from the read-back channel means of a run (`[images, C]`, as
/// [`Render::channel_means`] gives them) of `channels` of `layer`.
pub fn own(info: &crate::graph::LayerInfo, means: &[f32], channels: &[usize]) -> Own {
    let count = info.shape.first().copied().unwrap_or(1);
    let values: Vec<f32> = channels.iter().enumerate().map(|(i, &k)| means[i * count + k]).collect();
    let off = values.iter().map(|&v| info.rectified() && v <= 0.0).collect();
    Own { values, off }
}
