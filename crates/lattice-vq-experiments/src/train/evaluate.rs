//! Eval-mode passes over a dataset: reconstruction error and codebook usage.

use std::sync::Arc;
use std::time::Instant;

use lattice_vq_core::{HyperLogLog, UniqueCodes};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::{Backend, CodeKind, CodeRows};
use crate::data::{Batch, BatchOptions, Batches, Dataset};
use crate::error::Result;

/// What an evaluation measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Latent vectors quantized.
    pub vectors: u64,
    /// Per-pixel mean squared reconstruction error.
    pub mse: f64,
    /// Distinct codes used (lattice code vectors or codeword indices), exact.
    pub unique_codes: usize,
    /// Perplexity of the code distribution, `exp(entropy)`.
    pub perplexity: f64,
    /// HyperLogLog estimate of the distinct codes, when a sketch was asked for.
    pub unique_codes_sketch: Option<f64>,
    /// The fraction of latent scalars outside a finite codebook's box (their digit was
    /// clamped), for the quantizers that have a boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overload_rate: Option<f64>,
    /// The size of the vocabulary built for `evaluate --vocabulary-from`, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocabulary_size: Option<u64>,
    /// The fraction of the evaluated latents whose code is outside that vocabulary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_vocabulary_rate: Option<f64>,
    /// The per-pixel MSE of the reconstructions decoded from a file of tokens
    /// (`evaluate --from-tokens`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_mse: Option<f64>,
    /// The network evaluated, in words, when `evaluate` chose it from a checkpoint (a
    /// training run's is its dataset's, in `options`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Where `evaluate`'s images came from, and which they were when a folder had no split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Evaluate `backend` on `dataset` in eval mode, in order, `batch_size` images at a time
/// (at most `max_images`). `on_batch` sees each batch, its codes and its reconstructions
/// (for picture grids and token files); `sketch`, when given, also sees every code; `progress` is told after each batch.
///
/// # Errors
/// Loading or framework failures; [`crate::Error::Invalid`] when there is no image to
/// evaluate.
pub fn evaluate(
    backend: &mut dyn Backend,
    dataset: Arc<dyn Dataset>,
    batch_size: usize,
    max_images: Option<usize>,
    mut sketch: Option<&mut HyperLogLog>,
    mut on_batch: impl FnMut(&Batch, &CodeRows, &[f32]),
    progress: &indicatif::ProgressBar,
) -> Result<EvalReport> {
    let start = Instant::now();
    let mut options = BatchOptions::sequential(batch_size);
    let images = max_images.map_or(dataset.len(), |m| m.min(dataset.len()));
    options.max_batches = Some(images.div_ceil(batch_size));
    let mut codes: Option<UniqueCodes> = None;
    let (mut sse, mut pixels, mut seen) = (0.0, 0usize, 0usize);
    let (mut overloaded, mut scalars) = (0u64, 0u64);
    for batch in Batches::new(dataset, &options) {
        let mut batch = batch?;
        if seen + batch.len > images {
            batch.len = images - seen;
            batch.images.truncate(batch.len * batch.shape.len());
        }
        let (batch_sse, rows, reconstruction) = backend.evaluate(&batch, true)?;
        if let Some((outside, counted)) = backend.overload(&batch)? {
            overloaded += outside;
            scalars += counted;
        }
        sse += batch_sse;
        pixels += batch.images.len();
        seen += batch.len;
        rows.count_into(&mut codes)?;
        if let Some(sketch) = sketch.as_deref_mut()
            && rows.dim > 0
        {
            let view = ArrayView2::from_shape((rows.data.len() / rows.dim, rows.dim), &rows.data)
                .expect("whole rows");
            sketch.insert_rows(view);
        }
        if let Some(r) = reconstruction {
            on_batch(&batch, &rows, &r);
        }
        progress.inc(batch.len as u64);
    }
    if seen == 0 {
        return Err(crate::Error::Invalid {
            what: "evaluation".into(),
            problem: "no images to evaluate (an empty split, or at most 0 images asked for): \
                      an error over no images is undefined"
                .into(),
        });
    }
    let codes = codes.unwrap_or_else(|| UniqueCodes::new(1));
    Ok(EvalReport {
        images: seen,
        vectors: codes.total(),
        mse: sse / pixels.max(1) as f64,
        unique_codes: codes.len(),
        perplexity: codes.perplexity(),
        unique_codes_sketch: sketch.map(|s| s.estimate()),
        overload_rate: (scalars > 0).then(|| overloaded as f64 / scalars as f64),
        vocabulary_size: None,
        out_of_vocabulary_rate: None,
        tokens_mse: None,
        model: None,
        data_source: None,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Count the distinct codes (`kind`) the quantizer gives over `dataset`, encoder and
/// quantizer only, in training mode when `train` (a VQ-EMA codebook then moves at every
/// batch, as when the paper counted).
///
/// # Errors
/// Loading or framework failures.
pub fn count_codes(
    backend: &mut dyn Backend,
    dataset: Arc<dyn Dataset>,
    batch_size: usize,
    train: bool,
    kind: CodeKind,
    progress: &indicatif::ProgressBar,
) -> Result<usize> {
    let mut codes: Option<UniqueCodes> = None;
    for batch in Batches::new(dataset, &BatchOptions::sequential(batch_size)) {
        let batch = batch?;
        backend
            .quantize(&batch, train, kind)?
            .count_into(&mut codes)?;
        progress.inc(batch.len as u64);
    }
    Ok(codes.map_or(0, |c| c.len()))
}
