//! Receptive fields from the graph: for every spatial layer, the input pixels each of its
//! positions sees, composed op by op through kernel sizes, strides, dilations and paddings,
//! the union where branches meet.
//!
//! Along each axis a position `i` of a layer sees the input rows `start + i * jump` up to
//! `start + i * jump + size - 1` (before clipping to the image: padding makes `start`
//! negative at the border). An op that mixes every position (a global pool, a linear layer,
//! an op this module does not know) gives a field of the whole input.

use serde::{Deserialize, Serialize};

use super::ops::Padding2d;

/// How an op's output positions read its inputs' positions (height and width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footprint {
    /// Position `i` of the output reads position `i` of each input (activations, batch
    /// norms, elementwise arithmetic, concatenation of channels).
    Same,
    /// A sliding window: output `i` reads inputs `i * stride - before + t * dilation` for
    /// `t` in `0..kernel`.
    Window {
        /// Window size `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
        /// Padding `[[top, bottom], [left, right]]` (only the first side moves the field).
        padding: Padding2d,
        /// Dilation `[dh, dw]`.
        dilation: [usize; 2],
    },
    /// Every output position may read every input position.
    Whole,
}

/// The receptive field of a spatial layer: position `(y, x)` sees input rows
/// `start[0] + y * jump[0] ..` (`size[0]` of them) and columns likewise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Input row and column seen first by position 0 (negative: in the padding).
    pub start: [i64; 2],
    /// Input pixels between the fields of neighbouring positions.
    pub jump: [usize; 2],
    /// Rows and columns each position sees (padding included).
    pub size: [usize; 2],
}

/// An input region, in pixels, clipped to the input: rows `y0..y1`, columns `x0..x1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// First row.
    pub y0: usize,
    /// One past the last row.
    pub y1: usize,
    /// First column.
    pub x0: usize,
    /// One past the last column.
    pub x1: usize,
}

impl Field {
    /// The input itself: each pixel sees itself.
    pub const INPUT: Field = Field { start: [0, 0], jump: [1, 1], size: [1, 1] };

    /// The region position `(y, x)` sees in an input of `height` x `width`.
    pub fn region(&self, y: usize, x: usize, height: usize, width: usize) -> Region {
        let span = |axis: usize, i: usize, len: usize| {
            let a = self.start[axis] + (i * self.jump[axis]) as i64;
            let b = a + self.size[axis] as i64;
            (a.clamp(0, len as i64) as usize, b.clamp(0, len as i64) as usize)
        };
        let (y0, y1) = span(0, y, height);
        let (x0, x1) = span(1, x, width);
        Region { y0, y1, x0, x1 }
    }

    fn through(self, footprint: Footprint) -> Option<Field> {
        match footprint {
            Footprint::Same => Some(self),
            Footprint::Whole => None,
            Footprint::Window { kernel, stride, padding, dilation } => {
                let axis = |a: usize| {
                    let start = self.start[a] - (padding[a][0] * self.jump[a]) as i64;
                    (start, self.jump[a] * stride[a], self.size[a] + (kernel[a].max(1) - 1) * dilation[a] * self.jump[a])
                };
                let ((s0, j0, n0), (s1, j1, n1)) = (axis(0), axis(1));
                Some(Field { start: [s0, s1], jump: [j0, j1], size: [n0, n1] })
            }
        }
    }

    /// The union of two fields over the same positions; `None` when their positions do
    /// not step alike (the union is then no field of this form).
    fn union(self, other: Field) -> Option<Field> {
        if self.jump != other.jump {
            return None;
        }
        let axis = |a: usize| {
            let start = self.start[a].min(other.start[a]);
            let end = (self.start[a] + self.size[a] as i64).max(other.start[a] + other.size[a] as i64);
            (start, (end - start) as usize)
        };
        let ((s0, n0), (s1, n1)) = (axis(0), axis(1));
        Some(Field { start: [s0, s1], jump: self.jump, size: [n0, n1] })
    }
}

/// What a node's output depends on, while fields are composed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reach {
    /// Nothing of the input (a constant).
    Nothing,
    /// Its positions see these input pixels.
    Field(Field),
    /// Every input pixel.
    Whole,
}

