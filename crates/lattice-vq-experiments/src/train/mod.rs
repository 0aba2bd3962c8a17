//! The paper's training protocol and evaluation, on any backend.
//!
//! [`Backend`] is the small surface the loop needs from a framework (one training step,
//! a quantizer-only pass, an evaluation pass, checkpoints); [`candle_backend`] and, with
//! the `tch` feature, [`tch_backend`] implement it with the adapters' `VqVae`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::Batch;
use crate::error::Result;

pub mod adam;
mod adam_state;
pub mod candle_backend;
pub mod checkpoint;
pub mod checkpoint_eval;
pub mod codebook_choice;
pub mod counting;
pub mod datasets;
pub mod device;
mod epoch;
pub mod epoch_codes;
pub mod eval_splits;
pub mod evaluate;
pub mod finite_table;
pub mod kinds;
pub mod loop_state;
pub mod metrics;
mod model_spec;
pub mod network_choice;
pub mod optimizer_state;
pub mod options;
mod progress_bar;
pub mod resume_options;
pub mod run;
pub mod run_folder;
mod step_stats;
pub mod table_choice;
pub mod tables;
#[cfg(feature = "tch")]
pub mod tch_backend;
pub mod tokens;

pub use codebook_choice::CodebookChoice;
pub use counting::{CodeKind, CodeRows};
pub use device::Device;
pub use kinds::{DatasetKind, QuantizerKind};
pub use metrics::EpochMode;
pub use network_choice::ModelKind;
pub use options::{BackendKind, Protocol, TrainOptions};

/// What one training step measured (the values of the loss terms before the update).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct StepStats {
    /// Total loss: reconstruction + quantizer loss.
    pub loss: f64,
    /// Per-pixel reconstruction MSE.
    pub reconstruction: f64,
    /// Unweighted embedding loss `mean((e - sg z)^2)`.
    pub embedding: f64,
    /// Unweighted commitment loss `mean((sg e - z)^2)`.
    pub commitment: f64,
    /// Unweighted size loss `-||b||_1` (LL-VQ only).
    pub size: f64,
}

/// A VQ-VAE on some framework and device, with its optimizer state.
pub trait Backend {
    /// `tch` or `candle`.
    fn name(&self) -> &'static str;

    /// Forward in training mode, backward, one Adam step at learning rate `lr` (PyTorch's
    /// Adam, default betas, no weight decay). Returns the loss terms and the batch's codes
    /// as `kind` says.
    ///
    /// # Errors
    /// Bad batches (shape, NaN latents), framework failures.
    fn train_step(
        &mut self,
        batch: &Batch,
        lr: f64,
        kind: CodeKind,
    ) -> Result<(StepStats, CodeRows)>;

    /// Encoder and quantizer only, in training mode when `train` (a VQ-EMA codebook then
    /// moves, as in the paper's epochs with learning rate 0); no gradient, no update of
    /// trained weights. Returns the codes as `kind` says.
    ///
    /// # Errors
    /// As [`Backend::train_step`].
    fn quantize(&mut self, batch: &Batch, train: bool, kind: CodeKind) -> Result<CodeRows>;

    /// Eval-mode forward: the summed squared reconstruction error over the batch, its codes
    /// and (when `keep_reconstruction`) the reconstructions.
    ///
    /// # Errors
    /// As [`Backend::train_step`].
    fn evaluate(
        &mut self,
        batch: &Batch,
        keep_reconstruction: bool,
    ) -> Result<(f64, CodeRows, Option<Vec<f32>>)>;

    /// Write the model's variables (official tensor names) to `model`, and the optimizer's
    /// state to `optimizer` when given.
    ///
    /// # Errors
    /// Files that cannot be written.
    fn save(&self, model: &Path, optimizer: Option<&Path>) -> Result<()>;

    /// Load the model's variables (strictly: names and shapes must match), and the
    /// optimizer state when given.
    ///
    /// # Errors
    /// Missing, truncated or mismatched files.
    fn load(&mut self, model: &Path, optimizer: Option<&Path>) -> Result<()>;

    /// Whether the quantizer keeps state that moves in training mode without gradients
    /// (VQ-EMA).
    fn has_ema_state(&self) -> bool;

    /// The summed squared reconstruction error of the batch's images against the decoder's
    /// output for `tokens` (one token index per latent position, `(images, height, width)`
    /// row-major): how a file of `evaluate --tokens` is checked.
    ///
    /// # Errors
    /// Tokens of another count than the batch's latent positions, tokens outside the
    /// codebook, a quantizer without token indices, framework failures.
    fn decode_tokens(&mut self, batch: &Batch, tokens: &[i64]) -> Result<f64>;

    /// Eval-mode encoder and quantizer: the latent scalars outside a finite codebook's box
    /// and the scalars counted; `None` for quantizers without a boundary (no work done).
    ///
    /// # Errors
    /// As [`Backend::train_step`].
    fn overload(&mut self, batch: &Batch) -> Result<Option<(u64, u64)>> {
        let _ = batch;
        Ok(None)
    }
}
