//! The activations view's boundary: a page of a layer's feature maps for an image and the
//! one it is compared with, coloured on shared scales; one map zoomed; figures to export.
//! Only the maps on the page and four statistics a channel are read back.

use std::{cell::RefCell, rc::Rc};

use burn::tensor::Tensor;
use convscope_core::{
    Model, Value,
    activations::{ChannelStats, Normalisation, RankBy, channel_maps, layer_scales, map_dims, stats_tensor},
    render::{Canvas, Colormap, GridFigure, Scale, Tiling, ZoomFigure, colorize_maps, side_by_side},
};
use wasm_bindgen::prelude::*;

use crate::{
    WebModel,
    analysis::{Analysis, Seen},
    js::{js_err, picture, read_back, set, test_hooks, to_js},
};

/// An image on the page: its slot, its analysis and the layer's value on it.
type Shown = (usize, Rc<Seen>, Value);

/// Image slots: the image and the one it is compared with.
const SLOTS: usize = 2;

/// What the last [`ActivationsView::show`] drew, kept on the host for zooms and exports.
struct HostView {
    layer: String,
    channels: Vec<usize>,
    height: usize,
    width: usize,
    /// One per drawn channel.
    scales: Vec<Scale>,
    colormap: Colormap,
    per_channel: bool,
    /// `(slot, maps of the drawn channels)`.
    maps: Vec<(usize, Vec<f32>)>,
}

impl HostView {
    fn position(&self, channel: usize) -> Result<usize, JsError> {
        self.channels.iter().position(|&c| c == channel).ok_or_else(|| JsError::new(&format!("channel {channel} is not on the page shown")))
    }
}

/// `n` RGBA colours of colormap `name` from its start to its end, for the legend.
#[wasm_bindgen(js_name = colormapRamp)]
pub fn colormap_ramp(name: String, n: usize) -> Result<Vec<u8>, JsError> {
    Ok(Colormap::named(&name, false).map_err(js_err)?.ramp(n.clamp(2, 4096)))
}

fn check_slot(slot: usize) -> Result<usize, JsError> {
    if slot < SLOTS { Ok(slot) } else { Err(JsError::new(&format!("image slot {slot} does not exist; use 0 or 1"))) }
}

/// The activations view over one model: the analyses it shows (slot 0, and slot 1 when
/// comparing) and the page of maps last drawn.
#[wasm_bindgen]
pub struct ActivationsView {
    model: Rc<Model>,
    images: RefCell<[Option<Rc<Seen>>; SLOTS]>,
    shown: RefCell<Option<HostView>>,
}

