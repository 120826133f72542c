//! The attention view's boundary: a method's map for a target on an analysed image, in one
//! of two panes (to put two methods side by side), its picture over the image, its
//! faithfulness against a random map, the randomization check, and the figure to export.

use std::{cell::RefCell, rc::Rc};

use burn::tensor::Tensor;
use convscope_core::{
    LayerId, Model,
    attention::{
        self, AttentionMap, Explain, METHODS, Options, Resolution, Target,
        faithfulness::{Faithfulness, default_keep, kept, probes, random_map, score},
        figure::{AttentionFigure, faithfulness_notes, location},
        sanity::{Report, Step, cascade, counts, randomized_graph},
    },
    render::{Canvas, Colormap, side_by_side},
};
use wasm_bindgen::prelude::*;

use crate::{
    WebModel,
    analysis::{Analysis, Seen},
    js::{js_err, picture, read_back, set, test_hooks, to_js},
};

/// Panes: two maps side by side.
const PANES: usize = 2;

/// A map shown in a pane, kept on the host for pictures and exports.
struct Shown {
    method: &'static dyn attention::Method,
    target: Target,
    layer: LayerId,
    label: String,
    map: AttentionMap,
    scores: Option<(Faithfulness, Faithfulness)>,
}

/// The page's settings for the methods that run the network many times: smaller than the
/// papers' so a map comes in seconds on a software GPU (the CLI keeps the papers' defaults).
/// Occlusion's squares do not overlap in the page (49 images at 224 px instead of 169).
fn page_options() -> Options {
    Options { batch: 8, samples: 16, steps: 16, max_channels: 64, window: 32, stride: 32, ..Options::default() }
}

/// Every method: `[{id, name, paper, resolution, cost, slow}]`, in menu order; `cost` is null
/// for the quick ones, else what the method runs in the page (at the bundled model's 224 px);
/// `slow` when it runs the network more than once.
#[wasm_bindgen(js_name = attentionMethods)]
pub fn attention_methods() -> Result<JsValue, JsError> {
    let o = page_options();
    to_js(
        &METHODS
            .iter()
            .map(|m| {
                let info = m.info();
                let cost = m.cost(&o, [224, 224]);
                serde_json::json!({"id": info.id, "name": info.name, "paper": info.paper, "resolution": info.resolution, "cost": cost.describe(), "slow": cost.slow()})
            })
            .collect::<Vec<_>>(),
    )
}

fn check_pane(pane: usize) -> Result<usize, JsError> {
    if pane < PANES { Ok(pane) } else { Err(JsError::new(&format!("pane {pane} does not exist; use 0 or 1"))) }
}

/// The attention view over one model: the analysed image it explains, the maps in its two
/// panes, and the random map's scores for that image (computed once).
#[wasm_bindgen]
pub struct AttentionView {
    model: Rc<Model>,
    image: RefCell<Option<Rc<Seen>>>,
    panes: RefCell<[Option<Shown>; PANES]>,
    /// The random map's deletion and insertion probabilities for the image:
    /// `(target, steps, [p(image), deletion..., insertion...])`.
    random_curves: RefCell<Option<(Target, usize, Vec<f32>)>>,
}

