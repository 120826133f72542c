//! The attention view's boundary: a method's map for a target on an analysed image, in one
//! of two panes (to put two methods side by side), its picture over the image, its
//! faithfulness against a random map, the randomization check, and the figure to export.

use std::{cell::RefCell, rc::Rc};

use convscope_core::{
    LayerId, Model,
    attention::{
        self, AttentionMap, Explain, METHODS, Options, Resolution, Target,
        faithfulness::{Baseline, Scores, faithfulness},
        figure::{AttentionFigure, faithfulness_notes, location},
        sanity::sanity,
    },
    render::{Canvas, Colormap, side_by_side},
};
use wasm_bindgen::prelude::*;

use crate::{
    WebModel,
    analysis::{Analysis, Seen},
    js::{js_err, picture, set, test_hooks, to_js},
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
    scores: Option<Scores>,
}

/// The page's settings for the methods that run the network many times: smaller than the
/// papers' so a map comes in seconds on a software GPU (the CLI keeps the papers' defaults).
/// Occlusion's squares do not overlap in the page (49 images at 224 px instead of 169).
fn page_options() -> Options {
    Options { batch: 8, samples: 16, steps: 16, max_channels: 64, window: 32, stride: 32, ..Options::default() }
}

/// The page's faithfulness curves: 10 steps (10% of the pixels each; the CLI takes 20).
const PAGE_STEPS: usize = 10;

/// The page's sanity check: up to 5 steps of the randomization cascade (the CLI takes 6).
const PAGE_POINTS: usize = 5;

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
    /// The random map's curves on the image, scored once for every map of it.
    baseline: RefCell<Option<Baseline>>,
}

#[wasm_bindgen]
impl AttentionView {
    /// An attention view of `model`, explaining no image yet.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WebModel) -> AttentionView {
        AttentionView { model: model.model.clone(), image: RefCell::new(None), panes: RefCell::new([None, None]), baseline: RefCell::new(None) }
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
        self.baseline.borrow_mut().take();
        Ok(())
    }

    /// Explain the image with `method` for class `class` (minus class `against` when
    /// `against >= 0` and another class: [`Target::asked`]), at layer `layer` for the CAMs (empty: the last layer
    /// with feature maps), into pane `pane`. Returns `{method: {id, name, paper, resolution},
    /// layer, target, label, height, width, raw: Float32Array, constant, peak: [row, col]}`
    /// (`raw` only with the test hooks on: the page draws [`AttentionView::image`]).
    pub async fn explain(&self, pane: usize, method: String, class: usize, against: i32, layer: String) -> Result<JsValue, JsError> {
        let m = attention::method(&method).map_err(js_err)?;
        let g = &self.model.graph;
        let layer = if layer.is_empty() { None } else { Some(g.layer(&layer).map_err(js_err)?) };
        self.show(pane, m, Target::asked(class, usize::try_from(against).ok()), layer).await?;
        self.head(pane)
    }

    /// Show in pane `pane` a map computed elsewhere (the worker's engine, for the slow
    /// methods) for the same request as [`AttentionView::explain`]'s: `raw` is
    /// [`AttentionView::map_values`] there. Returns what `explain` does.
    pub fn adopt(&self, pane: usize, method: String, class: usize, against: i32, layer: String, raw: Vec<f32>) -> Result<JsValue, JsError> {
        self.adopt_map(pane, &method, class, against, &layer, raw)?;
        self.head(pane)
    }

    /// Pane `pane`'s raw map, to hand to another engine's view ([`AttentionView::adopt`]).
    #[wasm_bindgen(js_name = mapValues)]
    pub fn map_values(&self, pane: usize) -> Result<Vec<f32>, JsError> {
        self.with_pane(pane, |s| s.map.raw.clone())
    }

    /// Scores computed elsewhere for pane `pane`'s map (what [`AttentionView::faithfulness`]
    /// returned there), shown with it and in its exported figure.
    #[wasm_bindgen(js_name = adoptScores)]
    pub fn adopt_scores(&self, pane: usize, scores: JsValue) -> Result<(), JsError> {
        let text = js_sys::JSON::stringify(&scores).map_err(|_| JsError::new("the scores are not JSON"))?;
        let scores: Scores = serde_json::from_str(&String::from(text)).map_err(|e| js_err(format!("these are not faithfulness scores: {e}")))?;
        let pane = check_pane(pane)?;
        let mut panes = self.panes.borrow_mut();
        let shown = panes[pane].as_mut().ok_or_else(|| JsError::new(&format!("pane {pane} shows no map")))?;
        shown.scores = Some(scores);
        Ok(())
    }
}

