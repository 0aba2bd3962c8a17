//! An RGB drawing surface: pixels, lines, boxes and text, clipped to the canvas.

use super::font;

/// An RGB colour.
pub(crate) type Rgb = [u8; 3];

/// Black, for axes and text.
pub(crate) const BLACK: Rgb = [0, 0, 0];

/// `width * height` RGB pixels, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![255; width * height * 3],
        }
    }

    /// Colour one pixel; off-canvas coordinates are ignored.
    pub fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y))
            && x < self.width
            && y < self.height
        {
            let i = (y * self.width + x) * 3;
            self.pixels[i..i + 3].copy_from_slice(&color);
        }
    }

    /// A `size` x `size` square with its top-left corner at (x, y).
    pub fn square(&mut self, x: i64, y: i64, size: i64, color: Rgb) {
        for dy in 0..size {
            for dx in 0..size {
                self.set(x + dx, y + dy, color);
            }
        }
    }

    /// A line `thickness` pixels wide (Bresenham, each point a square).
    pub fn line(&mut self, from: (i64, i64), to: (i64, i64), thickness: i64, color: Rgb) {
        let (mut x, mut y) = from;
        let (dx, dy) = ((to.0 - x).abs(), -(to.1 - y).abs());
        let (sx, sy) = ((to.0 - x).signum(), (to.1 - y).signum());
        let mut err = dx + dy;
        let half = (thickness - 1) / 2;
        loop {
            self.square(x - half, y - half, thickness, color);
            if (x, y) == to {
                return;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// The outline of the box with corners (left, top) and (right, bottom), inclusive.
    pub fn outline(&mut self, left: i64, top: i64, right: i64, bottom: i64, color: Rgb) {
        self.line((left, top), (right, top), 1, color);
        self.line((right, top), (right, bottom), 1, color);
        self.line((right, bottom), (left, bottom), 1, color);
        self.line((left, bottom), (left, top), 1, color);
    }

    /// Fill the box with corners (left, top) and (right, bottom), inclusive.
    pub fn fill(&mut self, left: i64, top: i64, right: i64, bottom: i64, color: Rgb) {
        for y in top..=bottom {
            for x in left..=right {
                self.set(x, y, color);
            }
        }
    }

    /// `text` with its top-left corner at (x, y), glyphs magnified `scale` times.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, color: Rgb) {
        for (i, c) in text.chars().enumerate() {
            let left = x + i as i64 * font::ADVANCE as i64 * scale;
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for column in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - column)) != 0 {
                        let (px, py) = (left + column as i64 * scale, y + row as i64 * scale);
                        self.square(px, py, scale, color);
                    }
                }
            }
        }
    }
}

/// The width in pixels of `text` drawn at `scale`.
pub(crate) fn text_width(text: &str, scale: i64) -> i64 {
    let n = text.chars().count() as i64;
    (n * font::ADVANCE as i64 - 1).max(0) * scale
}

/// The height in pixels of a line of text drawn at `scale`.
pub(crate) fn text_height(scale: i64) -> i64 {
    font::HEIGHT as i64 * scale
}
