//! Reading one image file into a preprocessed CHW buffer, shared by the folder datasets.

use std::path::Path;

use image::DynamicImage;

use super::ImageShape;
use crate::error::{Error, Result};

/// The window of the decoded image that becomes the sample.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
}

/// Read and decode `path` (format guessed from its bytes) and check it is `width` x
/// `height`.
///
/// The size is read from the file's header and checked before the pixels are decoded, so a
/// small file announcing a huge image costs no decoding. A decoder that panics on a corrupt
/// file gives an error too: zune-jpeg 0.5.15, the JPEG decoder, overflows an `i32` on some
/// (fuzzed) files in builds with overflow checks (fuzz/artifacts/image_folder/).
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::Format`] naming the file if it cannot be
/// decoded (truncated, corrupt, not an image) or has another size.
pub(crate) fn read_checked(path: &Path, width: usize, height: usize) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    if is_truncated_jpeg(&bytes) {
        return Err(format("jpeg without its end marker: truncated".into()));
    }
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
            .with_guessed_format()
            .expect("reading from memory cannot fail")
    };
    let cannot_decode = |e: image::ImageError| format(format!("cannot decode the image: {e}"));
    let (w, h) = reader().into_dimensions().map_err(cannot_decode)?;
    let (w, h) = (w as usize, h as usize);
    if (w, h) != (width, height) {
        return Err(format(format!(
            "image is {w}x{h} (width x height), expected {width}x{height}"
        )));
    }
    std::panic::catch_unwind(|| reader().decode())
        .map_err(|_| format("the image decoder panicked: corrupt file".into()))?
        .map_err(cannot_decode)
}

/// Whether `bytes` start as a JPEG but lack the end-of-image marker (`FF D9`) near their
/// end. The JPEG decoder fills a cut-off image with grey instead of failing, so a
/// half-copied file would otherwise train silently; a little slack allows the padding some
/// writers leave after the marker.
fn is_truncated_jpeg(bytes: &[u8]) -> bool {
    const SLACK: usize = 32;
    let tail = &bytes[bytes.len().saturating_sub(SLACK + 2)..];
    bytes.starts_with(&[0xFF, 0xD8]) && !tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Write the `shape`-sized window of `image` at `window` into `out` as CHW values in
/// [0, 1] (`x / 255`), mirrored left-right when `flip`. One channel takes the luma, three
/// the RGB values (alpha dropped).
///
/// # Panics
/// If the window does not fit in the image, `shape.channels` is not 1 or 3, or `out` is not
/// `shape.len()` long (callers check sizes first).
pub(crate) fn write_chw(
    image: DynamicImage,
    shape: ImageShape,
    window: Window,
    flip: bool,
    out: &mut [f32],
) {
    assert_eq!(out.len(), shape.len(), "output length");
    let (raw, channels, stride) = match shape.channels {
        1 => {
            let gray = image.into_luma8();
            let stride = gray.width() as usize;
            (gray.into_raw(), 1, stride)
        }
        3 => {
            let rgb = image.into_rgb8();
            let stride = rgb.width() as usize;
            (rgb.into_raw(), 3, stride)
        }
        other => panic!("{other} channels: only 1 or 3 are supported"),
    };
    let plane = shape.height * shape.width;
    for c in 0..channels {
        for y in 0..shape.height {
            let row = (window.top + y) * stride;
            let dst = &mut out[c * plane + y * shape.width..][..shape.width];
            for (x, d) in dst.iter_mut().enumerate() {
                // A flip reads the window's columns right to left.
                let sx = if flip { shape.width - 1 - x } else { x };
                *d = f32::from(raw[(row + window.left + sx) * channels + c]) / 255.0;
            }
        }
    }
}
