//! Dataset examples: for each channel of chosen layers, the images of a set that drive it
//! hardest, where, and how it responds across the whole set.
//!
//! An [`Index`] is built by streaming images through the network in batches: one forward pass
//! a batch, and per image only a few numbers a channel come back from the device (its largest
//! value and where, its sum, how many positions are active and a histogram), so memory stays
//! flat whatever the set's size. Per channel it keeps the `top` images by their largest
//! value (one example an image, at its peak) and statistics over every position of every
//! image. An index is saved as JSON, extended with more images later ([`Index::add`] skips
//! the images it has) and merged with the index of another part of the same set
//! ([`Index::merge`]): shards indexed apart and merged give the index of the whole set.

use std::{cmp::Ordering, collections::HashSet};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::{
    Error, LayerId, Model, Result,
    graph::field::{Field, Region},
    preprocess::{Preprocess, RgbaImage},
    readback::read,
    render::Canvas,
};

/// The index file's format version.
pub const VERSION: u32 = 1;

/// The histogram's bin edges: bin 0 holds values below 0, bin `i` values from `EDGES[i - 1]`
/// to `EDGES[i]`, the last bin values from 64 up. Fixed (not fitted to the data), so the
/// histograms of shards add up to the whole set's.
pub const EDGES: [f32; 12] = [0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// One image's peak in a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The image's name in the set (its file name, or its path under the set's folder).
    pub image: String,
    /// Row of the peak in the layer's grid.
    pub y: usize,
    /// Column of the peak in the layer's grid.
    pub x: usize,
    /// The channel's value there.
    pub value: f32,
}

/// Best first: the larger value, then the image's name, then the position (a total order,
/// so the top of a set does not depend on the order its images came in).
fn ranks(a: &Example, b: &Example) -> Ordering {
    b.value.total_cmp(&a.value).then_with(|| a.image.cmp(&b.image)).then_with(|| (a.y, a.x).cmp(&(b.y, b.x)))
}

/// A channel's response over every position of every image indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Positions seen (images times the map's height times width).
    pub positions: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Positions above zero.
    pub active: u64,
    /// Positions per bin of [`EDGES`].
    pub histogram: Vec<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self { positions: 0, sum: 0.0, active: 0, histogram: vec![0; EDGES.len() + 1] }
    }
}

impl Stats {
    /// The mean value.
    pub fn mean(&self) -> f64 {
        if self.positions == 0 { 0.0 } else { self.sum / self.positions as f64 }
    }

    /// The fraction of positions above zero.
    pub fn fraction_active(&self) -> f64 {
        if self.positions == 0 { 0.0 } else { self.active as f64 / self.positions as f64 }
    }

    fn add(&mut self, other: &Stats) {
        self.positions += other.positions;
        self.sum += other.sum;
        self.active += other.active;
        for (a, b) in self.histogram.iter_mut().zip(&other.histogram) {
            *a += b;
        }
    }
}

/// One channel's part of the index.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Channel {
    /// Its top images, best first.
    pub top: Vec<Example>,
    /// Its response over the set.
    pub stats: Stats,
}

impl Channel {
    fn offer(&mut self, example: Example, keep: usize) {
        if self.top.len() == keep && self.top.last().is_some_and(|last| ranks(&example, last) != Ordering::Less) {
            return;
        }
        let at = self.top.partition_point(|e| ranks(e, &example) == Ordering::Less);
        self.top.insert(at, example);
        self.top.truncate(keep);
    }
}

/// One layer's part of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The layer's id.
    pub id: String,
    /// Its map's `[C, H, W]`.
    pub shape: [usize; 3],
    /// The input pixels each of its positions sees (None: the whole input).
    pub field: Option<Field>,
    /// Every channel, in channel order.
    pub channels: Vec<Channel>,
}

/// An image of the set, with its size (for its crops).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Its name in the set.
    pub name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// The dataset examples of some layers of a model over a set of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// [`VERSION`].
    pub version: u32,
    /// The model's name.
    pub model: String,
    /// How images were fed (`whole` or `center-crop`).
    pub fit: String,
    /// The model's input `[height, width]`.
    pub input: [usize; 2],
    /// Examples kept per channel.
    pub top: usize,
    /// Every image indexed, by name.
    pub images: Vec<Image>,
    /// The layers, in the order asked.
    pub layers: Vec<Layer>,
}

