//! Tiling images into one PNG.

use std::path::Path;

use image::ExtendedColorType;

use super::atomic::write_png;
use crate::data::ImageShape;
use crate::error::{Error, Result};

/// Pixels of white between tiles.
pub const GAP: usize = 2;

/// Tile the CHW `images` (each `shape.len()` values) row by row, `columns` to a row, into
/// one PNG at `path`: grayscale for 1 channel, RGB for 3, [`GAP`] white pixels between
/// tiles. Values map linearly from `value_range` to 0..=255, clamped (NaN shows as the low
/// end). `columns` larger than the number of images is cut to it.
///
/// The intended use is a reconstruction figure: inputs on the first row(s), their
/// reconstructions on the next, in the same order ([`write_comparison`] does exactly that).
///
/// # Errors
/// [`Error::Format`] naming `path` if there are no images, `images` is not a whole number
/// of `shape`-sized images, `shape` is not 1 or 3 channels, `columns` is zero or
/// `value_range` is not finite and increasing; [`Error::Io`] if writing fails.
pub fn write_grid(
    path: &Path,
    images: &[f32],
    shape: ImageShape,
    columns: usize,
    value_range: (f32, f32),
) -> Result<()> {
    let invalid = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let (low, high) = value_range;
    if !matches!(shape.channels, 1 | 3) || shape.is_empty() {
        return Err(invalid(format!("cannot draw images of shape {shape:?}")));
    }
    if images.is_empty() || !images.len().is_multiple_of(shape.len()) {
        return Err(invalid(format!(
            "{} values are not a positive whole number of {shape:?} images",
            images.len()
        )));
    }
    if columns == 0 {
        return Err(invalid("zero columns".into()));
    }
    if !(low.is_finite() && high.is_finite() && low < high) {
        return Err(invalid(format!(
            "value range {value_range:?} is not increasing"
        )));
    }
    let count = images.len() / shape.len();
    let columns = columns.min(count);
    let rows = count.div_ceil(columns);
    let (h, w, c) = (shape.height, shape.width, shape.channels);
    let width = columns * w + (columns - 1) * GAP;
    let height = rows * h + (rows - 1) * GAP;
    let mut pixels = vec![255u8; width * height * c];
    let scale = 255.0 / (high - low);
    for (i, image) in images.chunks_exact(shape.len()).enumerate() {
        let (top, left) = ((i / columns) * (h + GAP), (i % columns) * (w + GAP));
        for (channel, plane) in image.chunks_exact(h * w).enumerate() {
            for (y, row) in plane.chunks_exact(w).enumerate() {
                for (x, &v) in row.iter().enumerate() {
                    // NaN.clamp stays NaN and `as u8` maps it to 0: the low end.
                    let byte = ((v.clamp(low, high) - low) * scale).round() as u8;
                    pixels[((top + y) * width + left + x) * c + channel] = byte;
                }
            }
        }
    }
    let color = if c == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    write_png(path, width, height, color, &pixels)
}

/// Write the first `count` `inputs` on one row and the first `count` `reconstructions`
/// under them, each below its input ([`write_grid`] with `count` columns).
///
/// # Errors
/// [`Error::Format`] naming `path` if `count` is zero or either buffer holds fewer than
/// `count` images; otherwise as [`write_grid`].
pub fn write_comparison(
    path: &Path,
    inputs: &[f32],
    reconstructions: &[f32],
    shape: ImageShape,
    count: usize,
    value_range: (f32, f32),
) -> Result<()> {
    let needed = count * shape.len();
    if count == 0 || inputs.len() < needed || reconstructions.len() < needed {
        return Err(Error::Format {
            path: path.to_path_buf(),
            problem: format!(
                "need {count} (> 0) inputs and reconstructions of {shape:?}, got {} and {} values",
                inputs.len(),
                reconstructions.len()
            ),
        });
    }
    let both = [&inputs[..needed], &reconstructions[..needed]].concat();
    write_grid(path, &both, shape, count, value_range)
}