#[wasm_bindgen]
impl AttentionView {
    /// An attention view of `model`, explaining no image yet.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WebModel) -> AttentionView {
        AttentionView { model: model.model.clone(), image: RefCell::new(None), panes: RefCell::new([None, None]), random_curves: RefCell::new(None) }
    }

    /// Explain `analysis` from now on (both panes are cleared). It must be of this view's model.
    #[wasm_bindgen(js_name = setImage)]
    pub fn set_image(&self, analysis: &Analysis) -> Result<(), JsError> {
        let seen = analysis.seen();
        if !Rc::ptr_eq(&seen.model, &self.model) {
            return Err(JsError::new("this image was analysed by another model"));
        }
        *self.image.borrow_mut() = Some(seen);
        *self.panes.borrow_mut() = [None, None];
        self.random_curves.borrow_mut().take();
        Ok(())
    }

    /// Explain the image with `method` for class `class` (minus class `against` when
    /// `against >= 0` and another class: [`Target::asked`]), at layer `layer` for the CAMs (empty: the last layer
    /// with feature maps), into pane `pane`. Returns `{method: {id, name, paper, resolution},
    /// layer, target, label, height, width, raw: Float32Array, constant, peak: [row, col]}`
    /// (`raw` only with the test hooks on: the page draws [`AttentionView::image`]).
    pub async fn explain(&self, pane: usize, method: String, class: usize, against: i32, layer: String) -> Result<JsValue, JsError> {
        let pane = check_pane(pane)?;
        let m = attention::method(&method).map_err(js_err)?;
        let g = &self.model.graph;
        let layer = if layer.is_empty() { None } else { Some(g.layer(&layer).map_err(js_err)?) };
        let target = Target::asked(class, usize::try_from(against).ok());
        let req = {
            let seen = self.seen()?;
            let req = Explain::new(g, seen.input.clone(), target, layer, page_options()).map_err(js_err)?;
            // The analysis kept every layer: the CAMs start from it instead of running the network.
            match g.trace_of(req.layer, &seen.layers) {
                Ok(trace) => req.with_trace(trace),
                Err(_) => req,
            }
        };
        let raw = req.run(m).map_err(js_err)?;
        let [h, w] = raw.dims();
        let map = AttentionMap::new(read_back(raw).await?, h, w).map_err(js_err)?;
        let label = target.label(|c| self.model.label(c));
        let info = m.info();
        let layer_id = g.info(req.layer).id.clone();
        let head = serde_json::json!({
            "method": info, "layer": if info.resolution == Resolution::Layer { Some(&layer_id) } else { None },
            "target": target, "label": label, "height": h, "width": w, "constant": map.constant, "peak": map.peak(),
        });
        let out: js_sys::Object = to_js(&head)?.into();
        if test_hooks() {
            set(&out, "raw", &js_sys::Float32Array::from(&map.raw[..]).into())?;
        }
        self.panes.borrow_mut()[pane] = Some(Shown { method: m, target, layer: req.layer, label, map, scores: None });
        Ok(out.into())
    }

    /// Forget pane `pane` (e.g. when the second method is turned off).
    pub fn clear(&self, pane: usize) -> Result<(), JsError> {
        self.panes.borrow_mut()[check_pane(pane)?] = None;
        Ok(())
    }

    /// Pane `pane`'s map, `size` pixels on its longer side: over the image as the model saw
    /// it with `opacity` in `[0, 1]`, or with a negative `opacity` the raw map at its own
    /// resolution, as blocks. `{width, height, rgba}`.
    pub fn image(&self, pane: usize, size: usize, opacity: f32, colormap: String) -> Result<JsValue, JsError> {
        picture(&self.with_attention_figure(pane, size, opacity, &colormap, |f| f.image())?)
    }

    /// How faithful pane `pane`'s map is: deletion and insertion curves over `steps` steps,
    /// the drop when only its highlighted region is kept, and the same for a random map
    /// keeping as many pixels. `{ours: {...}, random: {...}}` (see `Faithfulness`).
    pub async fn faithfulness(&self, pane: usize, steps: usize) -> Result<JsValue, JsError> {
        let pane = check_pane(pane)?;
        let (target, layer, importance) = self.with_pane(pane, |s| (s.target, s.layer, s.map.resized(self.model.input.width, self.model.input.height)))?;
        let input = self.seen()?.input.clone();
        let req = Explain::new(&self.model.graph, input.clone(), target, Some(layer), page_options()).map_err(js_err)?;
        let steps = steps.clamp(2, 100);
        let keep = default_keep(&importance);
        let (w, h) = (self.model.input.width, self.model.input.height);
        let random = random_map(w, h, req.options.seed);
        let n = 2 * steps + 3;
        // The random map's curves depend on the image and the target only: scored once.
        let cached = self.random_curves.borrow().as_ref().filter(|c| c.0 == target && c.1 == steps).map(|c| c.2.clone());
        let curves = match cached {
            Some(c) => c,
            None => {
                let [_, c, ih, iw] = input.dims();
                let probes = probes(&req, &random, steps, keep).map_err(js_err)?.slice([0..n - 1, 0..c, 0..ih, 0..iw]);
                let p = read_back(req.scores(Tensor::cat(vec![input, probes], 0), true).map_err(js_err)?).await?;
                *self.random_curves.borrow_mut() = Some((target, steps, p.clone()));
                p
            }
        };
        let ours = Tensor::cat(vec![probes(&req, &importance, steps, keep).map_err(js_err)?, kept(&req, &random, keep).map_err(js_err)?], 0);
        let p = read_back(req.scores(ours, true).map_err(js_err)?).await?;
        let ours = score(&p[..n], steps, curves[0], keep).map_err(js_err)?;
        let random = score(&[&curves[1..], &p[n..]].concat(), steps, curves[0], keep).map_err(js_err)?;
        let out = to_js(&serde_json::json!({"ours": ours, "random": random}))?;
        if let Some(s) = self.panes.borrow_mut()[pane].as_mut() {
            s.scores = Some((ours, random));
        }
        Ok(out)
    }

    /// The randomization sanity check for pane `pane`'s method and target: the model's
    /// weights re-drawn from the top down at up to `points` steps, each map's Spearman rank
    /// correlation with the trained model's. `{steps: [{layer, randomized, rho, constant}],
    /// flagged}`.
    pub async fn sanity(&self, pane: usize, points: usize) -> Result<JsValue, JsError> {
        let pane = check_pane(pane)?;
        let (method, target, layer, base) = self.with_pane(pane, |s| (s.method, s.target, s.layer, s.map.clone()))?;
        let input = self.seen()?.input.clone();
        let g = &self.model.graph;
        let order = cascade(g);
        let mut steps = Vec::new();
        for n in counts(order.len(), points.clamp(1, 16)) {
            let randomized = randomized_graph(g, &order, n, page_options().seed);
            let req = Explain::new(&randomized, input.clone(), target, Some(layer), page_options()).map_err(js_err)?;
            let raw = req.run(method).map_err(js_err)?;
            let [h, w] = raw.dims();
            let map = AttentionMap::new(read_back(raw).await?, h, w).map_err(js_err)?;
            steps.push(Step::compare(&base, &map, &g.info(order[n - 1]).id, n));
        }
        to_js(&Report::new(steps))
    }

    /// The maps shown (one or both panes), each over the image with its title, legend and
    /// scores, side by side: `{width, height, rgba}`.
    pub fn export(&self, size: usize, opacity: f32, colormap: String) -> Result<JsValue, JsError> {
        let shown: Vec<usize> = (0..PANES).filter(|&p| self.panes.borrow()[p].is_some()).collect();
        if shown.is_empty() {
            return Err(JsError::new("no attention map is shown"));
        }
        let figures = shown.into_iter().map(|p| self.with_attention_figure(p, size, opacity, &colormap, |f| f.render())).collect::<Result<Vec<_>, _>>()?;
        picture(&side_by_side(&figures))
    }
}

