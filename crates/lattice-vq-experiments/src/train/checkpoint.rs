//! Resumable training checkpoints, written atomically.
//!
//! A checkpoint is a folder `checkpoints/step-NNNNNNNN/` holding `model.safetensors`,
//! `optimizer.safetensors` and `state.json`. It is written under a temporary name and
//! renamed into place when complete, so an interruption leaves either the previous
//! checkpoint or the new one, never half of one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::atomic::atomic_write;
use crate::error::{Error, Result};

/// Where the loop stands, saved beside the weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LoopState {
    /// Epoch to continue (zero-based).
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub batch_in_epoch: usize,
    /// Optimizer steps done in total.
    pub global_step: u64,
    /// Training seconds spent before this checkpoint.
    pub elapsed_seconds: f64,
    /// Length of `metrics.jsonl` at this checkpoint (later lines are dropped on resume).
    pub metrics_bytes: u64,
    /// The epochs finished so far.
    pub epochs: Vec<super::metrics::EpochRecord>,
}

/// Write `value` as pretty JSON to `path`, atomically.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serializable");
    crate::atomic::write_bytes(path, (text + "\n").as_bytes())
}

/// Read JSON written by [`write_json`].
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// The files of one checkpoint folder.
#[derive(Debug, Clone)]
pub struct CheckpointFiles {
    /// The folder.
    pub dir: PathBuf,
}

impl CheckpointFiles {
    /// Model weights (official tensor names).
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }

    /// Adam moments and step count.
    pub fn optimizer(&self) -> PathBuf {
        self.dir.join("optimizer.safetensors")
    }

    /// The [`LoopState`].
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
}

/// Save a checkpoint under `root/checkpoints/` with `save_weights` writing the model and
/// optimizer files into the (temporary) folder; older checkpoints are then removed.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be created or renamed; whatever `save_weights`
/// returns.
pub fn save(
    root: &Path,
    state: &LoopState,
    save_weights: impl FnOnce(&CheckpointFiles) -> Result<()>,
) -> Result<PathBuf> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let parent = root.join("checkpoints");
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let name = format!("step-{:08}", state.global_step);
    let tmp = CheckpointFiles {
        dir: parent.join(format!(".{name}.tmp")),
    };
    let _ = std::fs::remove_dir_all(&tmp.dir);
    std::fs::create_dir_all(&tmp.dir).map_err(io(&tmp.dir))?;
    let written = save_weights(&tmp).and_then(|()| write_json(&tmp.state(), state));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp.dir);
        return Err(e);
    }
    let final_dir = parent.join(&name);
    let _ = std::fs::remove_dir_all(&final_dir);
    std::fs::rename(&tmp.dir, &final_dir).map_err(io(&final_dir))?;
    for old in complete_checkpoints(&parent)? {
        if old != final_dir {
            let _ = std::fs::remove_dir_all(old);
        }
    }
    Ok(final_dir)
}

/// The newest complete checkpoint under `root/checkpoints/`, if any.
///
/// # Errors
/// [`Error::Io`] when the folder exists but cannot be listed.
pub fn latest(root: &Path) -> Result<Option<CheckpointFiles>> {
    let parent = root.join("checkpoints");
    if !parent.is_dir() {
        return Ok(None);
    }
    Ok(complete_checkpoints(&parent)?
        .into_iter()
        .max()
        .map(|dir| CheckpointFiles { dir }))
}

fn complete_checkpoints(parent: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(parent).map_err(|source| Error::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    Ok(entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
        })
        .collect())
}