#[wasm_bindgen]
impl ActivationsView {
    /// A view of `model`'s activations, showing no image yet.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WebModel) -> ActivationsView {
        ActivationsView { model: model.model.clone(), images: RefCell::new([None, None]), shown: RefCell::new(None) }
    }

    /// Show `analysis` in image slot `slot` (0: the image, 1: the one it is compared with).
    /// It must be of this view's model.
    #[wasm_bindgen(js_name = setImage)]
    pub fn set_image(&self, slot: usize, analysis: &Analysis) -> Result<(), JsError> {
        let seen = analysis.seen();
        if !Rc::ptr_eq(&seen.model, &self.model) {
            return Err(JsError::new("this image was analysed by another model"));
        }
        self.images.borrow_mut()[check_slot(slot)?] = Some(seen);
        self.shown.borrow_mut().take();
        Ok(())
    }

    /// Stop showing the image in `slot` (e.g. when the comparison is closed).
    #[wasm_bindgen(js_name = clearImage)]
    pub fn clear_image(&self, slot: usize) -> Result<(), JsError> {
        self.images.borrow_mut()[check_slot(slot)?] = None;
        self.shown.borrow_mut().take();
        Ok(())
    }

    /// A page of layer `layer`'s feature maps on every image shown (slot 0, and slot 1
    /// when comparing), the same channels on the same colour scales.
    ///
    /// `norm`: `channel` or `layer`; `colormap`: `auto` or a name; `rank`: `index`, `max`,
    /// `mean` or `active` (by the first image); the page is channels `start..start+count` of
    /// that order. Returns `{layer, kind, shape, total, height, width, start, channels,
    /// signed, colormap, perChannel, scales: [{lo, hi}], images: [{slot, name, stats: [{min,
    /// max, mean, active}], values: Float32Array}]}` where `values` holds the page's maps
    /// one after the other (`height * width` each): the activations [`ActivationsView::paint_grid`]
    /// colours (only with the test hooks on: the page never needs them).
    pub async fn show(&self, layer: String, norm: String, colormap: String, rank: String, start: usize, count: usize) -> Result<JsValue, JsError> {
        let id = self.model.graph.layer(&layer).map_err(js_err)?;
        let norm = Normalisation::named(&norm).map_err(js_err)?;
        let rank = RankBy::named(&rank).map_err(js_err)?;
        // Values (cheap handles) and statistics out of the cell before awaiting.
        let (seen, mut stats): (Vec<Shown>, Vec<Option<Vec<ChannelStats>>>) = self
            .images
            .borrow()
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| s.as_ref().map(|s| ((slot, s.clone(), s.layers[id.0].clone()), s.stats.borrow()[id.0].clone())))
            .unzip();
        if seen.first().is_none_or(|s| s.0 != 0) {
            return Err(JsError::new("no image has been analysed yet"));
        }
        let (total, height, width) = map_dims(&seen[0].2);
        // A ranking needs the first image's statistics before the page is known.
        if rank != RankBy::Index && stats[0].is_none() {
            stats[0] = Some(ChannelStats::from_rows(&read_back(stats_tensor(&seen[0].2)).await?));
        }
        let start = start.min(total.saturating_sub(1));
        let channels: Vec<usize> = match &stats[0] {
            Some(s) if rank != RankBy::Index => rank.order(s)[start..(start + count.max(1)).min(total)].to_vec(),
            _ => (start..(start + count.max(1)).min(total)).collect(),
        };
        // One read-back per image: the page's maps, with the layer's statistics the first
        // time the layer is shown.
        let mut values = Vec::with_capacity(seen.len());
        for ((_, _, value), stats) in seen.iter().zip(stats.iter_mut()) {
            let maps = channel_maps(value, &channels).map_err(js_err)?.reshape([channels.len() * height * width]);
            let mut v = match stats {
                Some(_) => read_back(maps).await?,
                None => {
                    let rows = stats_tensor(value).reshape([total * 4]);
                    let mut both = read_back(Tensor::cat(vec![rows, maps], 0)).await?;
                    let maps = both.split_off(total * 4);
                    *stats = Some(ChannelStats::from_rows(&both));
                    maps
                }
            };
            v.shrink_to_fit();
            values.push(v);
        }
        for ((_, image, _), s) in seen.iter().zip(&stats) {
            image.stats.borrow_mut()[id.0].clone_from(s);
        }
        let stats: Vec<Vec<ChannelStats>> = stats.into_iter().map(Option::unwrap_or_default).collect();
        let refs: Vec<&[ChannelStats]> = stats.iter().map(|s| s.as_slice()).collect();
        let scales = layer_scales(&refs, norm);
        let signed = scales.iter().any(|s| s.signed);
        let colormap = Colormap::named(&colormap, signed).map_err(js_err)?;
        let page_scales: Vec<Scale> = channels.iter().map(|&c| scales[c]).collect();

        let info = self.model.graph.info(id);
        let head = serde_json::json!({
            "layer": info.id, "kind": info.kind, "shape": info.shape, "total": total, "height": height, "width": width,
            "start": start, "channels": channels, "signed": signed, "colormap": colormap.name(),
            "perChannel": norm == Normalisation::PerChannel,
            "scales": page_scales.iter().map(|s| serde_json::json!({"lo": s.lo, "hi": s.hi})).collect::<Vec<_>>(),
        });
        let out: js_sys::Object = to_js(&head)?.into();
        let images = js_sys::Array::new();
        let mut kept = Vec::new();
        for (((slot, image, _), stats), values) in seen.iter().zip(&stats).zip(values) {
            let out: js_sys::Object = to_js(&serde_json::json!({
                "slot": slot, "name": image.name, "stats": channels.iter().map(|&c| stats[c]).collect::<Vec<_>>(),
            }))?
            .into();
            if test_hooks() {
                set(&out, "values", &js_sys::Float32Array::from(&values[..]).into())?;
            }
            images.push(&out);
            kept.push((*slot, values));
        }
        set(&out, "images", &images)?;
        *self.shown.borrow_mut() = Some(HostView {
            layer: info.id.clone(),
            channels,
            height,
            width,
            scales: page_scales,
            colormap,
            per_channel: norm == Normalisation::PerChannel,
            maps: kept,
        });
        Ok(out.into())
    }

    /// Channel `channel` of the page shown, for image `slot`, `size` pixels on its longer
    /// side: `{width, height, rgba}`. With `opacity` in `[0, 1]` the map is upsampled
    /// bilinearly over the image as the model saw it; a negative `opacity` draws the map alone.
    #[wasm_bindgen(js_name = zoomImage)]
    pub fn zoom_image(&self, slot: usize, channel: usize, size: usize, opacity: f32) -> Result<JsValue, JsError> {
        picture(&self.with_zoom(slot, channel, size, opacity, |f| f.image())?)
    }

    /// The maps of the page shown for image `slot`, coloured and placed by a tiling (see
    /// `Tiling`: `cols` columns of `cell_w x cell_h` maps under `label`-pixel label bands,
    /// `gap` apart) on a transparent image: `{width, height, rgba}`, drawn in one go.
    #[wasm_bindgen(js_name = paintGrid)]
    #[allow(clippy::too_many_arguments)]
    pub fn paint_grid(&self, slot: usize, cols: usize, cell_w: usize, cell_h: usize, gap: usize, label: usize) -> Result<JsValue, JsError> {
        let view = self.shown.borrow();
        let v = view.as_ref().ok_or_else(|| JsError::new("no layer is shown"))?;
        let (_, maps) = v.maps.iter().find(|m| m.0 == slot).ok_or_else(|| JsError::new(&format!("no image in slot {slot}")))?;
        let rgba = colorize_maps(maps, v.height * v.width, &v.scales, v.colormap);
        let tiling = Tiling { cols: cols.max(1), cell_w: cell_w.clamp(1, 4096), cell_h: cell_h.clamp(1, 4096), gap: gap.min(64), label: label.min(256) };
        let (w, h) = tiling.size(v.channels.len());
        let mut out = Canvas::new(w, h, [0, 0, 0, 0]);
        tiling.paint(&mut out, (0, 0), &rgba, v.channels.len(), (v.height, v.width));
        picture(&out)
    }

    /// The page shown as one PNG-ready figure (`{width, height, rgba}`): each image's grid of
    /// maps with labels and the colour legend, side by side when comparing.
    #[wasm_bindgen(js_name = exportGrid)]
    pub fn export_grid(&self, cols: usize) -> Result<JsValue, JsError> {
        let view = self.shown.borrow();
        let v = view.as_ref().ok_or_else(|| JsError::new("no layer is shown"))?;
        let figures: Vec<Canvas> = v
            .maps
            .iter()
            .map(|(slot, maps)| {
                GridFigure {
                    title: format!("{} {} {}", self.image_name(*slot), self.model.name, v.layer),
                    maps,
                    channels: &v.channels,
                    height: v.height,
                    width: v.width,
                    scales: &v.scales,
                    per_channel: v.per_channel,
                    colormap: v.colormap,
                    cols: cols.max(1),
                    cell: GridFigure::auto_cell(v.height, v.width),
                }
                .render()
            })
            .collect();
        picture(&side_by_side(&figures))
    }

    /// One zoomed map with its title and legend, for every image shown, side by side.
    #[wasm_bindgen(js_name = exportZoom)]
    pub fn export_zoom(&self, channel: usize, size: usize, opacity: f32) -> Result<JsValue, JsError> {
        let slots: Vec<usize> = self.shown.borrow().as_ref().map(|v| v.maps.iter().map(|m| m.0).collect()).unwrap_or_default();
        let figures = slots.into_iter().map(|slot| self.with_zoom(slot, channel, size, opacity, |f| f.render())).collect::<Result<Vec<_>, _>>()?;
        picture(&side_by_side(&figures))
    }
}