impl AttentionView {
    /// The image explained.
    fn seen(&self) -> Result<Rc<Seen>, JsError> {
        self.image.borrow().clone().ok_or_else(|| JsError::new("no image has been analysed yet"))
    }

    /// `f` of the map shown in pane `pane`.
    fn with_pane<T>(&self, pane: usize, f: impl FnOnce(&Shown) -> T) -> Result<T, JsError> {
        let pane = check_pane(pane)?;
        let panes = self.panes.borrow();
        panes[pane].as_ref().map(f).ok_or_else(|| JsError::new(&format!("pane {pane} shows no map")))
    }

    fn with_attention_figure(
        &self,
        pane: usize,
        size: usize,
        opacity: f32,
        colormap: &str,
        draw: impl FnOnce(&AttentionFigure) -> Canvas,
    ) -> Result<Canvas, JsError> {
        self.with_pane(pane, |s| self.attention_figure(s, size, opacity, colormap, draw))?
    }

    fn attention_figure(&self, s: &Shown, size: usize, opacity: f32, colormap: &str, draw: impl FnOnce(&AttentionFigure) -> Canvas) -> Result<Canvas, JsError> {
        let seen = self.seen()?;
        let info = s.method.info();
        let mut notes = vec![location(&info, &self.model.graph.info(s.layer).id)];
        if let Some((ours, random)) = &s.scores {
            notes.extend(faithfulness_notes(ours, Some(random)));
        }
        let fig = AttentionFigure {
            title: format!("{} {} {} {}", seen.name, self.model.name, info.name, s.label),
            map: &s.map,
            overlay: seen.overlay(opacity),
            colormap: Colormap::named(colormap, false).map_err(js_err)?,
            size: size.clamp(16, 2048),
            notes,
        };
        Ok(draw(&fig))
    }
}
