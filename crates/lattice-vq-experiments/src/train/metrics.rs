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
    /// How the epoch ran: `trained`; `ema-only` (learning rate 0: encoder and quantizer in
    /// training mode so the EMA codebook moves, as in the official run); `skipped`
    /// (learning rate 0 and no EMA state: the official run changed nothing in it, Adam with
    /// lr 0 leaves every weight as it is).
    pub mode: String,
    /// Seconds spent in the epoch.
    pub seconds: f64,
}
