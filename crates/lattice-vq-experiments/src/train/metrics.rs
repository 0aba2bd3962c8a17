//! Metrics as JSON lines: one object per step and per epoch, appended as training goes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// An append-only `metrics.jsonl`.
#[derive(Debug)]
pub struct MetricsLog {
    file: File,
    path: PathBuf,
}

impl MetricsLog {
    /// Open `path` for appending, first cutting it to `keep_bytes` (the length it had at the
    /// checkpoint a run resumes from; 0 for a fresh run).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Format`] when the file is shorter than
    /// `keep_bytes` (the checkpoint does not belong to this file: extending it would invent
    /// lines).
    pub fn open(path: &Path, keep_bytes: u64) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let length = file.metadata().map_err(io)?.len();
        if length < keep_bytes {
            return Err(Error::Format {
                path: path.to_path_buf(),
                problem: format!(
                    "{length} bytes, but the checkpoint resumed from was taken at {keep_bytes}: \
                     the file must be at least that long"
                ),
            });
        }
        file.set_len(keep_bytes).map_err(io)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Append one JSON object as a line.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&mut self, record: &impl Serialize) -> Result<()> {
        let mut line = serde_json::to_string(record).expect("serializable");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// The file's length now (flushed).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn bytes_written(&mut self) -> Result<u64> {
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        self.file.flush().map_err(io)?;
        Ok(self.file.metadata().map_err(io)?.len())
    }
}

/// One line of `metrics.jsonl` per optimizer step.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepRecord {
    /// `"step"`.
    pub kind: &'static str,
    /// Optimizer steps done, this one included.
    pub step: u64,
    /// Zero-based epoch.
    pub epoch: usize,
    /// Learning rate of this step.
    pub lr: f64,
    /// The loss terms.
    #[serde(flatten)]
    pub stats: super::StepStats,
    /// Training seconds so far.
    pub seconds: f64,
}

/// One line of `metrics.jsonl` per epoch, also kept in the final result.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct EpochRecord {
    /// `"epoch"`.
    pub kind: String,
    /// Zero-based epoch.
    pub epoch: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Optimizer steps taken in the epoch.
    pub steps: usize,
    /// Batches seen (steps, or quantizer-only passes in a frozen epoch).
    pub batches: usize,
    /// Mean of the steps' loss terms (zero when no step was taken).
    pub mean: super::StepStats,
    /// Distinct codes (lattice code vectors or indices) in the epoch's training batches,
    /// from the batch it started or resumed at.
    pub train_unique_codes: usize,
    /// Per-pixel MSE on the validation split, eval mode (`None` without one).
    pub validation_mse: Option<f64>,
    /// How the epoch ran.
    pub mode: EpochMode,
    /// Seconds spent in the epoch.
    pub seconds: f64,
}

/// How an epoch ran at its learning rate, written to `metrics.jsonl` as `trained`,
/// `ema-only` or `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EpochMode {
    /// Training steps at a learning rate above 0.
    #[default]
    Trained,
    /// Learning rate 0 with a VQ-EMA quantizer: encoder and quantizer run in training mode
    /// so the EMA codebook moves, as in the official run; nothing else changes.
    EmaOnly,
    /// Learning rate 0 and no EMA state: the official run changed nothing in it (Adam with
    /// lr 0 leaves every weight as it is), so no batch runs.
    Skipped,
}

impl EpochMode {
    /// The mode of an epoch at learning rate `lr` for a quantizer with EMA state or not.
    pub fn at(lr: f64, has_ema_state: bool) -> Self {
        match (lr == 0.0, has_ema_state) {
            (false, _) => Self::Trained,
            (true, true) => Self::EmaOnly,
            (true, false) => Self::Skipped,
        }
    }

    /// `trained`, `ema-only` or `skipped`, as `metrics.jsonl` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trained => "trained",
            Self::EmaOnly => "ema-only",
            Self::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for EpochMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
