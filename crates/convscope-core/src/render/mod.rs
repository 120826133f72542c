//! Pictures of numbers, in one place: colormaps, colour scales, a small RGBA canvas with a
//! bitmap font, and the figures the page shows and the CLI exports (labelled grids of feature
//! maps with their legend, one map zoomed and overlaid on the input).
//!
//! Everything here works on host slices: the caller reads back what it wants drawn.

mod canvas;
mod colormap;
mod colormap_tables;
mod figure;
mod font;
mod scale;

pub use canvas::Canvas;
pub use colormap::Colormap;
pub use figure::{GridFigure, Overlay, PictureGrid, Tiling, ZoomFigure, bilinear, colorize, colorize_maps, side_by_side, with_notes};
pub use scale::{Scale, short_number};
