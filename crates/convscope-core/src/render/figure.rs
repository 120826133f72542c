//! The figures: a labelled grid of feature maps with its legend, and one map zoomed (optionally
//! overlaid on the input image). The page draws the same pixels it exports.

use super::{Canvas, Colormap, Scale, short_number};

const BACKGROUND: [u8; 4] = [255, 255, 255, 255];
const INK: [u8; 4] = [29, 35, 48, 255];
const MUTED: [u8; 4] = [92, 101, 119, 255];
const MARGIN: usize = 10;
const GAP: usize = 6;
const TEXT: usize = 2; // font scale for labels: 6x10 pixel glyphs

/// RGBA pixels of `values` through `scale` and `colormap`.
pub fn colorize(values: &[f32], scale: Scale, colormap: Colormap) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| {
            let [r, g, b] = colormap.color(scale.position(v));
            [r, g, b, 255]
        })
        .collect()
}

/// RGBA pixels of `scales.len()` maps of `plane` values each (one after the other), map `i`
/// through `scales[i]`.
pub fn colorize_maps(maps: &[f32], plane: usize, scales: &[Scale], colormap: Colormap) -> Vec<u8> {
    scales.iter().enumerate().flat_map(|(i, &scale)| colorize(&maps[i * plane..(i + 1) * plane], scale, colormap)).collect()
}

/// Canvases next to each other, tops aligned, on white.
pub fn side_by_side(parts: &[Canvas]) -> Canvas {
    let width = parts.iter().map(|c| c.width).sum::<usize>() + GAP * 2 * parts.len().saturating_sub(1);
    let height = parts.iter().map(|c| c.height).max().unwrap_or(0);
    let mut out = Canvas::new(width, height, BACKGROUND);
    let mut x = 0;
    for part in parts {
        out.paste(part, x, 0);
        x += part.width + GAP * 2;
    }
    out
}

/// Where the maps of a grid go: `cols` columns of cells, each a label band of `label`
/// pixels above a `cell_w x cell_h` map, `gap` pixels apart. The page lays its cells out
/// with the same numbers, so the maps painted in one image line up under them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Cells per row.
    pub cols: usize,
    /// Map width in pixels.
    pub cell_w: usize,
    /// Map height in pixels.
    pub cell_h: usize,
    /// Space between cells, both ways.
    pub gap: usize,
    /// Height of the label band above each map.
    pub label: usize,
}

impl Tiling {
    /// Top left corner of cell `i`'s label band.
    pub fn cell(&self, i: usize) -> (usize, usize) {
        let cols = self.cols.max(1);
        ((i % cols) * (self.cell_w + self.gap), (i / cols) * (self.label + self.cell_h + self.gap))
    }

    /// Width and height of `n` cells.
    pub fn size(&self, n: usize) -> (usize, usize) {
        let cols = self.cols.clamp(1, n.max(1));
        let rows = n.div_ceil(cols);
        (cols * self.cell_w + (cols - 1) * self.gap, (rows * (self.label + self.cell_h + self.gap)).saturating_sub(self.gap))
    }

    /// Paint `n` RGBA maps of `(height, width)` (one after the other in `rgba`) into their
    /// cells, with the grid's top left corner at `(x, y)` of `out`.
    pub fn paint(&self, out: &mut Canvas, (x, y): (usize, usize), rgba: &[u8], n: usize, (height, width): (usize, usize)) {
        let plane = height * width * 4;
        for i in 0..n {
            let (cx, cy) = self.cell(i);
            out.blit_nearest(&rgba[i * plane..(i + 1) * plane], width, height, x + cx, y + cy + self.label, self.cell_w, self.cell_h);
        }
    }
}

