//! The training loop: the paper's protocol (or the fixed one), checkpoints, resumption,
//! metrics and the final evaluation.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use lattice_core::{BasisInit, LatticeQuantizerConfig, QuantizerConfig, UniqueCodes, VqVaeConfig};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, LoopState};
use super::datasets::Splits;
use super::evaluate::{EvalReport, count_codes, evaluate};
use super::metrics::{EpochRecord, MetricsLog, StepRecord};
use super::{Backend, BackendKind, CodeKind, StepStats, TrainOptions};
use crate::data::{BatchOptions, Batches};
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

/// The model and quantizer configs for a run's options.
///
/// # Errors
/// [`Error::Invalid`] for an unknown dataset or quantizer.
pub fn model_configs(options: &TrainOptions) -> Result<(VqVaeConfig, QuantizerConfig)> {
    let model_name = match options.dataset.as_str() {
        "synthetic" | "fashion-mnist" => "fashion-mnist",
        // Any RGB folder gets CelebA's model: one downsampling stage, 3 channels.
        "folder" => "celeba",
        other => other,
    };
    let model = VqVaeConfig::for_dataset(model_name).ok_or_else(|| Error::Invalid {
        what: "dataset".into(),
        problem: format!("no model config for {model_name:?}"),
    })?;
    let unit_init = || {
        QuantizerConfig::Lattice(
            LatticeQuantizerConfig::new(512, model.embedding_dim)
                .with_init(BasisInit::Symmetric(1.0)),
        )
    };
    let quantizer = match options.quantizer.as_str() {
        // Table 3's first row: the sparse size loss from the dense variant's U(-1, 1) init.
        "lattice-unit-init" => Some(unit_init()),
        name => QuantizerConfig::by_name(name, model.embedding_dim),
    }
    .ok_or_else(|| Error::Invalid {
        what: "quantizer".into(),
        problem: format!(
            "{:?} is not one of lattice, dense-lattice, lattice-unit-init, vq, vq-ema",
            options.quantizer
        ),
    })?;
    Ok((model, quantizer))
}

