//! Evaluating a saved model (ours or an official checkpoint) on a dataset split.

use std::path::{Path, PathBuf};

use lattice_vq_core::HyperLogLog;

use super::evaluate::{EvalReport, evaluate};
use super::progress_bar::progress_bar;
use super::run::make_backend;
use super::{BackendKind, DatasetKind, Device, Protocol, QuantizerKind, TrainOptions};
use crate::error::{Error, Result};

/// Which images to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    /// The test set.
    Test,
    /// The training split (55k of Fashion-MNIST's 60k).
    Train,
    /// The held-out validation split.
    Validation,
}

/// What to evaluate, and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// A safetensors file with the model's variables (official names).
    pub checkpoint: PathBuf,
    /// The quantizer; `None` infers it from the file's tensors.
    pub quantizer: Option<QuantizerKind>,
    /// The dataset.
    pub dataset: DatasetKind,
    /// Where the dataset is.
    pub data_dir: Option<PathBuf>,
    /// Which split.
    pub split: EvalSplit,
    /// The framework.
    pub backend: BackendKind,
    /// The device.
    pub device: Device,
    /// Images per batch (results do not depend on it).
    pub batch_size: usize,
    /// At most this many images.
    pub max_images: Option<usize>,
    /// Also estimate the distinct codes with a HyperLogLog of this precision.
    pub sketch_precision: Option<u8>,
    /// Intra-op threads of libtorch.
    pub threads: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
}

/// The quantizer a checkpoint holds, from its tensor names and shapes: VQ-EMA (an `ema_w`),
/// VQ (a `K x D` codebook) or the sparse lattice (a `(1, D)` basis; sparse and dense
/// lattices evaluate alike).
///
/// # Errors
/// [`Error::Safetensors`] for an unreadable file, [`Error::Format`] for one without a
/// quantizer.
pub fn infer_quantizer(checkpoint: &Path) -> Result<QuantizerKind> {
    let tensors =
        candle_core::safetensors::load(checkpoint, &candle_core::Device::Cpu).map_err(|e| {
            Error::Safetensors {
                path: checkpoint.to_path_buf(),
                source: Box::new(e),
            }
        })?;
    if tensors.contains_key("_quantizer.ema_w") {
        return Ok(QuantizerKind::VqEma);
    }
    match tensors
        .get("_quantizer.embedding.weight")
        .map(|t| t.dims().to_vec())
    {
        Some(dims) if dims.first() == Some(&1) => Ok(QuantizerKind::Lattice),
        Some(_) => Ok(QuantizerKind::Vq),
        None => Err(Error::Format {
            path: checkpoint.to_path_buf(),
            problem: "no _quantizer.embedding.weight: not a VQ-VAE checkpoint".into(),
        }),
    }
}

/// Load the checkpoint and evaluate it in eval mode on the split.
///
/// # Errors
/// A missing dataset, a checkpoint of another model, framework failures.
pub fn evaluate_checkpoint(options: &EvalOptions) -> Result<EvalReport> {
    if options.batch_size == 0 {
        return Err(Error::Invalid {
            what: "batch size".into(),
            problem: "must be at least 1".into(),
        });
    }
    let quantizer = match options.quantizer {
        Some(q) => q,
        None => infer_quantizer(&options.checkpoint)?,
    };
    let splits = super::datasets::open(options.dataset, options.data_dir.as_deref())?;
    let dataset = match options.split {
        EvalSplit::Test => splits.test,
        EvalSplit::Train => splits.train,
        EvalSplit::Validation => splits.validation,
    };
    let train_options = TrainOptions {
        dataset: options.dataset,
        data_dir: options.data_dir.clone(),
        quantizer,
        backend: options.backend,
        device: options.device,
        epochs: 0,
        batch_size: options.batch_size,
        lr: 0.0,
        seed: 0,
        protocol: Protocol::Fixed,
        max_steps_per_epoch: None,
        max_eval_images: options.max_images,
        checkpoint_every: 0,
        threads: options.threads,
        count_train_codes: false,
        out_dir: PathBuf::new(),
        progress: options.progress,
    };
    let mut backend = make_backend(&train_options)?;
    backend.load(&options.checkpoint, None)?;
    let mut sketch = options.sketch_precision.map(HyperLogLog::new).transpose()?;
    let images = options
        .max_images
        .map_or(dataset.len(), |m| m.min(dataset.len()));
    let bar = progress_bar(options.progress, images as u64, "evaluate".into());
    let report = evaluate(
        backend.as_mut(),
        dataset,
        options.batch_size,
        options.max_images,
        sketch.as_mut(),
        |_, _| {},
        &bar,
    )?;
    bar.finish_and_clear();
    Ok(report)
}
