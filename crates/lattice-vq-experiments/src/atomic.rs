//! Writing files so that a reader (or a resumed run) sees the old content or the new, never
//! part of either: checkpoints, results, metrics snapshots and images all go through here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Run `write` on a temporary sibling of `path`, then rename it to `path`. On failure the
/// temporary file is removed and `path` is untouched.
///
/// # Errors
/// Whatever `write` returns; [`Error::Io`] from the rename; [`Error::Format`] if `path` has
/// no file name.
pub fn atomic_write(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temporary = temporary_sibling(path)?;
    let result = write(&temporary).and_then(|()| {
        std::fs::rename(&temporary, path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        // Best effort: the write may have failed before the file existed.
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Write `bytes` to `path` atomically ([`atomic_write`]).
///
/// # Errors
/// [`Error::Io`] naming `path`; [`Error::Format`] if `path` has no file name.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write(path, |temporary| {
        std::fs::write(temporary, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
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
