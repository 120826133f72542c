//! A 3x5 bitmap font for figure labels: digits, A-Z (lower case is drawn upper case) and
//! `. - + : , ( ) / = _ % x`. Anything else is drawn as `?`.

/// Glyph width and height in font pixels.
pub(super) const GLYPH_W: usize = 3;
pub(super) const GLYPH_H: usize = 5;

/// Rows top to bottom, 3 bits each, most significant bit on the left.
const GLYPHS: &[(char, [u8; 5])] = &[
    (' ', [0b000, 0b000, 0b000, 0b000, 0b000]),
    ('0', [0b111, 0b101, 0b101, 0b101, 0b111]),
    ('1', [0b010, 0b110, 0b010, 0b010, 0b111]),
    ('2', [0b111, 0b001, 0b111, 0b100, 0b111]),
    ('3', [0b111, 0b001, 0b111, 0b001, 0b111]),
    ('4', [0b101, 0b101, 0b111, 0b001, 0b001]),
    ('5', [0b111, 0b100, 0b111, 0b001, 0b111]),
    ('6', [0b111, 0b100, 0b111, 0b101, 0b111]),
    ('7', [0b111, 0b001, 0b001, 0b010, 0b010]),
    ('8', [0b111, 0b101, 0b111, 0b101, 0b111]),
    ('9', [0b111, 0b101, 0b111, 0b001, 0b111]),
    ('.', [0b000, 0b000, 0b000, 0b000, 0b010]),
    ('-', [0b000, 0b000, 0b111, 0b000, 0b000]),
    ('+', [0b000, 0b010, 0b111, 0b010, 0b000]),
    (':', [0b000, 0b010, 0b000, 0b010, 0b000]),
    (',', [0b000, 0b000, 0b000, 0b010, 0b100]),
    ('(', [0b001, 0b010, 0b010, 0b010, 0b001]),
    (')', [0b100, 0b010, 0b010, 0b010, 0b100]),
    ('/', [0b001, 0b001, 0b010, 0b100, 0b100]),
    ('=', [0b000, 0b111, 0b000, 0b111, 0b000]),
    ('_', [0b000, 0b000, 0b000, 0b000, 0b111]),
    ('%', [0b101, 0b001, 0b010, 0b100, 0b101]),
    ('x', [0b000, 0b101, 0b010, 0b101, 0b000]),
    ('?', [0b111, 0b001, 0b010, 0b000, 0b010]),
    ('A', [0b010, 0b101, 0b111, 0b101, 0b101]),
    ('B', [0b110, 0b101, 0b110, 0b101, 0b110]),
    ('C', [0b011, 0b100, 0b100, 0b100, 0b011]),
    ('D', [0b110, 0b101, 0b101, 0b101, 0b110]),
    ('E', [0b111, 0b100, 0b110, 0b100, 0b111]),
    ('F', [0b111, 0b100, 0b110, 0b100, 0b100]),
    ('G', [0b011, 0b100, 0b101, 0b101, 0b011]),
    ('H', [0b101, 0b101, 0b111, 0b101, 0b101]),
    ('I', [0b111, 0b010, 0b010, 0b010, 0b111]),
    ('J', [0b001, 0b001, 0b001, 0b101, 0b010]),
    ('K', [0b101, 0b101, 0b110, 0b101, 0b101]),
    ('L', [0b100, 0b100, 0b100, 0b100, 0b111]),
    ('M', [0b101, 0b111, 0b111, 0b101, 0b101]),
    ('N', [0b110, 0b101, 0b101, 0b101, 0b101]),
    ('O', [0b010, 0b101, 0b101, 0b101, 0b010]),
    ('P', [0b110, 0b101, 0b110, 0b100, 0b100]),
    ('Q', [0b010, 0b101, 0b101, 0b110, 0b011]),
    ('R', [0b110, 0b101, 0b110, 0b101, 0b101]),
    ('S', [0b011, 0b100, 0b010, 0b001, 0b110]),
    ('T', [0b111, 0b010, 0b010, 0b010, 0b010]),
    ('U', [0b101, 0b101, 0b101, 0b101, 0b111]),
    ('V', [0b101, 0b101, 0b101, 0b101, 0b010]),
    ('W', [0b101, 0b101, 0b111, 0b111, 0b101]),
    ('X', [0b101, 0b101, 0b010, 0b101, 0b101]),
    ('Y', [0b101, 0b101, 0b010, 0b010, 0b010]),
    ('Z', [0b111, 0b001, 0b010, 0b100, 0b111]),
];

/// The rows of `c`'s glyph.
pub(super) fn glyph(c: char) -> [u8; 5] {
    let c = if c == 'x' { c } else { c.to_ascii_uppercase() };
    GLYPHS.iter().find(|(g, _)| *g == c).or_else(|| GLYPHS.iter().find(|(g, _)| *g == '?')).map(|(_, rows)| *rows).unwrap_or([0; 5])
}

/// Width in pixels of `text` drawn at `scale` (one font pixel of space between glyphs).
pub(super) fn text_width(text: &str, scale: usize) -> usize {
    let n = text.chars().count();
    if n == 0 { 0 } else { (n * (GLYPH_W + 1) - 1) * scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glyph_is_distinct_and_lower_case_maps_to_upper() {
        for (i, (a, ga)) in GLYPHS.iter().enumerate() {
            for (b, gb) in &GLYPHS[i + 1..] {
                assert_ne!(ga, gb, "{a} and {b} look the same");
            }
        }
        assert_eq!(glyph('e'), glyph('E'));
        assert_eq!(glyph('€'), glyph('?'));
        assert_eq!(text_width("12", 2), 14);
    }
}