/// A grid of feature maps, each labelled with its channel, and a legend.
#[derive(Debug, Clone)]
pub struct GridFigure<'a> {
    /// First line of the figure (e.g. image, model and layer).
    pub title: String,
    /// `channels.len()` maps of `height x width` values, one after the other.
    pub maps: &'a [f32],
    /// Which channel each map is (its label).
    pub channels: &'a [usize],
    /// Map height.
    pub height: usize,
    /// Map width.
    pub width: usize,
    /// The colour scale of each map.
    pub scales: &'a [Scale],
    /// Each map has its own scale (its maximum is written beside its label).
    pub per_channel: bool,
    /// The colormap.
    pub colormap: Colormap,
    /// Maps per row.
    pub cols: usize,
    /// Pixels on the longer side of each drawn map ([`GridFigure::auto_cell`] picks one).
    pub cell: usize,
}

impl GridFigure<'_> {
    /// A cell size that shows every unit: the map scaled up by a whole factor to at least
    /// 64 pixels, never scaled down.
    pub fn auto_cell(height: usize, width: usize) -> usize {
        let side = height.max(width).max(1);
        side * 64usize.div_ceil(side)
    }

    fn cell_size(&self) -> (usize, usize) {
        let side = self.height.max(self.width).max(1);
        let cell = self.cell.max(1);
        ((self.width * cell / side).max(1), (self.height * cell / side).max(1))
    }

    /// Draw it.
    pub fn render(&self) -> Canvas {
        let n = self.channels.len();
        let (cw, ch) = self.cell_size();
        let tiling = Tiling { cols: self.cols.clamp(1, n.max(1)), cell_w: cw, cell_h: ch, gap: GAP, label: Canvas::text_height(TEXT) + 4 };
        let line = Canvas::text_height(TEXT) + 6;
        let (grid_w, grid_h) = tiling.size(n);
        let legend_h = line + 14 + line + line;
        let width = (grid_w + 2 * MARGIN).max(Canvas::text_width(&self.title, TEXT) + 2 * MARGIN).max(340);
        let height = MARGIN + line + grid_h + GAP + legend_h + MARGIN;
        let mut out = Canvas::new(width, height, BACKGROUND);
        out.text(MARGIN, MARGIN, &self.title, TEXT, INK);
        let top = MARGIN + line;
        let rgba = colorize_maps(self.maps, self.height * self.width, &self.scales[..n], self.colormap);
        tiling.paint(&mut out, (MARGIN, top), &rgba, n, (self.height, self.width));
        for (i, &channel) in self.channels.iter().enumerate() {
            let (cx, cy) = tiling.cell(i);
            let (x, y) = (MARGIN + cx, top + cy);
            let label_w = out.text(x, y, &channel.to_string(), TEXT, INK);
            if self.per_channel {
                let max = short_number(self.scales[i].hi);
                let w = Canvas::text_width(&max, 1);
                if label_w + 4 + w <= cw {
                    out.text(x + cw - w, y + Canvas::text_height(TEXT) - Canvas::text_height(1), &max, 1, MUTED);
                }
            }
        }
        let legend_top = top + grid_h + GAP + 4;
        self.legend(&mut out, legend_top, (width - 2 * MARGIN).min(320), line);
        out
    }

    fn legend(&self, out: &mut Canvas, top: usize, bar_w: usize, line: usize) {
        let signed = self.scales.iter().any(|s| s.signed);
        let what = if self.per_channel { "PER CHANNEL" } else { "SHARED BY THE LAYER" };
        out.text(MARGIN, top, &format!("SCALE {what}, {}", self.colormap.name()), TEXT, MUTED);
        let bar_top = top + line;
        out.blit_nearest(&self.colormap.ramp(bar_w), bar_w, 1, MARGIN, bar_top, bar_w, 12);
        let (lo, hi) = if self.per_channel {
            (if signed { "-MAX".to_string() } else { "0".to_string() }, "MAX".to_string())
        } else {
            let s = self.scales.first().copied().unwrap_or(Scale::fit(0.0, 0.0, false));
            (short_number(s.lo), short_number(s.hi))
        };
        let label_y = bar_top + 14;
        out.text(MARGIN, label_y, &lo, TEXT, INK);
        let hw = Canvas::text_width(&hi, TEXT);
        out.text(MARGIN + bar_w - hw.min(bar_w), label_y, &hi, TEXT, INK);
        if signed {
            out.text(MARGIN + bar_w / 2 - Canvas::text_width("0", TEXT) / 2, label_y, "0", TEXT, INK);
        }
        if self.per_channel {
            out.text(MARGIN, label_y + line, "MAX OF EACH MAP BESIDE ITS NUMBER", TEXT, MUTED);
        }
    }
}