impl ActivationsView {
    fn image_name(&self, slot: usize) -> String {
        self.images.borrow()[slot].as_ref().map(|s| s.name.clone()).unwrap_or_default()
    }

    /// Draw channel `channel` of image `slot` zoomed, with `draw` (the picture alone, or the
    /// exported figure).
    fn with_zoom(&self, slot: usize, channel: usize, size: usize, opacity: f32, draw: impl FnOnce(&ZoomFigure) -> Canvas) -> Result<Canvas, JsError> {
        let slot = check_slot(slot)?;
        let view = self.shown.borrow();
        let v = view.as_ref().ok_or_else(|| JsError::new("no layer is shown"))?;
        let i = v.position(channel)?;
        let (_, maps) = v.maps.iter().find(|m| m.0 == slot).ok_or_else(|| JsError::new(&format!("no image in slot {slot}")))?;
        let images = self.images.borrow();
        let image = images[slot].as_ref().ok_or_else(|| JsError::new(&format!("no image in slot {slot}")))?;
        let plane = v.height * v.width;
        let overlay = image.overlay(opacity);
        let fig = ZoomFigure {
            title: format!("{} {} {} CHANNEL {channel}", image.name, self.model.name, v.layer),
            map: &maps[i * plane..(i + 1) * plane],
            height: v.height,
            width: v.width,
            scale: v.scales[i],
            colormap: v.colormap,
            size: size.clamp(16, 2048),
            overlay,
        };
        Ok(draw(&fig))
    }
}
