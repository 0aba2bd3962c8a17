//! Encoding a PNG and putting it in place atomically.

use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::error::{Error, Result};

/// Encode `pixels` (`width * height` of `color`) as a PNG and write it to `path`
/// atomically.
///
/// # Errors
/// [`Error::Format`] naming `path` if encoding fails; [`Error::Io`] if writing or renaming
/// fails.
pub(crate) fn write_png(
    path: &Path,
    width: usize,
    height: usize,
    color: ExtendedColorType,
    pixels: &[u8],
) -> Result<()> {
    let format = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(format(format!("{width}x{height} is too large for a png"))),
    };
    let mut encoded = Vec::new();
    PngEncoder::new(&mut encoded)
        .write_image(pixels, w, h, color)
        .map_err(|e| format(format!("cannot encode the png: {e}")))?;
    crate::atomic::write_bytes(path, &encoded)
}