/// Pictures in a labelled grid under a title, e.g. a layer's filter patterns.
#[derive(Debug, Clone)]
pub struct PictureGrid<'a> {
    /// First line.
    pub title: String,
    /// `labels.len()` RGBA pictures of `height x width`, one after the other.
    pub rgba: &'a [u8],
    /// Picture height.
    pub height: usize,
    /// Picture width.
    pub width: usize,
    /// The label above each picture (e.g. its channel).
    pub labels: &'a [String],
    /// A short note at the right of each label band (e.g. `off`), or empty.
    pub notes: &'a [String],
    /// Pictures per row.
    pub cols: usize,
    /// Pixels on each drawn picture's longer side.
    pub cell: usize,
}

impl PictureGrid<'_> {
    /// Draw it.
    pub fn render(&self) -> Canvas {
        let n = self.labels.len();
        let side = self.height.max(self.width).max(1);
        let (cw, ch) = ((self.width * self.cell / side).max(1), (self.height * self.cell / side).max(1));
        let tiling = Tiling { cols: self.cols.clamp(1, n.max(1)), cell_w: cw, cell_h: ch, gap: GAP, label: Canvas::text_height(TEXT) + 4 };
        let line = Canvas::text_height(TEXT) + 6;
        let (grid_w, grid_h) = tiling.size(n);
        let width = (grid_w + 2 * MARGIN).max(Canvas::text_width(&self.title, TEXT) + 2 * MARGIN);
        let mut out = Canvas::new(width, MARGIN + line + grid_h + MARGIN, BACKGROUND);
        out.text(MARGIN, MARGIN, &self.title, TEXT, INK);
        let top = MARGIN + line;
        tiling.paint(&mut out, (MARGIN, top), self.rgba, n, (self.height, self.width));
        for (i, label) in self.labels.iter().enumerate() {
            let (cx, cy) = tiling.cell(i);
            let used = out.text(MARGIN + cx, top + cy, label, TEXT, INK);
            if let Some(note) = self.notes.get(i).filter(|s| !s.is_empty()) {
                let w = Canvas::text_width(note, TEXT);
                if used + 6 + w <= cw {
                    out.text(MARGIN + cx + cw - w, top + cy, note, TEXT, MUTED);
                }
            }
        }
        out
    }
}

/// The input image under a zoomed map.
#[derive(Debug, Clone, Copy)]
pub struct Overlay<'a> {
    /// RGB8 pixels, `width * height * 3`.
    pub rgb: &'a [u8],
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// How much of the map shows over the image, 0 to 1.
    pub opacity: f32,
}

/// One map, large; over the input image when `overlay` is given.
#[derive(Debug, Clone)]
pub struct ZoomFigure<'a> {
    /// First line of the exported figure.
    pub title: String,
    /// `height x width` values.
    pub map: &'a [f32],
    /// Map height.
    pub height: usize,
    /// Map width.
    pub width: usize,
    /// Its colour scale.
    pub scale: Scale,
    /// The colormap.
    pub colormap: Colormap,
    /// Pixels on the longer side.
    pub size: usize,
    /// The image to overlay the map on; the map is then upsampled bilinearly to it, as the
    /// map's units cover the whole input. Without one the units are drawn as blocks.
    pub overlay: Option<Overlay<'a>>,
}

