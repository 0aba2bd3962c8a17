//! The training loop: the paper's protocol (or the fixed one), checkpoints, resumption,
//! metrics and the final evaluation.

use std::path::PathBuf;

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, LoopState};
use super::datasets::Splits;
use super::epoch::{Clock, Progress, run_epoch};
use super::evaluate::{EvalReport, count_codes, evaluate};
use super::metrics::{EpochMode, EpochRecord, MetricsLog};
use super::progress_bar::progress_bar;
use super::{Backend, BackendKind, CodeKind, TrainOptions};
use crate::error::{Error, Result};

/// What a finished run wrote to `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// The options it ran with.
    pub options: TrainOptions,
    /// Where the images came from.
    pub data_source: String,
    /// The epochs.
    pub epochs: Vec<EpochRecord>,
    /// Eval-mode evaluation of the test split.
    pub test: EvalReport,
    /// Distinct codes over the training split in eval mode (when counted).
    pub train_unique_codes_eval: Option<usize>,
    /// Distinct quantized vectors over the training split in training mode, as the paper
    /// counted them (when counted; for VQ-EMA the codebook moves at every batch).
    pub train_unique_vectors_paper: Option<usize>,
    /// Seconds in the training loop (all epochs, resumptions summed).
    pub train_seconds: f64,
    /// The final model's weights.
    pub model: PathBuf,
}

/// The model and quantizer configs for a run's options ([`super::DatasetKind::model`],
/// [`super::QuantizerKind::config`]).
///
/// # Errors
/// A codebook choice the quantizer does not take ([`super::QuantizerKind::config`]), or an
/// invalid one (levels, K).
pub fn model_configs(options: &TrainOptions) -> Result<(VqVaeConfig, QuantizerConfig)> {
    // A run's network is its dataset's: a resumed run keeps it, since resuming checks that
    // the dataset is the stored run's (`resume_options::check`).
    model_configs_for(options, options.dataset.model())
}

/// The quantizer config of `options` on `model`'s latents, with `model`: [`model_configs`]
/// for another network than the dataset's (`evaluate` takes a checkpoint's).
///
/// # Errors
/// As [`model_configs`].
pub fn model_configs_for(
    options: &TrainOptions,
    model: VqVaeConfig,
) -> Result<(VqVaeConfig, QuantizerConfig)> {
    let quantizer = options
        .quantizer
        .config(model.embedding_dim, options.codebook)?;
    quantizer.validate()?;
    model.validate_with(&quantizer)?;
    Ok((model, quantizer))
}

/// A freshly initialised backend for `options`, its weights drawn from `options.seed`.
///
/// # Errors
/// An unknown device, tch asked for without the `tch` feature, framework failures.
pub fn make_backend(options: &TrainOptions) -> Result<Box<dyn Backend>> {
    let (model, quantizer) = model_configs(options)?;
    make_backend_for(options, &model, &quantizer)
}

/// A freshly initialised backend of `model` with `quantizer`, on `options`' framework and
/// device, its weights drawn from `options.seed`.
///
/// # Errors
/// As [`make_backend`].
pub fn make_backend_for(
    options: &TrainOptions,
    model: &VqVaeConfig,
    quantizer: &QuantizerConfig,
) -> Result<Box<dyn Backend>> {
    // Both frameworks allocate and free each step's activations: keep them for the next step.
    crate::heap::retain_freed_memory();
    match options.backend {
        BackendKind::Candle => {
            let device = super::candle_backend::device(options.device)?;
            Ok(Box::new(super::candle_backend::CandleBackend::new(
                model,
                quantizer,
                device,
                options.seed,
            )?))
        }
        #[cfg(feature = "tch")]
        BackendKind::Tch => {
            if let Some(threads) = options.threads {
                tch::set_num_threads(threads as i32);
            }
            let device = super::tch_backend::device(options.device)?;
            Ok(Box::new(super::tch_backend::TchBackend::new(
                model,
                quantizer,
                device,
                options.seed,
            )?))
        }
        #[cfg(not(feature = "tch"))]
        BackendKind::Tch => Err(Error::Invalid {
            what: "backend".into(),
            problem: "tch needs the `tch` feature: `. scripts/torch-env` and build with \
                      `--features tch`"
                .into(),
        }),
    }
}