impl AttentionView {
    /// [`AttentionView::adopt`] without the answer for the page.
    fn adopt_map(&self, pane: usize, method: &str, class: usize, against: i32, layer: &str, raw: Vec<f32>) -> Result<(), JsError> {
        let pane = check_pane(pane)?;
        let method = attention::method(method).map_err(js_err)?;
        let g = &self.model.graph;
        let layer = if layer.is_empty() { None } else { Some(g.layer(layer).map_err(js_err)?) };
        let target = Target::asked(class, usize::try_from(against).ok());
        let req = Explain::new(g, self.seen()?.input.clone(), target, layer, page_options()).map_err(js_err)?;
        // The map is at the layer's resolution or the input's (the method says which).
        let [height, width] = match method.info().resolution {
            Resolution::Layer => {
                let shape = &g.info(req.layer).shape;
                [shape[1], shape[2]]
            }
            Resolution::Input => [self.model.input.height, self.model.input.width],
        };
        let map = AttentionMap::new(raw, height, width).map_err(js_err)?;
        let label = target.label(|c| self.model.label(c));
        self.panes.borrow_mut()[pane] = Some(Shown { method, target, layer: req.layer, label, map, scores: None });
        Ok(())
    }

    /// What the page is told of pane `pane`'s map (see [`AttentionView::explain`]).
    fn head(&self, pane: usize) -> Result<JsValue, JsError> {
        let g = &self.model.graph;
        self.with_pane(pane, |s| {
            let info = s.method.info();
            let head = serde_json::json!({
                "method": info, "layer": if info.resolution == Resolution::Layer { Some(&g.info(s.layer).id) } else { None },
                "target": s.target, "label": s.label, "height": s.map.height, "width": s.map.width, "constant": s.map.constant, "peak": s.map.peak(),
            });
            let out: js_sys::Object = to_js(&head)?.into();
            if test_hooks() {
                set(&out, "raw", &js_sys::Float32Array::from(&s.map.raw[..]).into())?;
            }
            Ok(out.into())
        })?
    }
}

#[wasm_bindgen]
impl AttentionView {
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

    /// How faithful pane `pane`'s map is: deletion and insertion curves over the page's steps,
    /// the drop when only its highlighted region is kept, the same for a random map keeping
    /// as many pixels, and each score judged against the random map's. `{ours: {...},
    /// random: {...}, comparisons: [{name, ours, random, lower_is_better, percent, verdict}]}`
    /// (see `Scores`).
    pub async fn faithfulness(&self, pane: usize) -> Result<JsValue, JsError> {
        to_js(&self.score(pane, PAGE_STEPS).await?)
    }