impl ZoomFigure<'_> {
    /// Output size in pixels: the overlay's aspect if there is one, else the map's.
    fn dims(&self) -> (usize, usize) {
        let (h, w) = self.overlay.map(|o| (o.height, o.width)).unwrap_or((self.height, self.width));
        let side = h.max(w).max(1);
        ((w * self.size / side).max(1), (h * self.size / side).max(1))
    }

    /// Just the picture, [`ZoomFigure::size`] pixels on its longer side.
    pub fn image(&self) -> Canvas {
        let (w, h) = self.dims();
        let Some(o) = self.overlay else {
            let mut out = Canvas::new(w, h, BACKGROUND);
            out.blit_nearest(&colorize(self.map, self.scale, self.colormap), self.width, self.height, 0, 0, w, h);
            return out;
        };
        let values = bilinear(self.map, self.width, self.height, 1, w, h);
        let base = bilinear(&o.rgb.iter().map(|&v| v as f32).collect::<Vec<_>>(), o.width, o.height, 3, w, h);
        let a = o.opacity.clamp(0.0, 1.0);
        let pixels = values
            .iter()
            .zip(base.chunks_exact(3))
            .flat_map(|(&v, rgb)| {
                let c = self.colormap.color(self.scale.position(v));
                let mix = |i: usize| (rgb[i] * (1.0 - a) + c[i] as f32 * a).round().clamp(0.0, 255.0) as u8;
                [mix(0), mix(1), mix(2), 255]
            })
            .collect();
        Canvas { width: w, height: h, pixels }
    }

    /// The picture with its title and a legend of the real value range: what is exported.
    pub fn render(&self) -> Canvas {
        let picture = self.image();
        let line = Canvas::text_height(TEXT) + 6;
        let bar_w = picture.width.min(320);
        let width = (picture.width + 2 * MARGIN).max(Canvas::text_width(&self.title, TEXT) + 2 * MARGIN);
        let height = MARGIN + line + picture.height + 8 + 12 + 4 + line + MARGIN;
        let mut out = Canvas::new(width, height, BACKGROUND);
        out.text(MARGIN, MARGIN, &self.title, TEXT, INK);
        out.paste(&picture, MARGIN, MARGIN + line);
        let bar_top = MARGIN + line + picture.height + 8;
        out.blit_nearest(&self.colormap.ramp(bar_w), bar_w, 1, MARGIN, bar_top, bar_w, 12);
        let (lo, hi) = (short_number(self.scale.lo), short_number(self.scale.hi));
        out.text(MARGIN, bar_top + 16, &lo, TEXT, INK);
        out.text(MARGIN + bar_w - Canvas::text_width(&hi, TEXT).min(bar_w), bar_top + 16, &hi, TEXT, INK);
        if self.scale.signed {
            out.text(MARGIN + bar_w / 2 - Canvas::text_width("0", TEXT) / 2, bar_top + 16, "0", TEXT, INK);
        }
        out
    }
}

/// `figure` with lines of text added beneath it (e.g. an attention map's scores).
pub fn with_notes(figure: &Canvas, notes: &[String]) -> Canvas {
    let line = Canvas::text_height(TEXT) + 6;
    let widest = notes.iter().map(|n| Canvas::text_width(n, TEXT) + 2 * MARGIN).max().unwrap_or(0);
    let mut out = Canvas::new(figure.width.max(widest), figure.height + notes.len() * line + if notes.is_empty() { 0 } else { MARGIN }, BACKGROUND);
    out.paste(figure, 0, 0);
    for (i, n) in notes.iter().enumerate() {
        out.text(MARGIN, figure.height + i * line, n, TEXT, INK);
    }
    out
}

