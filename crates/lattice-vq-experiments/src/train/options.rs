//! What a training run is: dataset, quantizer, backend, schedule.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::codebook_choice::CodebookChoice;
use super::device::Device;
use super::kinds::{DatasetKind, QuantizerKind};

/// The learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// What the official code ran: `ExponentialLR(gamma = 0)` stepped per epoch, so the
    /// learning rate is 0 from the second epoch on and only epoch 1 trains (paper-notes).
    Paper,
    /// The learning rate held for every epoch, so all epochs train.
    Fixed,
}

impl Protocol {
    /// The learning rate of (zero-based) `epoch`.
    pub fn learning_rate(self, base: f64, epoch: usize) -> f64 {
        match (self, epoch) {
            (Protocol::Paper, 0) | (Protocol::Fixed, _) => base,
            (Protocol::Paper, _) => 0.0,
        }
    }
}

/// Which framework trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// libtorch through tch (build with `--features tch`).
    Tch,
    /// candle, pure Rust.
    Candle,
}

impl BackendKind {
    /// The default of `reproduce --backend`: tch in a build with the `tch` feature (the
    /// paper's tables were run on it), else candle, which every build has, so that a
    /// default build runs without flags.
    pub const fn for_this_build() -> Self {
        if cfg!(feature = "tch") {
            Self::Tch
        } else {
            Self::Candle
        }
    }
}

/// A training run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainOptions {
    /// The dataset.
    pub dataset: DatasetKind,
    /// Where the dataset is (`None`: the dataset's own lookup).
    pub data_dir: Option<PathBuf>,
    /// The quantizer.
    pub quantizer: QuantizerKind,
    /// Its codebook size (`--levels`, `--codebook-size`; absent in older runs' options, and
    /// not written when neither is given, so their `options.json` reads back unchanged).
    #[serde(default, skip_serializing_if = "CodebookChoice::is_default")]
    pub codebook: CodebookChoice,
    /// The framework.
    pub backend: BackendKind,
    /// The device.
    pub device: Device,
    /// Epochs (the paper: 5).
    pub epochs: usize,
    /// Images per batch (the paper: 64, FFHQ 32).
    pub batch_size: usize,
    /// Adam's learning rate (the paper: 1e-3).
    pub lr: f64,
    /// Seed of the initialisation, the shuffling and the flips.
    pub seed: u64,
    /// The schedule.
    pub protocol: Protocol,
    /// Stop each epoch after this many steps (smoke tests, the quickstart).
    pub max_steps_per_epoch: Option<usize>,
    /// Evaluate on at most this many test images (`None`: all).
    pub max_eval_images: Option<usize>,
    /// Save a resumable checkpoint every this many steps (and at every epoch's end).
    pub checkpoint_every: usize,
    /// Intra-op threads of the framework (`None`: its default).
    pub threads: Option<usize>,
    /// Count unique codes over the training split after training, in eval mode and in
    /// training mode as the paper did (one extra pass each over the training split).
    pub count_train_codes: bool,
    /// Where everything goes.
    pub out_dir: PathBuf,
    /// Show progress bars.
    pub progress: bool,
}

impl TrainOptions {
    /// Check what the loop cannot work with.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a batch size of 0, a learning rate that is negative or
    /// not finite, 0 threads, 0 evaluation images or 0 steps per epoch.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |what: &str, problem: String| crate::Error::Invalid {
            what: what.into(),
            problem,
        };
        if self.batch_size == 0 {
            return Err(invalid("batch size", "must be at least 1".into()));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(invalid(
                "learning rate",
                format!("{}: must be finite and >= 0", self.lr),
            ));
        }
        if self.threads == Some(0) {
            return Err(invalid("threads", "must be at least 1".into()));
        }
        if self.max_eval_images == Some(0) {
            return Err(invalid(
                "max eval images",
                "must be at least 1: an evaluation of no images has no error".into(),
            ));
        }
        if self.max_steps_per_epoch == Some(0) {
            return Err(invalid("max steps per epoch", "must be at least 1".into()));
        }
        Ok(())
    }
}