    /// The randomization sanity check for pane `pane`'s method and target: the model's
    /// weights re-drawn from the top down at up to the page's number of steps, each map's Spearman rank
    /// correlation with the trained model's. `{steps: [{layer, randomized, rho, constant}],
    /// flagged, summary}`.
    pub async fn sanity(&self, pane: usize) -> Result<JsValue, JsError> {
        let (method, target, layer, base) = self.with_pane(pane, |s| (s.method, s.target, s.layer, s.map.clone()))?;
        let req = Explain::new(&self.model.graph, self.seen()?.input.clone(), target, Some(layer), page_options()).map_err(js_err)?;
        to_js(&sanity(&req, method, &base, PAGE_POINTS).await.map_err(js_err)?)
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
    /// Compute `method`'s map for `target` (at `layer` for the CAMs, else the last layer with
    /// feature maps) into pane `pane`.
    async fn show(&self, pane: usize, method: &'static dyn attention::Method, target: Target, layer: Option<LayerId>) -> Result<(), JsError> {
        let pane = check_pane(pane)?;
        let g = &self.model.graph;
        let seen = self.seen()?;
        let req = {
            let req = Explain::new(g, seen.input.clone(), target, layer, page_options()).map_err(js_err)?;
            // The analysis kept every layer: the CAMs start from it instead of running the network.
            match g.trace_of(req.layer, &seen.layers) {
                Ok(trace) => req.with_trace(trace),
                Err(_) => req,
            }
        };
        let map = req.map(method).await.map_err(js_err)?;
        if !self.still(&seen) {
            return Err(JsError::new("the image changed while its map was computed"));
        }
        let label = target.label(|c| self.model.label(c));
        self.panes.borrow_mut()[pane] = Some(Shown { method, target, layer: req.layer, label, map, scores: None });
        Ok(())
    }

    /// Score pane `pane`'s map, reusing the random map's curves of this image when it can
    /// (they are dropped with the image).
    async fn score(&self, pane: usize, steps: usize) -> Result<Scores, JsError> {
        let (target, layer, map) = self.with_pane(pane, |s| (s.target, s.layer, s.map.clone()))?;
        let seen = self.seen()?;
        let req = Explain::new(&self.model.graph, seen.input.clone(), target, Some(layer), page_options()).map_err(js_err)?;
        let baseline = self.baseline.borrow_mut().take();
        let (scores, baseline) = faithfulness(&req, &map, steps, baseline).await.map_err(js_err)?;
        // The curves and the scores belong to the image scored: kept only if it is still shown.
        if !self.still(&seen) {
            return Err(JsError::new("the image changed while its map was scored"));
        }
        *self.baseline.borrow_mut() = Some(baseline);
        // Only onto the map scored: the pane may show another one by now.
        if let Some(s) = self.panes.borrow_mut()[pane].as_mut().filter(|s| s.target == target && s.map == map) {
            s.scores = Some(scores.clone());
        }
        Ok(scores)
    }

    /// `seen` is still the image explained (a `setImage` may have come during an await).
    fn still(&self, seen: &Rc<Seen>) -> bool {
        self.image.borrow().as_ref().is_some_and(|now| Rc::ptr_eq(now, seen))
    }

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
        if let Some(scores) = &s.scores {
            notes.extend(faithfulness_notes(scores));
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use convscope_core::readback::block;

    use super::*;
    use crate::model::tests::{analyse, bundled};

    /// What the core scores from nothing for `view`'s image and pane `pane`'s map.
    fn fresh(view: &AttentionView, pane: usize) -> Scores {
        let (target, layer, map) = view.with_pane(pane, |s| (s.target, s.layer, s.map.clone())).unwrap();
        let req = Explain::new(&view.model.graph, view.seen().unwrap().input.clone(), target, Some(layer), page_options()).unwrap();
        block(faithfulness(&req, &map, PAGE_STEPS, None)).unwrap().0
    }

    /// A map the worker's view computed, adopted by the page's, is the same map and scores the
    /// same; and the worker's progress counted every image Score-CAM ran, ending at its total.
    #[test]
    fn an_adopted_map_is_the_map_it_was_and_progress_counts_every_image() {
        use std::cell::RefCell;

        use convscope_core::progress;

        let model = bundled();
        let (worker, page) = (AttentionView::new(&model), AttentionView::new(&model));
        worker.set_image(&analyse(&model, "chelsea.png")).unwrap();
        page.set_image(&analyse(&model, "chelsea.png")).unwrap();
        let top = worker.seen().unwrap().model.top_k(&worker.seen().unwrap().logits, 1)[0].index;
        let counted = Rc::new(RefCell::new(Vec::new()));
        let c = counted.clone();
        progress::listen(Some(Box::new(move |done, total| c.borrow_mut().push((done, total)))));
        block(worker.show(0, attention::method("scorecam").unwrap(), Target::Class { class: top }, None)).unwrap();
        progress::listen(None);
        // The blank image, then 64 channels in batches of 8.
        let expected: Vec<(usize, usize)> = std::iter::once(1).chain((1..=8).map(|b| 1 + 8 * b)).map(|d| (d, 65)).collect();
        assert_eq!(*counted.borrow(), expected);

        page.adopt_map(0, "scorecam", top, -1, "", worker.map_values(0).unwrap()).unwrap();
        let (a, b) = (worker.with_pane(0, |s| (s.map.clone(), s.layer, s.target)).unwrap(), page.with_pane(0, |s| (s.map.clone(), s.layer, s.target)).unwrap());
        assert_eq!(a, b);
        assert_eq!(block(page.score(0, PAGE_STEPS)).unwrap(), block(worker.score(0, PAGE_STEPS)).unwrap());
    }

    /// The page scores every map of one image against the random map's curves computed once;
    /// the scores are the core's from nothing, and a new image drops the curves with it.
    #[test]
    fn scoring_reuses_the_random_curves_of_an_image_and_drops_them_with_it() {
        let model = bundled();
        let view = AttentionView::new(&model);
        view.set_image(&analyse(&model, "chelsea.png")).unwrap();
        let top = view.seen().unwrap().model.top_k(&view.seen().unwrap().logits, 1)[0].index;
        let gradcam = attention::method("gradcam").unwrap();
        block(view.show(0, gradcam, Target::Class { class: top }, None)).unwrap();
        block(view.show(1, attention::method("layercam").unwrap(), Target::Class { class: top }, None)).unwrap();
        let first = block(view.score(0, PAGE_STEPS)).unwrap();
        assert!(view.baseline.borrow().is_some(), "the random map's curves are kept");
        assert_eq!(first, fresh(&view, 0));
        let second = block(view.score(1, PAGE_STEPS)).unwrap();
        assert_eq!(second, fresh(&view, 1));
        assert_eq!(first.random.deletion, second.random.deletion, "one random baseline per image");
        assert_eq!(view.with_pane(0, |s| s.scores.clone()).unwrap(), Some(first.clone()), "the scores land on the map scored");

        view.set_image(&analyse(&model, "coffee.png")).unwrap();
        assert!(view.baseline.borrow().is_none(), "a new image drops the old image's curves");
        block(view.show(0, gradcam, Target::Class { class: top }, None)).unwrap();
        let other = block(view.score(0, PAGE_STEPS)).unwrap();
        assert_eq!(other, fresh(&view, 0));
        assert_ne!(other.random.deletion, first.random.deletion);
    }
}