impl Reach {
    /// The reach of a node with inputs `ins` through `footprint`.
    pub(crate) fn of(ins: &[Reach], footprint: Footprint) -> Reach {
        let mut joined = Reach::Nothing;
        for r in ins {
            joined = match (joined, *r) {
                (j, Reach::Nothing) => j,
                (Reach::Nothing, r) => r,
                (Reach::Field(a), Reach::Field(b)) => a.union(b).map_or(Reach::Whole, Reach::Field),
                _ => Reach::Whole,
            };
        }
        match joined {
            Reach::Field(f) => f.through(footprint).map_or(Reach::Whole, Reach::Field),
            other => other,
        }
    }

    /// The field, for a layer whose positions have one.
    pub(crate) fn field(self) -> Option<Field> {
        match self {
            Reach::Field(f) => Some(f),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(k: usize, s: usize, before: usize, d: usize) -> Footprint {
        Footprint::Window { kernel: [k; 2], stride: [s; 2], padding: [[before, 0]; 2], dilation: [d; 2] }
    }

    #[test]
    fn a_stack_of_convolutions_composes_by_hand() {
        // 3x3 stride 2 with TF-same padding (0 before): position i sees 2i..2i+2.
        let stem = Reach::of(&[Reach::Field(Field::INPUT)], window(3, 2, 0, 1));
        assert_eq!(stem, Reach::Field(Field { start: [0, 0], jump: [2, 2], size: [3, 3] }));
        // Then 3x3 stride 1 padding 1: 2(i-1) .. 2(i+1)+2, i.e. start -2, size 7.
        let dw = Reach::of(&[stem], window(3, 1, 1, 1));
        assert_eq!(dw, Reach::Field(Field { start: [-2, -2], jump: [2, 2], size: [7, 7] }));
        // A 5x5 stride 2 (padding 1 before): start -2 - 2, jump 4, size 7 + 4 * 2.
        let deeper = Reach::of(&[dw], window(5, 2, 1, 1));
        assert_eq!(deeper, Reach::Field(Field { start: [-4, -4], jump: [4, 4], size: [15, 15] }));
        // A 3x3 dilated by 2: size grows by 2 * 2 * jump.
        let dilated = Reach::of(&[Reach::Field(Field::INPUT)], window(3, 1, 2, 2));
        assert_eq!(dilated, Reach::Field(Field { start: [-2, -2], jump: [1, 1], size: [5, 5] }));
        // A 2x2 max pool stride 2 after a 3x3 conv (padding 1): 2i-1 .. 2i+2.
        let conv = Reach::of(&[Reach::Field(Field::INPUT)], window(3, 1, 1, 1));
        let pool = Reach::of(&[conv], window(2, 2, 0, 1));
        assert_eq!(pool, Reach::Field(Field { start: [-1, -1], jump: [2, 2], size: [4, 4] }));
    }

    #[test]
    fn branches_meet_as_the_union_and_whole_ops_see_everything() {
        let a = Field { start: [-2, 0], jump: [2, 2], size: [7, 3] };
        let b = Field { start: [0, -1], jump: [2, 2], size: [3, 7] };
        assert_eq!(Reach::of(&[Reach::Field(a), Reach::Field(b)], Footprint::Same), Reach::Field(Field { start: [-2, -1], jump: [2, 2], size: [7, 7] }));
        // A constant operand changes nothing; a different stride or a whole op gives all.
        assert_eq!(Reach::of(&[Reach::Field(a), Reach::Nothing], Footprint::Same), Reach::Field(a));
        assert_eq!(Reach::of(&[Reach::Field(a), Reach::Field(Field::INPUT)], Footprint::Same), Reach::Whole);
        assert_eq!(Reach::of(&[Reach::Field(a)], Footprint::Whole), Reach::Whole);
        assert_eq!(Reach::of(&[Reach::Nothing], window(3, 1, 1, 1)), Reach::Nothing);
    }

    #[test]
    fn regions_are_clipped_to_the_image() {
        let f = Field { start: [-2, -2], jump: [2, 2], size: [7, 7] };
        assert_eq!(f.region(0, 0, 224, 224), Region { y0: 0, y1: 5, x0: 0, x1: 5 });
        assert_eq!(f.region(3, 111, 224, 224), Region { y0: 4, y1: 11, x0: 220, x1: 224 });
    }
}
