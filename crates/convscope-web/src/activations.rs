//! The activations view's boundary: a page of a layer's feature maps for the image and the
//! one it is compared with, coloured on shared scales; one map zoomed; figures to export.
//! Only the maps on the page and four statistics a channel are read back.

use convscope_core::{
    activations::{ChannelStats, Normalisation, RankBy, channel_maps, layer_scales, map_dims, stats_tensor},
    render::{Canvas, Colormap, GridFigure, Overlay, Scale, Tiling, ZoomFigure, colorize_maps, side_by_side},
};
use burn::tensor::Tensor;
use wasm_bindgen::prelude::*;

use crate::{WebModel, js_err, model::check_slot, read_back, set, to_js};

/// What the last [`WebModel::layer_view`] drew, kept on the host for zooms and exports.
pub(crate) struct HostView {
    layer: String,
    channels: Vec<usize>,
    height: usize,
    width: usize,
    /// One per drawn channel.
    scales: Vec<Scale>,
    colormap: Colormap,
    per_channel: bool,
    /// `(slot, image name, maps of the drawn channels)`.
    maps: Vec<(usize, String, Vec<f32>)>,
}

impl HostView {
    fn position(&self, channel: usize) -> Result<usize, JsError> {
        self.channels.iter().position(|&c| c == channel).ok_or_else(|| JsError::new(&format!("channel {channel} is not on the page shown")))
    }
}

/// An image on the page: its slot, its name and the layer's value on it.
type Shown = (usize, String, convscope_core::Value);

pub(crate) fn picture(c: &Canvas) -> Result<JsValue, JsError> {
    let obj = js_sys::Object::new();
    set(&obj, "width", &(c.width as u32).into())?;
    set(&obj, "height", &(c.height as u32).into())?;
    set(&obj, "rgba", &js_sys::Uint8Array::from(&c.pixels[..]).into())?;
    Ok(obj.into())
}

/// `n` RGBA colours of colormap `name` from its start to its end, for the legend.
#[wasm_bindgen(js_name = colormapRamp)]
pub fn colormap_ramp(name: String, n: usize) -> Result<Vec<u8>, JsError> {
    Ok(Colormap::named(&name, false).map_err(js_err)?.ramp(n.clamp(2, 4096)))
}

#[wasm_bindgen]
impl WebModel {
    /// A page of layer `layer`'s feature maps on every image analysed (slot 0, and slot 1
    /// when comparing), the same channels on the same colour scales.
    ///
    /// `norm`: `channel` or `layer`; `colormap`: `auto` or a name; `rank`: `index`, `max`,
    /// `mean` or `active` (by the first image); the page is channels `start..start+count` of
    /// that order. Returns `{layer, kind, shape, total, height, width, start, channels,
    /// signed, colormap, perChannel, scales: [{lo, hi}], images: [{slot, name, stats: [{min,
    /// max, mean, active}], values: Float32Array}]}` where `values` holds the page's maps
    /// one after the other (`height * width` each): the activations [`WebModel::paint_grid`]
    /// colours.
    #[wasm_bindgen(js_name = layerView)]
    #[allow(clippy::too_many_arguments)]
    pub async fn layer_view(&self, layer: String, norm: String, colormap: String, rank: String, start: usize, count: usize) -> Result<JsValue, JsError> {
        let id = self.model.graph.layer(&layer).map_err(js_err)?;
        let norm = Normalisation::named(&norm).map_err(js_err)?;
        let rank = RankBy::named(&rank).map_err(js_err)?;
        // Values (cheap handles) and statistics out of the cell before awaiting.
        let (seen, mut stats): (Vec<Shown>, Vec<Option<Vec<ChannelStats>>>) = self
            .slots
            .borrow()
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| s.as_ref().map(|s| ((slot, s.name.clone(), s.layers[id.0].clone()), s.stats[id.0].clone())))
            .unzip();
        if seen.first().is_none_or(|s| s.0 != 0) {
            return Err(crate::model::no_image());
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
        {
            let mut slots = self.slots.borrow_mut();
            for ((slot, ..), s) in seen.iter().zip(&stats) {
                if let Some(seen) = slots[*slot].as_mut() {
                    seen.stats[id.0].clone_from(s);
                }
            }
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
        for (((slot, name, _), stats), values) in seen.iter().zip(&stats).zip(values) {
            let image: js_sys::Object = to_js(&serde_json::json!({
                "slot": slot, "name": name, "stats": channels.iter().map(|&c| stats[c]).collect::<Vec<_>>(),
            }))?
            .into();
            set(&image, "values", &js_sys::Float32Array::from(&values[..]).into())?;
            images.push(&image);
            kept.push((*slot, name.clone(), values));
        }
        set(&out, "images", &images)?;
        *self.view.borrow_mut() = Some(HostView {
            layer: info.id.clone(), channels, height, width, scales: page_scales, colormap,
            per_channel: norm == Normalisation::PerChannel, maps: kept,
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
        let view = self.view.borrow();
        let v = view.as_ref().ok_or_else(|| JsError::new("no layer is shown"))?;
        let (_, _, maps) = v.maps.iter().find(|m| m.0 == slot).ok_or_else(|| JsError::new(&format!("no image in slot {slot}")))?;
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
        let view = self.view.borrow();
        let v = view.as_ref().ok_or_else(|| JsError::new("no layer is shown"))?;
        let figures: Vec<Canvas> = v
            .maps
            .iter()
            .map(|(_, name, maps)| {
                GridFigure {
                    title: format!("{name} {} {}", self.model.name, v.layer),
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
        let slots: Vec<usize> = self.view.borrow().as_ref().map(|v| v.maps.iter().map(|m| m.0).collect()).unwrap_or_default();
        let figures = slots.into_iter().map(|slot| self.with_zoom(slot, channel, size, opacity, |f| f.render())).collect::<Result<Vec<_>, _>>()?;
        picture(&side_by_side(&figures))
    }
}

impl WebModel {
    /// Draw channel `channel` of image `slot` zoomed, with `draw` (the picture alone, or the
    /// exported figure).
    fn with_zoom(&self, slot: usize, channel: usize, size: usize, opacity: f32, draw: impl FnOnce(&ZoomFigure) -> Canvas) -> Result<Canvas, JsError> {
        let slot = check_slot(slot)?;
        let view = self.view.borrow();
        let v = view.as_ref().ok_or_else(|| JsError::new("no layer is shown"))?;
        let i = v.position(channel)?;
        let (_, name, maps) = v.maps.iter().find(|m| m.0 == slot).ok_or_else(|| JsError::new(&format!("no image in slot {slot}")))?;
        let slots = self.slots.borrow();
        let rgb = slots[slot].as_ref().map(|s| s.rgb.as_slice()).unwrap_or(&[]);
        let plane = v.height * v.width;
        let overlay = (opacity >= 0.0 && !rgb.is_empty()).then_some(Overlay { rgb, width: self.model.input.width, height: self.model.input.height, opacity });
        let fig = ZoomFigure {
            title: format!("{name} {} {} CHANNEL {channel}", self.model.name, v.layer),
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
