//! Dataset examples' boundary: an index of a set of images for some layers of a model (the
//! core's [`Index`]), grown a batch at a time by a worker, kept by the page as JSON.

use std::{cell::RefCell, rc::Rc};

use convscope_core::{Model, RgbaImage, examples::Index};
use wasm_bindgen::prelude::*;

use crate::{
    WebModel,
    js::{js_err, to_js},
};

/// An index of a set of images: per channel of its layers, the images that drive it hardest
/// and its statistics over the set.
#[wasm_bindgen]
pub struct ExampleIndex {
    model: Rc<Model>,
    /// `None` only while [`ExampleIndex::add`] runs.
    index: RefCell<Option<Index>>,
}

impl ExampleIndex {
    fn with<T>(&self, f: impl FnOnce(&Index) -> Result<T, JsError>) -> Result<T, JsError> {
        f(self.index.borrow().as_ref().ok_or_else(|| JsError::new("the index is busy adding images"))?)
    }
}

#[wasm_bindgen]
impl ExampleIndex {
    /// An empty index of `layers` of `model`, keeping `top` examples a channel, images fed
    /// as `fit` (`whole` or `center-crop`) says.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WebModel, layers: Vec<String>, top: usize, fit: String) -> Result<ExampleIndex, JsError> {
        let g = &model.model.graph;
        let ids = layers.iter().map(|l| g.layer(l)).collect::<Result<Vec<_>, _>>().map_err(js_err)?;
        let index = Index::new(&model.model, &ids, top, &fit).map_err(js_err)?;
        Ok(ExampleIndex { model: model.model.clone(), index: RefCell::new(Some(index)) })
    }

    /// An index saved by [`ExampleIndex::to_json`] (or the CLI), for `model`: refused when it
    /// is of another model or its layers do not fit this one.
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(model: &WebModel, text: &str) -> Result<ExampleIndex, JsError> {
        let index = Index::from_json(text).map_err(js_err)?;
        let m = &model.model;
        if index.model != m.name {
            return Err(JsError::new(&format!("this index is of model {}, not {}", index.model, m.name)));
        }
        for l in &index.layers {
            let info = m.graph.info(m.graph.layer(&l.id).map_err(js_err)?);
            if info.shape != l.shape {
                return Err(JsError::new(&format!("layer {} of this index is {:?}, of the model {:?}", l.id, l.shape, info.shape)));
            }
        }
        Ok(ExampleIndex { model: m.clone(), index: RefCell::new(Some(index)) })
    }

    /// The index as JSON (the CLI's `index.json`).
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self) -> Result<String, JsError> {
        self.with(|i| Ok(i.to_json()))
    }

    /// Images indexed.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> Result<usize, JsError> {
        self.with(|i| Ok(i.images.len()))
    }

    /// Whether image `name` is indexed.
    pub fn has(&self, name: &str) -> Result<bool, JsError> {
        self.with(|i| Ok(i.has(name)))
    }

    /// `{model, fit, top, layers: [{id, shape}]}`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        self.with(|i| {
            let layers: Vec<_> = i.layers.iter().map(|l| serde_json::json!({ "id": l.id, "shape": l.shape })).collect();
            to_js(&serde_json::json!({ "model": i.model, "fit": i.fit, "top": i.top, "layers": layers }))
        })
    }

    /// The images that are some channel's example (the ones whose pictures are worth keeping).
    pub fn kept(&self) -> Result<Vec<String>, JsError> {
        self.with(|i| {
            let mut names: Vec<String> = i.layers.iter().flat_map(|l| l.channels.iter().flat_map(|c| c.top.iter().map(|e| e.image.clone()))).collect();
            names.sort();
            names.dedup();
            Ok(names)
        })
    }

    /// Add a batch of images: `names[i]` is `sizes[2i]` x `sizes[2i + 1]` pixels of RGBA8,
    /// one after the other in `rgba`. Images already indexed are skipped; returns how many were
    /// added.
    pub async fn add(&self, names: Vec<String>, rgba: Vec<u8>, sizes: Vec<u32>) -> Result<usize, JsError> {
        if sizes.len() != names.len() * 2 {
            return Err(JsError::new(&format!("{} sizes for {} images", sizes.len() / 2, names.len())));
        }
        let mut batch = Vec::with_capacity(names.len());
        let mut at = 0;
        for (name, wh) in names.into_iter().zip(sizes.chunks_exact(2)) {
            let (w, h) = (wh[0] as usize, wh[1] as usize);
            let bytes = rgba.get(at..at + w * h * 4).ok_or_else(|| JsError::new(&format!("the pixels of {name} are missing")))?;
            at += w * h * 4;
            batch.push((name, RgbaImage::new(w, h, bytes.to_vec()).map_err(js_err)?));
        }
        let mut index = self.index.borrow_mut().take().ok_or_else(|| JsError::new("the index is already adding images"))?;
        let added = index.add(&self.model, &batch).await;
        *self.index.borrow_mut() = Some(index);
        added.map_err(js_err)
    }

    /// Channel `channel` of `layer`: `{images, top: [{image, y, x, value, crop: [x, y, width,
    /// height]}], mean, active, histogram}` (`crop` in the image's pixels, as the CLI's
    /// `--json`; `active` the fraction of positions above zero).
    pub fn examples(&self, layer: &str, channel: usize) -> Result<JsValue, JsError> {
        self.with(|i| {
            let l = i.layer(layer).map_err(js_err)?;
            let ch = l.channels.get(channel).ok_or_else(|| JsError::new(&format!("{layer} has {} channels, not {}", l.channels.len(), channel + 1)))?;
            let top = ch
                .top
                .iter()
                .map(|e| {
                    let r = i.crop(l, e).map_err(js_err)?;
                    Ok(serde_json::json!({ "image": e.image, "y": e.y, "x": e.x, "value": e.value, "crop": [r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0] }))
                })
                .collect::<Result<Vec<_>, JsError>>()?;
            to_js(&serde_json::json!({
                "images": i.images.len(), "top": top, "mean": ch.stats.mean(), "active": ch.stats.fraction_active(), "histogram": ch.stats.histogram,
            }))
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use convscope_core::readback::block;

    use super::*;
    use crate::model::tests::{bundled, pixels};

    /// The page's batches give the index the CLI's one-image-at-a-time adds give, it survives
    /// its JSON, and a second add of the same images changes nothing.
    #[test]
    fn batches_from_the_page_index_as_the_core_does() {
        let model = bundled();
        let layers = vec!["stem".to_string(), "blocks.5".to_string()];
        let page = ExampleIndex::new(&model, layers.clone(), 2, "whole".into()).unwrap();
        let (mut names, mut rgba, mut sizes) = (vec![], vec![], vec![]);
        for name in ["chelsea.png", "coffee.png", "rocket.jpg"] {
            let (px, w, h) = pixels(name);
            names.push(name.to_string());
            rgba.extend_from_slice(&px);
            sizes.extend([w as u32, h as u32]);
        }
        assert_eq!(block(page.add(names.clone(), rgba.clone(), sizes.clone())).unwrap(), 3);
        assert_eq!(block(page.add(names, rgba, sizes)).unwrap(), 0);

        let g = &model.model.graph;
        let ids: Vec<_> = layers.iter().map(|l| g.layer(l).unwrap()).collect();
        let mut core = Index::new(&model.model, &ids, 2, "whole").unwrap();
        for name in ["rocket.jpg", "chelsea.png", "coffee.png"] {
            let (px, w, h) = pixels(name);
            block(core.add(&model.model, &[(name.to_string(), RgbaImage::new(w, h, px).unwrap())])).unwrap();
        }
        let json = page.to_json().unwrap();
        let back = Index::from_json(&json).unwrap();
        assert_eq!(back.images, core.images);
        for (a, b) in back.layers.iter().zip(&core.layers) {
            for (ca, cb) in a.channels.iter().zip(&b.channels) {
                assert_eq!(ca.top.iter().map(|e| (&e.image, e.y, e.x)).collect::<Vec<_>>(), cb.top.iter().map(|e| (&e.image, e.y, e.x)).collect::<Vec<_>>());
                for (ea, eb) in ca.top.iter().zip(&cb.top) {
                    assert!((ea.value - eb.value).abs() <= 1e-4 * eb.value.abs().max(1.0), "{} vs {}", ea.value, eb.value);
                }
                assert_eq!(ca.stats.histogram, cb.stats.histogram);
            }
        }
        let again = ExampleIndex::from_json(&model, &json).unwrap();
        assert_eq!(again.count().unwrap(), 3);
        assert!(again.has("coffee.png").unwrap() && !again.has("camera.png").unwrap());
        // Two examples a channel over 3 images: every image is someone's example here.
        assert_eq!(again.kept().unwrap(), vec!["chelsea.png", "coffee.png", "rocket.jpg"]);
    }
}