impl Index {
    /// An empty index of `layers` (feature-map layers of `model`) keeping `top` examples a
    /// channel, images fed as `fit` says (`whole` or `center-crop`).
    pub fn new(model: &Model, layers: &[LayerId], top: usize, fit: &str) -> Result<Self> {
        Preprocess::named(fit)?;
        if top == 0 {
            return Err(Error::BadInput("keep at least one example a channel".into()));
        }
        let g = &model.graph;
        let layers = layers
            .iter()
            .map(|&l| {
                let info = g.info(l);
                match info.shape.as_slice() {
                    &[c, h, w] => Ok(Layer { id: info.id.clone(), shape: [c, h, w], field: info.field, channels: vec![Channel::default(); c] }),
                    s => Err(Error::BadInput(format!("layer `{}` has no feature maps (its shape is {s:?}); choose a layer of [C, H, W]", info.id))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if layers.is_empty() {
            return Err(Error::BadInput("choose at least one layer to index".into()));
        }
        Ok(Self { version: VERSION, model: model.name.clone(), fit: fit.into(), input: [model.input.height, model.input.width], top, images: vec![], layers })
    }

    /// Whether `name` is indexed.
    pub fn has(&self, name: &str) -> bool {
        self.images.binary_search_by(|i| i.name.as_str().cmp(name)).is_ok()
    }

    /// Run `batch` (named images) through `model` and add what they show. Images already in
    /// the index are skipped (a resumed run), as are repeats within the batch. Returns how
    /// many were added.
    pub async fn add(&mut self, model: &Model, batch: &[(String, RgbaImage)]) -> Result<usize> {
        if model.name != self.model {
            return Err(Error::BadInput(format!("this index is of model {}, not {}", self.model, model.name)));
        }
        let mut seen = HashSet::new();
        let fresh: Vec<&(String, RgbaImage)> = batch.iter().filter(|(n, _)| !self.has(n) && seen.insert(n.as_str())).collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        let pre = Preprocess::named(&self.fit)?;
        let inputs = fresh.iter().map(|(_, img)| model.prepare(img, &pre).map(|p| p.input)).collect::<Result<Vec<_>>>()?;
        let g = &model.graph;
        let ids = self.layers.iter().map(|l| g.layer(&l.id)).collect::<Result<Vec<_>>>()?;
        let values = g.activations(Tensor::cat(inputs, 0), &ids)?;
        for (layer, value) in self.layers.iter_mut().zip(values) {
            let rows = read(summary(value.spatial(&layer.id)?)).await?;
            let [c, _, w] = layer.shape;
            let hw = layer.shape[1] * w;
            for (b, (name, _)) in fresh.iter().enumerate() {
                for (ch, channel) in layer.channels.iter_mut().enumerate() {
                    let r = &rows[(b * c + ch) * ROW..][..ROW];
                    let at = r[1] as usize;
                    channel.offer(Example { image: name.clone(), y: at / w, x: at % w, value: r[0] }, self.top);
                    let mut histogram = vec![0u64; EDGES.len() + 1];
                    histogram[0] = hw as u64 - r[3] as u64;
                    for i in 0..EDGES.len() {
                        let next = if i + 1 < EDGES.len() { r[4 + i] as u64 } else { 0 };
                        histogram[i + 1] = r[3 + i] as u64 - next;
                    }
                    channel.stats.add(&Stats { positions: hw as u64, sum: r[2] as f64, active: r[3 + EDGES.len()] as u64, histogram });
                }
            }
        }
        for (name, img) in &fresh {
            let at = self.images.partition_point(|i| i.name.as_str() < name.as_str());
            self.images.insert(at, Image { name: name.clone(), width: img.width, height: img.height });
        }
        Ok(fresh.len())
    }

    /// Add the index of another part of the same set (same model, fit, layers and `top`;
    /// no image in both).
    pub fn merge(&mut self, other: Index) -> Result<()> {
        let same = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            let (a, b) = (format!("{a:?}"), format!("{b:?}"));
            if a == b { Ok(()) } else { Err(Error::BadInput(format!("the indexes differ in their {what}: {a} and {b}"))) }
        };
        same("model", &self.model, &other.model)?;
        same("fit", &self.fit, &other.fit)?;
        same("examples a channel", &self.top, &other.top)?;
        let ids = |i: &Index| i.layers.iter().map(|l| (l.id.clone(), l.shape)).collect::<Vec<_>>();
        same("layers", &ids(self), &ids(&other))?;
        if let Some(both) = other.images.iter().find(|i| self.has(&i.name)) {
            return Err(Error::BadInput(format!("image {} is in both indexes (shards must not overlap)", both.name)));
        }
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            for (a, b) in mine.channels.iter_mut().zip(theirs.channels) {
                a.stats.add(&b.stats);
                for e in b.top {
                    a.offer(e, self.top);
                }
            }
        }
        self.images.extend(other.images);
        self.images.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// The index as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an index always serialises")
    }

    /// Read an index written by [`Index::to_json`].
    pub fn from_json(text: &str) -> Result<Self> {
        let index: Index = serde_json::from_str(text).map_err(|e| Error::BadInput(format!("not a convscope examples index: {e}")))?;
        if index.version != VERSION {
            return Err(Error::BadInput(format!("examples index version {}, this build reads {VERSION}", index.version)));
        }
        Ok(index)
    }

    /// The layer `id` of the index.
    pub fn layer(&self, id: &str) -> Result<&Layer> {
        self.layers.iter().find(|l| l.id == id).ok_or_else(|| Error::UnknownLayer { id: id.into(), valid: self.layers.iter().map(|l| l.id.clone()).collect() })
    }

    /// The part of the example's image that its position sees, in the image's pixels (the
    /// whole image for a layer whose positions see all of the input).
    pub fn crop(&self, layer: &Layer, example: &Example) -> Result<Region> {
        let image = self
            .images
            .binary_search_by(|i| i.name.cmp(&example.image))
            .map(|at| &self.images[at])
            .map_err(|_| Error::BadInput(format!("image {} is not in the index", example.image)))?;
        let [ih, iw] = self.input;
        let inside = seen(layer.field, example.y, example.x, ih, iw);
        let (sx, sy, sw, sh) = Preprocess::named(&self.fit)?.source_rect(image.width, image.height);
        let map = |v: usize, offset: f32, scale: f32, len: usize| ((offset + v as f32 * scale).round().max(0.0) as usize).min(len);
        let region = Region {
            x0: map(inside.x0, sx, sw / iw as f32, image.width),
            x1: map(inside.x1, sx, sw / iw as f32, image.width),
            y0: map(inside.y0, sy, sh / ih as f32, image.height),
            y1: map(inside.y1, sy, sh / ih as f32, image.height),
        };
        Ok(Region { x1: region.x1.max(region.x0 + 1).min(image.width), y1: region.y1.max(region.y0 + 1).min(image.height), ..region })
    }
}

/// The part of an `height` x `width` input that position `(y, x)` of a layer with receptive
/// field `field` sees (all of it for a layer whose positions see the whole input).
pub fn seen(field: Option<Field>, y: usize, x: usize, height: usize, width: usize) -> Region {
    match field {
        Some(f) => f.region(y, x, height, width),
        None => Region { y0: 0, y1: height, x0: 0, x1: width },
    }
}

/// `region` of `picture`, scaled to `size` pixels on its longer side, nearest-neighbour (the
/// small field of an early layer stays as blocky as the pixels it covers).
pub fn tile(picture: &Canvas, region: Region, size: usize) -> Canvas {
    let x1 = region.x1.min(picture.width);
    let y1 = region.y1.min(picture.height);
    let (x0, y0) = (region.x0.min(x1.saturating_sub(1)), region.y0.min(y1.saturating_sub(1)));
    let (w, h) = ((x1 - x0).max(1), (y1 - y0).max(1));
    let mut crop = Vec::with_capacity(w * h * 4);
    for y in y0..y0 + h {
        crop.extend_from_slice(&picture.pixels[(y * picture.width + x0) * 4..(y * picture.width + x0 + w) * 4]);
    }
    let side = w.max(h);
    let (tw, th) = ((w * size / side).max(1), (h * size / side).max(1));
    let mut out = Canvas::new(tw, th, [0, 0, 0, 255]);
    out.blit_nearest(&crop, w, h, 0, 0, tw, th);
    out
}

/// Numbers a row of [`summary`] holds: the peak, where, the sum, then the count of values
/// at or above each edge of [`EDGES`], then the count above zero.
const ROW: usize = 3 + EDGES.len() + 1;

/// Per image and channel of `maps` (`[B, C, H, W]`), on the device: `[peak, its flat
/// position, sum, count >= EDGES[0], ..., count >= EDGES[11], count > 0]`, as `[B * C, ROW]`.
fn summary(maps: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = maps.dims();
    let rows: Tensor<2> = maps.reshape([b * c, h * w]);
    let (peak, at) = rows.clone().max_dim_with_indices(1);
    let mut parts = vec![peak, at.float(), rows.clone().sum_dim(1)];
    for edge in EDGES {
        parts.push(rows.clone().greater_equal_elem(edge).float().sum_dim(1));
    }
    parts.push(rows.greater_elem(0.0).float().sum_dim(1));
    Tensor::cat(parts, 1)
}