/// Bilinear resampling of a `sw x sh` image with `c` interleaved channels to `dw x dh`, pixel
/// centres aligned (half-pixel offsets, edges clamped), as `interpolate` does with
/// `align_corners = false`.
pub fn bilinear(src: &[f32], sw: usize, sh: usize, c: usize, dw: usize, dh: usize) -> Vec<f32> {
    let coord = |d: usize, dn: usize, sn: usize| {
        let s = ((d as f32 + 0.5) * sn as f32 / dn as f32 - 0.5).clamp(0.0, (sn - 1) as f32);
        let i0 = s.floor() as usize;
        (i0, (i0 + 1).min(sn - 1), s - i0 as f32)
    };
    let mut out = Vec::with_capacity(dw * dh * c);
    for y in 0..dh {
        let (y0, y1, fy) = coord(y, dh, sh);
        for x in 0..dw {
            let (x0, x1, fx) = coord(x, dw, sw);
            for k in 0..c {
                let at = |yy: usize, xx: usize| src[(yy * sw + xx) * c + k];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorize_maps_through_scale_and_colormap() {
        let s = Scale::fit(0.0, 2.0, false);
        let px = colorize(&[0.0, 1.0, 2.0], s, Colormap::Gray);
        assert_eq!(px, vec![0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
    }

    #[test]
    fn a_constant_map_draws_without_nan() {
        let map = [0.0f32; 16];
        for signed in [false, true] {
            let s = Scale::fit(0.0, 0.0, signed);
            let z = ZoomFigure { title: "C".into(), map: &map, height: 4, width: 4, scale: s, colormap: Colormap::Viridis, size: 8, overlay: None };
            let img = z.image();
            let want = Colormap::Viridis.color(if signed { 0.5 } else { 0.0 });
            assert!(img.pixels.chunks_exact(4).all(|p| p[..3] == want), "signed {signed}");
        }
    }

    #[test]
    fn bilinear_keeps_constants_and_interpolates_between_centres() {
        assert!(bilinear(&[5.0; 4], 2, 2, 1, 7, 3).iter().all(|&v| (v - 5.0).abs() < 1e-6));
        // 2 -> 4 pixels: centres at -0.25, 0.25, 0.75, 1.25 of the source grid.
        assert_eq!(bilinear(&[0.0, 4.0], 2, 1, 1, 4, 1), vec![0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn overlay_mixes_image_and_map_by_opacity() {
        let map = [1.0f32];
        let rgb = [100u8, 100, 100];
        let s = Scale::fit(0.0, 1.0, false);
        let fig = |opacity| ZoomFigure {
            title: String::new(),
            map: &map,
            height: 1,
            width: 1,
            scale: s,
            colormap: Colormap::Gray,
            size: 2,
            overlay: Some(Overlay { rgb: &rgb, width: 1, height: 1, opacity }),
        };
        assert_eq!(fig(0.0).image().pixel(0, 0), [100, 100, 100, 255]);
        assert_eq!(fig(1.0).image().pixel(1, 1), [255, 255, 255, 255]);
        assert_eq!(fig(0.5).image().pixel(0, 1), [178, 178, 178, 255]);
    }

    #[test]
    fn grid_places_each_map_under_its_label() {
        let maps: Vec<f32> = (0..3).flat_map(|c| vec![c as f32; 4]).collect();
        let scales = [Scale::fit(0.0, 2.0, false); 3];
        let g = GridFigure {
            title: "T".into(),
            maps: &maps,
            channels: &[0, 1, 2],
            height: 2,
            width: 2,
            scales: &scales,
            per_channel: false,
            colormap: Colormap::Gray,
            cols: 2,
            cell: 20,
        };
        let img = g.render();
        let label_h = Canvas::text_height(TEXT) + 4;
        let top = MARGIN + Canvas::text_height(TEXT) + 6 + label_h;
        // map 1 at column 1, row 0: value 1 of [0, 2] -> mid grey; map 2 at row 1: white.
        assert_eq!(img.pixel(MARGIN + 20 + GAP + 10, top + 10), [128, 128, 128, 255]);
        assert_eq!(img.pixel(MARGIN + 10, top + 20 + GAP + label_h + 10), [255, 255, 255, 255]);
        assert_eq!(img.pixel(MARGIN + 10, top + 10), [0, 0, 0, 255]);
        assert_eq!(GridFigure::auto_cell(112, 112), 112);
        let t = Tiling { cols: 3, cell_w: 10, cell_h: 5, gap: 2, label: 4 };
        assert_eq!((t.cell(4), t.size(4), t.size(2)), ((12, 11), (34, 20), (22, 9)));
        assert_eq!(GridFigure::auto_cell(7, 7), 70);
        assert_eq!(GridFigure::auto_cell(1, 1), 64);
    }
}