/// Train as `options` say, resuming from the newest checkpoint in `options.out_dir` when
/// there is one, then evaluate; writes `metrics.jsonl`, `checkpoints/`, `model.safetensors`
/// and `result.json` there (all atomically but the append-only metrics).
///
/// # Errors
/// Loading, framework and file-system failures; a checkpoint of another model.
pub fn train(
    options: &TrainOptions,
    splits: &Splits,
    backend: &mut dyn Backend,
) -> Result<RunResult> {
    options.validate()?;
    let out = &options.out_dir;
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.clone(),
        source,
    })?;
    if let Some(done) = finished(options)? {
        eprintln!("{} already holds this run's result", out.display());
        return Ok(done);
    }
    check_not_empty(splits)?;
    checkpoint::remove_stale_temporaries(out)?;
    super::resume_options::check(options)?;
    checkpoint::write_json(&out.join("options.json"), options)?;
    let (mut state, mut codes) = resume(out, options.epochs, backend)?;
    let mut log = MetricsLog::open(&out.join("metrics.jsonl"), state.metrics_bytes)?;
    let clock = Clock::resuming_after(state.elapsed_seconds);
    while state.epoch < options.epochs {
        let mut progress = Progress {
            state: &mut state,
            codes: &mut codes,
            log: &mut log,
            clock,
        };
        run_epoch(options, splits, backend, &mut progress)?;
    }
    let train_seconds = state.elapsed_seconds;
    let model = out.join("model.safetensors");
    backend.save(&model, None)?;
    let test = test_and_pictures(options, splits, backend)?;
    write_plots(out, &state.epochs)?;
    let (train_unique_codes_eval, train_unique_vectors_paper) = if options.count_train_codes {
        let (codes, vectors) = count_train_codes(options, splits, backend)?;
        (Some(codes), Some(vectors))
    } else {
        (None, None)
    };
    let result = RunResult {
        options: options.clone(),
        data_source: splits.source.clone(),
        epochs: state.epochs,
        test,
        train_unique_codes_eval,
        train_unique_vectors_paper,
        train_seconds,
        model,
    };
    checkpoint::write_json(&out.join("result.json"), &result)?;
    Ok(result)
}

/// The loop state and epoch codes of the newest checkpoint in `out` that loads (its weights
/// and optimizer loaded into `backend`), or a fresh state when there is no checkpoint. A
/// checkpoint that is damaged or incomplete (one a user edited, an empty folder) is skipped
/// with a warning for the next older one.
///
/// # Errors
/// [`Error::NoResumableCheckpoint`] when checkpoints exist but none loads, with each one's
/// error;
/// [`Error::Invalid`] when the newest has done more epochs than `epochs`.
fn resume(
    out: &std::path::Path,
    epochs: usize,
    backend: &mut dyn Backend,
) -> Result<(LoopState, Option<lattice_vq_core::UniqueCodes>)> {
    let candidates = checkpoint::candidates(out)?;
    let mut skipped = Vec::new();
    for files in &candidates {
        let loaded = checkpoint::read_state(files).and_then(|(state, codes)| {
            state.check(&files.state(), epochs)?;
            backend.load(&files.model(), Some(&files.optimizer()))?;
            Ok((state, codes))
        });
        match loaded {
            Ok((state, codes)) => {
                eprintln!(
                    "resuming from {} ({} of {epochs} epochs done, {} batches into the next; step {})",
                    files.dir.display(),
                    state.epoch,
                    state.batch_in_epoch,
                    state.global_step
                );
                return Ok((state, codes));
            }
            Err(e @ Error::Invalid { .. }) => return Err(e),
            Err(e) => {
                eprintln!("skipping checkpoint {}: {e}", files.dir.display());
                skipped.push((files.dir.clone(), e));
            }
        }
    }
    if skipped.is_empty() {
        Ok((LoopState::default(), None))
    } else {
        Err(Error::NoResumableCheckpoint {
            dir: out.join("checkpoints"),
            skipped,
        })
    }
}

/// Refuse splits with no images before training on them: an empty evaluation would report
/// an error of 0.
fn check_not_empty(splits: &Splits) -> Result<()> {
    for (name, split) in [
        ("training", &splits.train),
        ("validation", &splits.validation),
        ("test", &splits.test),
    ] {
        if split.is_empty() {
            return Err(Error::Invalid {
                what: format!("{name} split"),
                problem: format!("{} holds no {name} images", splits.source),
            });
        }
    }
    Ok(())
}