/// A freshly initialised backend for `options`, its weights drawn from `options.seed`.
///
/// # Errors
/// An unknown device, tch asked for without the `tch` feature, framework failures.
pub fn make_backend(options: &TrainOptions) -> Result<Box<dyn Backend>> {
    let (model, quantizer) = model_configs(options)?;
    // Both frameworks allocate and free each step's activations: keep them for the next step.
    crate::heap::retain_freed_memory();
    match options.backend {
        BackendKind::Candle => {
            let device = super::candle_backend::device(&options.device)?;
            Ok(Box::new(super::candle_backend::CandleBackend::new(
                &model,
                &quantizer,
                device,
                options.seed,
            )?))
        }
        #[cfg(feature = "tch")]
        BackendKind::Tch => {
            if let Some(threads) = options.threads {
                tch::set_num_threads(threads as i32);
            }
            let device = super::tch_backend::device(&options.device)?;
            Ok(Box::new(super::tch_backend::TchBackend::new(
                &model,
                &quantizer,
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

/// A progress bar with rate and ETA, or a hidden one.
pub fn progress_bar(visible: bool, len: u64, message: String) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>22} [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar
}

fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ ((epoch as u64 + 1) << 32)
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
    checkpoint::write_json(&out.join("options.json"), options)?;
    let mut state = match checkpoint::latest(out)? {
        Some(files) => {
            backend.load(&files.model(), Some(&files.optimizer()))?;
            let state: LoopState = checkpoint::read_json(&files.state())?;
            eprintln!(
                "resuming from {} ({} of {} epochs done, {} batches into the next; step {})",
                files.dir.display(),
                state.epoch,
                options.epochs,
                state.batch_in_epoch,
                state.global_step
            );
            state
        }
        None => LoopState::default(),
    };
    let mut log = MetricsLog::open(&out.join("metrics.jsonl"), state.metrics_bytes)?;
    let started = Instant::now();
    let elapsed_before = state.elapsed_seconds;
    let elapsed = move || elapsed_before + started.elapsed().as_secs_f64();

    while state.epoch < options.epochs {
        let epoch = state.epoch;
        let lr = options.protocol.learning_rate(options.lr, epoch);
        let epoch_started = Instant::now();
        let mut batch_options =
            BatchOptions::training(options.batch_size, epoch_seed(options.seed, epoch));
        batch_options.skip_batches = state.batch_in_epoch;
        let total = batch_options
            .batches_in(splits.train.len())
            .min(options.max_steps_per_epoch.unwrap_or(usize::MAX));
        batch_options.max_batches = Some(total.saturating_sub(state.batch_in_epoch));
        let mode = match (lr == 0.0, backend.has_ema_state()) {
            (false, _) => "trained",
            (true, true) => "ema-only",
            (true, false) => "skipped",
        };
        let bar = progress_bar(
            options.progress && mode != "skipped",
            total as u64,
            format!("epoch {}/{} {mode}", epoch + 1, options.epochs),
        );
        bar.set_position(state.batch_in_epoch as u64);
        let (mut sum, mut steps, mut batches) = (StepStats::default(), 0usize, 0usize);
        let mut codes: Option<UniqueCodes> = None;
        if mode != "skipped" {
            for batch in Batches::new(splits.train.clone(), &batch_options) {
                let batch = batch?;
                if mode == "ema-only" {
                    backend
                        .quantize(&batch, true, CodeKind::Codes)?
                        .count_into(&mut codes)?;
                } else {
                    let (stats, rows) = backend.train_step(&batch, lr, CodeKind::Codes)?;
                    rows.count_into(&mut codes)?;
                    add(&mut sum, &stats);
                    steps += 1;
                    state.global_step += 1;
                    log.write(&StepRecord {
                        kind: "step",
                        step: state.global_step,
                        epoch,
                        lr,
                        stats,
                        seconds: elapsed(),
                    })?;
                }
                batches += 1;
                state.batch_in_epoch += 1;
                bar.inc(1);
                let due = options.checkpoint_every > 0
                    && mode == "trained"
                    && state.global_step % options.checkpoint_every as u64 == 0
                    && state.batch_in_epoch < total;
                if due {
                    state.elapsed_seconds = elapsed();
                    state.metrics_bytes = log.bytes_written()?;
                    checkpoint::save(out, &state, |files| {
                        backend.save(&files.model(), Some(&files.optimizer()))
                    })?;
                }
            }
        }
        bar.finish_and_clear();
        let validation_mse = match (mode, state.epochs.last()) {
            ("skipped", Some(previous)) => previous.validation_mse,
            _ => {
                let bar = progress_bar(
                    options.progress,
                    splits.validation.len() as u64,
                    "validation".into(),
                );
                let report = evaluate(
                    backend,
                    splits.validation.clone(),
                    eval_batch_size(options, splits),
                    options.max_eval_images,
                    None,
                    |_, _| {},
                    &bar,
                )?;
                bar.finish_and_clear();
                Some(report.mse)
            }
        };
        let record = EpochRecord {
            kind: "epoch".into(),
            epoch,
            lr,
            steps,
            batches,
            mean: scale(&sum, steps),
            train_unique_codes: codes.map_or(0, |c| c.len()),
            validation_mse,
            mode: mode.into(),
            seconds: epoch_started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {}/{}: {mode}, lr {lr}, {steps} steps, train recon {}, validation mse {}, {} codes, {:.1} s",
            epoch + 1,
            options.epochs,
            if steps == 0 {
                "-".into()
            } else {
                format!("{:.6}", record.mean.reconstruction)
            },
            validation_mse.map_or("-".into(), |m| format!("{m:.6}")),
            record.train_unique_codes,
            record.seconds,
        );
        log.write(&record)?;
        state.epochs.push(record);
        state.epoch += 1;
        state.batch_in_epoch = 0;
        state.elapsed_seconds = elapsed();
        state.metrics_bytes = log.bytes_written()?;
        checkpoint::save(out, &state, |files| {
            backend.save(&files.model(), Some(&files.optimizer()))
        })?;
    }
    let train_seconds = state.elapsed_seconds;
    let model = out.join("model.safetensors");
    backend.save(&model, None)?;

    let bar = progress_bar(options.progress, splits.test.len() as u64, "test".into());
    let mut pictures: Option<(Vec<f32>, Vec<f32>, crate::data::ImageShape)> = None;
    let test = evaluate(
        backend,
        splits.test.clone(),
        eval_batch_size(options, splits),
        options.max_eval_images,
        None,
        |batch, reconstruction| {
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
            &out.join("reconstructions.png"),
            &inputs,
            &reconstructions,
            shape,
            count,
            value_range(&options.dataset),
        )?;
    }
    write_plots(out, &state.epochs)?;
    let (mut train_codes_eval, mut train_vectors_paper) = (None, None);
    if options.count_train_codes {
        let len = splits.train.len() as u64;
        let bar = progress_bar(options.progress, len, "train codes (eval)".into());
        train_codes_eval = Some(count_codes(
            backend,
            splits.train.clone(),
            options.batch_size,
            false,
            CodeKind::Codes,
            &bar,
        )?);
        bar.finish_and_clear();
        // Last: in training mode this moves a VQ-EMA codebook (the saved model is not).
        let bar = progress_bar(options.progress, len, "train vectors (paper)".into());
        train_vectors_paper = Some(count_codes(
            backend,
            splits.train.clone(),
            options.batch_size,
            true,
            CodeKind::Vectors,
            &bar,
        )?);
        bar.finish_and_clear();
    }
    let result = RunResult {
        options: options.clone(),
        data_source: splits.source.clone(),
        epochs: state.epochs,
        test,
        train_unique_codes_eval: train_codes_eval,
        train_unique_vectors_paper: train_vectors_paper,
        train_seconds,
        model,
    };
    checkpoint::write_json(&out.join("result.json"), &result)?;
    Ok(result)
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

/// Evaluation batches: larger than training's for small images (fewer, fuller batches; the
/// results do not depend on it), the training size for large ones (FFHQ's 1024x1024 images
/// would not fit a GPU 256 at a time).
fn eval_batch_size(options: &TrainOptions, splits: &Splits) -> usize {
    if splits.test.shape().len() <= 64 * 64 {
        options.batch_size.max(256)
    } else {
        options.batch_size
    }
}

/// Test images shown in `reconstructions.png`.
const PICTURES: usize = 8;

/// The range image values live in: Fashion-MNIST's `x / 255 - 0.5`, else `[0, 1]`.
fn value_range(dataset: &str) -> (f32, f32) {
    match dataset {
        "fashion-mnist" | "synthetic" => (-0.5, 0.5),
        _ => (0.0, 1.0),
    }
}

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
        .filter(|e| e.mode != "skipped")
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

fn add(sum: &mut StepStats, x: &StepStats) {
    sum.loss += x.loss;
    sum.reconstruction += x.reconstruction;
    sum.embedding += x.embedding;
    sum.commitment += x.commitment;
    sum.size += x.size;
}

fn scale(sum: &StepStats, n: usize) -> StepStats {
    let k = if n == 0 { 0.0 } else { 1.0 / n as f64 };
    StepStats {
        loss: sum.loss * k,
        reconstruction: sum.reconstruction * k,
        embedding: sum.embedding * k,
        commitment: sum.commitment * k,
        size: sum.size * k,
    }
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
    let splits = super::datasets::open(&options.dataset, options.data_dir.as_deref())?;
    let mut backend = make_backend(options)?;
    train(options, &splits, backend.as_mut())
}
