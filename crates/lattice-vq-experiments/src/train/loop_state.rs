//! Where a training loop stands, as a checkpoint saves it, and the rules a loaded one must
//! satisfy before a run resumes from it (a `state.json` is a file a user can edit or damage).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StepStats;
use super::metrics::EpochRecord;
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
    pub epochs: Vec<EpochRecord>,
    /// The sums of the epoch in progress up to `batch_in_epoch`, so that its record covers
    /// the whole epoch after a resumption (its distinct codes are saved beside, in
    /// `epoch_codes.bin`).
    pub epoch_so_far: EpochTally,
}

/// The running sums of one epoch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochTally {
    /// Sum of the steps' loss terms.
    pub sum: StepStats,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Batches seen.
    pub batches: usize,
}

impl LoopState {
    /// Check that the state read from `path` is one the loop could have written for a run
    /// of `epochs` epochs: epochs numbered in order, step counts that add up, a batch
    /// position that matches the tally, finite times.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path` and the rule broken; [`Error::Invalid`] when the
    /// checkpoint has done more epochs than `epochs` asks for.
    pub fn check(&self, path: &Path, epochs: usize) -> Result<()> {
        let broken = |problem: String| Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        if self.epochs.len() != self.epoch {
            return Err(broken(format!(
                "epoch {} but {} epoch records: they must be equal",
                self.epoch,
                self.epochs.len()
            )));
        }
        if let Some((i, record)) = self.epochs.iter().enumerate().find(|(i, r)| r.epoch != *i) {
            return Err(broken(format!(
                "epoch record {i} says epoch {}: records must be numbered 0, 1, ...",
                record.epoch
            )));
        }
        let steps = self
            .epochs
            .iter()
            .map(|r| r.steps as u64)
            .chain([self.epoch_so_far.steps as u64])
            .try_fold(0u64, u64::checked_add);
        if steps != Some(self.global_step) {
            return Err(broken(format!(
                "global step {} is not the sum of the epochs' steps ({steps:?})",
                self.global_step
            )));
        }
        if self.epoch_so_far.batches != self.batch_in_epoch
            || self.epoch_so_far.steps > self.batch_in_epoch
        {
            return Err(broken(format!(
                "{} batches into the epoch, but its tally has {} batches and {} steps",
                self.batch_in_epoch, self.epoch_so_far.batches, self.epoch_so_far.steps
            )));
        }
        if !(self.elapsed_seconds.is_finite() && self.elapsed_seconds >= 0.0) {
            return Err(broken(format!(
                "elapsed seconds {}: must be finite and >= 0",
                self.elapsed_seconds
            )));
        }
        let in_progress = usize::from(self.batch_in_epoch > 0);
        if self.epoch + in_progress > epochs {
            return Err(Error::Invalid {
                what: "epochs".into(),
                problem: format!(
                    "{}: the checkpoint {} has done {} epochs{}, more than asked for",
                    epochs,
                    path.display(),
                    self.epoch,
                    if in_progress == 1 {
                        " and part of the next"
                    } else {
                        ""
                    }
                ),
            });
        }
        Ok(())
    }
}
