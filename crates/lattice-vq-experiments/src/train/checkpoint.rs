//! Resumable training checkpoints, written atomically.
//!
//! A checkpoint is a folder `checkpoints/step-SSSSSSSS-epoch-EEEE-batch-BBBBBBBB/` holding
//! `model.safetensors`, `optimizer.safetensors`, `state.json` and `epoch_codes.bin`, named
//! by the loop position it resumes at (optimizer steps, epoch, batch into the epoch). It is
//! written under a hidden temporary name and renamed into place when complete, so an
//! interruption leaves the previous checkpoint, the new one or both, never half of one.
//! Older checkpoints are removed only once the new one is in place. The position is in the
//! name because two checkpoints can share a step count: an epoch that takes no step (the
//! paper's protocol after its first epoch) ends at the step its predecessor ended at, and
//! replacing a folder of the same name cannot be done in one rename.

use std::path::{Path, PathBuf};

use lattice_vq_core::UniqueCodes;
use serde::{Deserialize, Serialize};

pub use super::loop_state::{EpochTally, LoopState};
pub use crate::atomic::atomic_write;
use crate::error::{Error, Result};

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

    /// The distinct codes of the epoch in progress (`super::epoch_codes`).
    pub fn codes(&self) -> PathBuf {
        self.dir.join("epoch_codes.bin")
    }
}

/// A checkpoint's loop position, as its folder name holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Optimizer steps done.
    pub global_step: u64,
    /// Epoch to continue (zero-based).
    pub epoch: usize,
    /// Batches of that epoch done.
    pub batch_in_epoch: usize,
}

impl Position {
    /// Where `state` stands.
    pub fn of(state: &LoopState) -> Self {
        Self {
            global_step: state.global_step,
            epoch: state.epoch,
            batch_in_epoch: state.batch_in_epoch,
        }
    }

    /// The folder name: `step-SSSSSSSS-epoch-EEEE-batch-BBBBBBBB`.
    pub fn name(&self) -> String {
        format!(
            "step-{:08}-epoch-{:04}-batch-{:08}",
            self.global_step, self.epoch, self.batch_in_epoch
        )
    }

    /// The position a folder name holds: [`Position::name`]'s format, or none for any other
    /// name (a stray `step-zzz` is not a checkpoint).
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("step-")?;
        let (step, rest) = rest.split_once("-epoch-")?;
        let (epoch, batch) = rest.split_once("-batch-")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(step) && digits(epoch) && digits(batch)) {
            return None;
        }
        Some(Self {
            global_step: step.parse().ok()?,
            epoch: epoch.parse().ok()?,
            batch_in_epoch: batch.parse().ok()?,
        })
    }
}

/// Save a checkpoint of loop position `state` under `root/checkpoints/`: `save_weights`
/// writes the model and optimizer files into the (temporary) folder, this function the
/// state and the epoch's `codes`; older checkpoints are then removed.
///
/// # Errors
/// [`Error::Io`] naming the file or folder that could not be written or renamed; whatever
/// `save_weights` returns. The previous checkpoint is left as it was.
pub fn save(
    root: &Path,
    state: &LoopState,
    codes: Option<&UniqueCodes>,
    save_weights: impl FnOnce(&CheckpointFiles) -> Result<()>,
) -> Result<PathBuf> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let parent = root.join("checkpoints");
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let position = Position::of(state);
    let name = position.name();
    let final_dir = parent.join(&name);
    if final_dir.is_dir() {
        // Only a run resumed at this very position writes it again, and it holds the same
        // state then; keeping it is safe, replacing it could not be done in one rename.
        return Ok(final_dir);
    }
    let tmp = CheckpointFiles {
        dir: parent.join(format!(".{name}.tmp")),
    };
    let _ = std::fs::remove_dir_all(&tmp.dir);
    std::fs::create_dir_all(&tmp.dir).map_err(io(&tmp.dir))?;
    let written = save_weights(&tmp)
        .and_then(|()| crate::atomic::write_bytes(&tmp.codes(), &super::epoch_codes::encode(codes)))
        .and_then(|()| write_json(&tmp.state(), state));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp.dir);
        return Err(e);
    }
    std::fs::rename(&tmp.dir, &final_dir).map_err(io(&final_dir))?;
    for old in candidates(root)? {
        if Position::parse(&old.name()).is_some_and(|p| p < position) {
            // Hidden first, in one rename: a kill while its files are deleted leaves a
            // temporary folder (removed on resume), not a checkpoint with files missing.
            let hidden = parent.join(format!(".{}.old.tmp", old.name()));
            if std::fs::rename(&old.dir, &hidden).is_ok() {
                let _ = std::fs::remove_dir_all(hidden);
            }
        }
    }
    Ok(final_dir)
}

impl CheckpointFiles {
    fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Every folder under `root/checkpoints/` named as a checkpoint, newest position first,
/// whether complete or not (a resumption tries them in this order).
///
/// # Errors
/// [`Error::Io`] when the folder exists but cannot be listed.
pub fn candidates(root: &Path) -> Result<Vec<CheckpointFiles>> {
    let parent = root.join("checkpoints");
    if !parent.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(&parent).map_err(|source| Error::Io {
        path: parent.clone(),
        source,
    })?;
    let mut found: Vec<(Position, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let position = Position::parse(&p.file_name()?.to_string_lossy())?;
            Some((position, p))
        })
        .collect();
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    Ok(found
        .into_iter()
        .map(|(_, dir)| CheckpointFiles { dir })
        .collect())
}

/// The newest checkpoint under `root/checkpoints/` whose files are all present and whose
/// state names its own position, if any.
///
/// # Errors
/// [`Error::Io`] when the folder exists but cannot be listed.
pub fn latest(root: &Path) -> Result<Option<CheckpointFiles>> {
    Ok(candidates(root)?
        .into_iter()
        .find(|c| read_state(c).is_ok() && c.model().is_file() && c.optimizer().is_file()))
}

/// The loop state of checkpoint `files`, its epoch codes and the check that the state is
/// the one its folder name says.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`] naming the file that is missing or wrong.
pub fn read_state(files: &CheckpointFiles) -> Result<(LoopState, Option<UniqueCodes>)> {
    let state: LoopState = read_json(&files.state())?;
    if Position::parse(&files.name()) != Some(Position::of(&state)) {
        return Err(Error::Format {
            path: files.state(),
            problem: format!(
                "the state is at {}, not at the position its folder is named after",
                Position::of(&state).name()
            ),
        });
    }
    let path = files.codes();
    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    Ok((state, super::epoch_codes::decode(&path, &bytes)?))
}

/// Remove what an interrupted write left behind in a run folder: hidden temporary files
/// (`.NAME.*.tmp`, see `crate::atomic`) in `root`, and temporary checkpoint folders
/// (`checkpoints/.NAME.tmp`).
///
/// # Errors
/// [`Error::Io`] when a folder cannot be listed or a leftover cannot be removed.
pub fn remove_stale_temporaries(root: &Path) -> Result<()> {
    for dir in [root.to_path_buf(), root.join("checkpoints")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with('.') && name.ends_with(".tmp")) {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|source| Error::Io { path, source })?;
        }
    }
    Ok(())
}