/// Eval-mode evaluation of the test split; writes `reconstructions.png` from its first batch.
fn test_and_pictures(
    options: &TrainOptions,
    splits: &Splits,
    backend: &mut dyn Backend,
) -> Result<EvalReport> {
    let bar = progress_bar(options.progress, splits.test.len() as u64, "test".into());
    let mut pictures: Option<(Vec<f32>, Vec<f32>, crate::data::ImageShape)> = None;
    let test = evaluate(
        backend,
        splits.test.clone(),
        splits.eval_batch_size(options.batch_size),
        options.max_eval_images,
        None,
        |batch, _, reconstruction| {
            if pictures.is_none() {
                let n = batch.len.min(PICTURES) * batch.shape.len();
                pictures = Some((
                    batch.images[..n].to_vec(),
                    reconstruction[..n].to_vec(),
                    batch.shape,
                ));
            }
        },
        &bar,
    )?;
    bar.finish_and_clear();
    if let Some((inputs, reconstructions, shape)) = pictures {
        let count = inputs.len() / shape.len();
        crate::png::write_comparison(
            &options.out_dir.join("reconstructions.png"),
            &inputs,
            &reconstructions,
            shape,
            count,
            options.dataset.value_range(),
        )?;
    }
    Ok(test)
}

/// Distinct codes over the training split in eval mode, then distinct quantized vectors in
/// training mode as the paper counted them.
fn count_train_codes(
    options: &TrainOptions,
    splits: &Splits,
    backend: &mut dyn Backend,
) -> Result<(usize, usize)> {
    let len = splits.train.len() as u64;
    let bar = progress_bar(options.progress, len, "train codes (eval)".into());
    let codes = count_codes(
        backend,
        splits.train.clone(),
        options.batch_size,
        false,
        CodeKind::Codes,
        &bar,
    )?;
    bar.finish_and_clear();
    // Last: in training mode this moves a VQ-EMA codebook (the saved model is not).
    let bar = progress_bar(options.progress, len, "train vectors (paper)".into());
    let vectors = count_codes(
        backend,
        splits.train.clone(),
        options.batch_size,
        true,
        CodeKind::Vectors,
        &bar,
    )?;
    bar.finish_and_clear();
    Ok((codes, vectors))
}

/// The result of an earlier run in `options.out_dir` with the same options (output folder
/// and progress display aside), if there is one.
///
/// # Errors
/// A `result.json` that exists but cannot be read.
pub fn finished(options: &TrainOptions) -> Result<Option<RunResult>> {
    let path = options.out_dir.join("result.json");
    if !path.is_file() {
        return Ok(None);
    }
    let result: RunResult = checkpoint::read_json(&path)?;
    let comparable = |o: &TrainOptions| TrainOptions {
        out_dir: PathBuf::new(),
        progress: false,
        ..o.clone()
    };
    Ok((comparable(&result.options) == comparable(options)).then_some(result))
}

/// Test images shown in `reconstructions.png`.
const PICTURES: usize = 8;

/// `loss.png` (reconstruction MSE and total loss per step, from `metrics.jsonl`) and
/// `codebook_usage.png` (distinct codes per epoch).
fn write_plots(out: &std::path::Path, epochs: &[EpochRecord]) -> Result<()> {
    let path = out.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let steps: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "step")
        .collect();
    let series = |key: &str| -> Vec<(f64, f64)> {
        steps
            .iter()
            .filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?)))
            .collect()
    };
    let reconstruction = series("reconstruction");
    if !reconstruction.is_empty() {
        crate::png::write_line_plot(
            &out.join("loss.png"),
            "training loss per step",
            &[("reconstruction mse", &reconstruction)],
            true,
        )?;
    }
    let usage: Vec<(f64, f64)> = epochs
        .iter()
        .filter(|e| e.mode != EpochMode::Skipped)
        .map(|e| (e.epoch as f64 + 1.0, e.train_unique_codes as f64))
        .collect();
    if !usage.is_empty() {
        crate::png::write_line_plot(
            &out.join("codebook_usage.png"),
            "distinct codes per epoch",
            &[("codes in training batches", &usage)],
            false,
        )?;
    }
    Ok(())
}

/// Open the dataset, build the backend and [`train`]: what the `train` example runs.
///
/// # Errors
/// As [`super::datasets::open`], [`make_backend`] and [`train`].
pub fn run(options: &TrainOptions) -> Result<RunResult> {
    options.validate()?;
    if let Some(done) = finished(options)? {
        eprintln!(
            "{} already holds this run's result",
            options.out_dir.display()
        );
        return Ok(done);
    }
    let splits = super::datasets::open(options.dataset, options.data_dir.as_deref())?;
    let mut backend = make_backend(options)?;
    train(options, &splits, backend.as_mut())
}
