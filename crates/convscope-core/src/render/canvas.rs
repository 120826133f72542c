//! An RGBA8 image to compose figures on.

use super::font::{GLYPH_H, GLYPH_W, glyph, text_width};

/// An RGBA8 image, row-major, 4 bytes a pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 4` bytes.
    pub pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `color`.
    pub fn new(width: usize, height: usize, color: [u8; 4]) -> Self {
        Self { width, height, pixels: color.repeat(width * height) }
    }

    /// The colour at `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let i = (y * self.width + x) * 4;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2], self.pixels[i + 3]]
    }

    /// Fill a rectangle (clipped to the canvas).
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 4]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                let i = (yy * self.width + xx) * 4;
                self.pixels[i..i + 4].copy_from_slice(&color);
            }
        }
    }

    /// Draw an RGBA image of `sw x sh` pixels into the rectangle at `(x, y)` of `dw x dh`
    /// pixels, nearest-neighbour (feature maps stay blocky: each block is one unit).
    #[allow(clippy::too_many_arguments)]
    pub fn blit_nearest(&mut self, src: &[u8], sw: usize, sh: usize, x: usize, y: usize, dw: usize, dh: usize) {
        if x >= self.width || y >= self.height || sw == 0 || sh == 0 {
            return;
        }
        let cols = dw.min(self.width - x);
        let sx: Vec<usize> = (0..cols).map(|dx| dx * sw / dw * 4).collect();
        let row_bytes = cols * 4;
        let mut last: Option<(usize, usize)> = None; // (source row, destination offset)
        for dy in 0..dh.min(self.height - y) {
            let sy = dy * sh / dh;
            let d = ((y + dy) * self.width + x) * 4;
            match last {
                // Same source row as the line above: copy that line.
                Some((prev, from)) if prev == sy => self.pixels.copy_within(from..from + row_bytes, d),
                _ => {
                    let row = &src[sy * sw * 4..(sy + 1) * sw * 4];
                    for (px, &s) in self.pixels[d..d + row_bytes].chunks_exact_mut(4).zip(&sx) {
                        px.copy_from_slice(&row[s..s + 4]);
                    }
                    last = Some((sy, d));
                }
            }
        }
    }

    /// Paste another canvas with its top left corner at `(x, y)`.
    pub fn paste(&mut self, other: &Canvas, x: usize, y: usize) {
        self.blit_nearest(&other.pixels, other.width, other.height, x, y, other.width, other.height);
    }

    /// Write `text` with its top left corner at `(x, y)`, each font pixel `scale` pixels wide.
    /// Returns the width drawn.
    pub fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, color: [u8; 4]) -> usize {
        for (i, c) in text.chars().enumerate() {
            let gx = x + i * (GLYPH_W + 1) * scale;
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (1 << (GLYPH_W - 1 - col)) != 0 {
                        self.fill_rect(gx + col * scale, y + row * scale, scale, scale, color);
                    }
                }
            }
        }
        text_width(text, scale)
    }

    /// Pixel width of `text` at `scale`.
    pub fn text_width(text: &str, scale: usize) -> usize {
        text_width(text, scale)
    }

    /// Pixel height of a line of text at `scale`.
    pub fn text_height(scale: usize) -> usize {
        GLYPH_H * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blits_scale_by_nearest_neighbour_and_clip() {
        let src = [1, 0, 0, 255, 2, 0, 0, 255, 3, 0, 0, 255, 4, 0, 0, 255]; // 2x2
        let mut c = Canvas::new(5, 5, [0, 0, 0, 0]);
        c.blit_nearest(&src, 2, 2, 1, 1, 4, 4);
        assert_eq!(c.pixel(1, 1)[0], 1);
        assert_eq!(c.pixel(2, 2)[0], 1);
        assert_eq!(c.pixel(3, 1)[0], 2);
        assert_eq!(c.pixel(4, 4)[0], 4);
        assert_eq!(c.pixel(0, 0), [0, 0, 0, 0]);
    }

    #[test]
    fn text_draws_the_glyph_bits() {
        let mut c = Canvas::new(8, 6, [0, 0, 0, 255]);
        let w = c.text(0, 0, "1", 1, [255; 4]);
        assert_eq!(w, 3);
        // "1": .#. / ##. / .#. / .#. / ###
        assert_eq!(c.pixel(1, 0), [255; 4]);
        assert_eq!(c.pixel(0, 0), [0, 0, 0, 255]);
        assert_eq!(c.pixel(0, 1), [255; 4]);
        assert_eq!(c.pixel(2, 4), [255; 4]);
    }
}
