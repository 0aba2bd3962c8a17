//! Encoding a PNG and putting it in place atomically.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    write_atomically(path, &encoded)
}

/// Write `bytes` to a temporary sibling of `path`, then rename it to `path`; on failure
/// remove the temporary file.
///
/// # Errors
/// [`Error::Io`] naming `path`; [`Error::Format`] if `path` has no file name.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = temporary_sibling(path)?;
    let written =
        std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|source| {
        // Best effort: the write may have failed before the file existed.
        let _ = std::fs::remove_file(&temporary);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// `.<name>.<pid>-<n>.tmp` beside `path`: unique per process and call, so concurrent
/// writers of one target never share a temporary file; hidden, so a crash leaves no
/// visible clutter. Same directory, so the rename stays on one file system (atomic).
fn temporary_sibling(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some(name) = path.file_name() else {
        return Err(Error::Format {
            path: path.to_path_buf(),
            problem: "not a file path".into(),
        });
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(
        ".{}.{}-{n}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}
