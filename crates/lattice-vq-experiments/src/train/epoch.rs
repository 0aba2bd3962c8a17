//! One epoch of the training loop: its batches (training steps, or only VQ-EMA's codebook
//! updates at learning rate 0), step metrics, mid-epoch checkpoints, validation, the epoch's
//! record and its closing checkpoint.

use std::path::Path;
use std::time::Instant;

use lattice_vq_core::UniqueCodes;

use super::checkpoint::{self, EpochTally, LoopState};
use super::datasets::Splits;
use super::evaluate::evaluate;
use super::metrics::{EpochMode, EpochRecord, MetricsLog, StepRecord};
use super::progress_bar::progress_bar;
use super::{Backend, CodeKind, StepStats, TrainOptions};
use crate::data::{BatchOptions, Batches};
use crate::error::Result;

/// Training seconds across resumptions: those before this process, plus its own.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    before: f64,
    started: Instant,
}

impl Clock {
    pub(super) fn resuming_after(before: f64) -> Self {
        Self {
            before,
            started: Instant::now(),
        }
    }

    pub(super) fn seconds(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }
}

/// The loop's mutable parts: where it stands and where it writes.
pub(super) struct Progress<'a> {
    pub(super) state: &'a mut LoopState,
    /// The distinct codes of the epoch in progress (saved with each checkpoint, so a
    /// resumed epoch counts its earlier batches' codes too).
    pub(super) codes: &'a mut Option<UniqueCodes>,
    pub(super) log: &'a mut MetricsLog,
    pub(super) clock: Clock,
}

fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ ((epoch as u64 + 1) << 32)
}

/// Run epoch `progress.state.epoch` from where the state says it stands (resumption may
/// start mid-epoch), append its records to the metrics and checkpoint at its end.
///
/// # Errors
/// Data, framework and file-system failures.
pub(super) fn run_epoch(
    options: &TrainOptions,
    splits: &Splits,
    backend: &mut dyn Backend,
    progress: &mut Progress<'_>,
) -> Result<()> {
    let epoch = progress.state.epoch;
    let lr = options.protocol.learning_rate(options.lr, epoch);
    // Train, only update a VQ-EMA codebook (the paper's protocol after epoch 1: lr 0, but
    // training-mode forwards still move it), or nothing.
    let mode = EpochMode::at(lr, backend.has_ema_state());
    let started = Instant::now();
    if mode != EpochMode::Skipped {
        run_batches(options, splits, backend, progress, lr, mode)?;
    }
    let tally = progress.state.epoch_so_far;
    let validation_mse = match (mode, progress.state.epochs.last()) {
        (EpochMode::Skipped, Some(previous)) => previous.validation_mse,
        _ => Some(validate(options, splits, backend)?),
    };
    let record = EpochRecord {
        kind: "epoch".into(),
        epoch,
        lr,
        steps: tally.steps,
        batches: tally.batches,
        mean: scale(&tally.sum, tally.steps),
        train_unique_codes: progress.codes.take().map_or(0, |c| c.len()),
        validation_mse,
        mode,
        seconds: started.elapsed().as_secs_f64(),
    };
    eprintln!(
        "epoch {}/{}: {mode}, lr {lr}, {} steps, train recon {}, validation mse {}, {} codes, {:.1} s",
        epoch + 1,
        options.epochs,
        tally.steps,
        if tally.steps == 0 {
            "-".into()
        } else {
            format!("{:.6}", record.mean.reconstruction)
        },
        validation_mse.map_or("-".into(), |m| format!("{m:.6}")),
        record.train_unique_codes,
        record.seconds,
    );
    progress.log.write(&record)?;
    let state = &mut *progress.state;
    state.epochs.push(record);
    state.epoch += 1;
    state.batch_in_epoch = 0;
    state.epoch_so_far = EpochTally::default();
    save_checkpoint(&options.out_dir, backend, progress)
}

/// The epoch's batches from `state.batch_in_epoch` on: training steps (or codebook
/// updates only), each logged and added to the epoch's tally, with a checkpoint every
/// `options.checkpoint_every` steps.
fn run_batches(
    options: &TrainOptions,
    splits: &Splits,
    backend: &mut dyn Backend,
    progress: &mut Progress<'_>,
    lr: f64,
    mode: EpochMode,
) -> Result<()> {
    let epoch = progress.state.epoch;
    let mut batch_options =
        BatchOptions::training(options.batch_size, epoch_seed(options.seed, epoch));
    batch_options.skip_batches = progress.state.batch_in_epoch;
    let total = batch_options
        .batches_in(splits.train.len())
        .min(options.max_steps_per_epoch.unwrap_or(usize::MAX));
    if progress.state.batch_in_epoch > total {
        return Err(crate::Error::Invalid {
            what: "resume".into(),
            problem: format!(
                "the checkpoint is {} batches into epoch {}, which has only {total}",
                progress.state.batch_in_epoch,
                epoch + 1
            ),
        });
    }
    batch_options.max_batches = Some(total - progress.state.batch_in_epoch);
    let bar = progress_bar(
        options.progress,
        total as u64,
        format!("epoch {}/{} {mode}", epoch + 1, options.epochs),
    );
    bar.set_position(progress.state.batch_in_epoch as u64);
    for batch in Batches::new(splits.train.clone(), &batch_options) {
        let batch = batch?;
        let tally = &mut progress.state.epoch_so_far;
        if mode == EpochMode::EmaOnly {
            backend
                .quantize(&batch, true, CodeKind::Codes)?
                .count_into(progress.codes)?;
        } else {
            let (stats, rows) = backend.train_step(&batch, lr, CodeKind::Codes)?;
            rows.count_into(progress.codes)?;
            add(&mut tally.sum, &stats);
            tally.steps += 1;
            progress.state.global_step += 1;
            progress.log.write(&StepRecord {
                kind: "step",
                step: progress.state.global_step,
                epoch,
                lr,
                stats,
                seconds: progress.clock.seconds(),
            })?;
        }
        progress.state.epoch_so_far.batches += 1;
        progress.state.batch_in_epoch += 1;
        bar.inc(1);
        let due = options.checkpoint_every > 0
            && mode == EpochMode::Trained
            && progress
                .state
                .global_step
                .is_multiple_of(options.checkpoint_every as u64)
            && progress.state.batch_in_epoch < total;
        if due {
            save_checkpoint(&options.out_dir, backend, progress)?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Validation MSE of the current model (eval mode).
fn validate(options: &TrainOptions, splits: &Splits, backend: &mut dyn Backend) -> Result<f64> {
    let bar = progress_bar(
        options.progress,
        splits.validation.len() as u64,
        "validation".into(),
    );
    let report = evaluate(
        backend,
        splits.validation.clone(),
        splits.eval_batch_size(options.batch_size),
        options.max_eval_images,
        None,
        |_, _, _| {},
        &bar,
    )?;
    bar.finish_and_clear();
    Ok(report.mse)
}

/// A checkpoint of model, optimizer and loop state (with the time and metrics length so far).
fn save_checkpoint(
    out: &Path,
    backend: &mut dyn Backend,
    progress: &mut Progress<'_>,
) -> Result<()> {
    progress.state.elapsed_seconds = progress.clock.seconds();
    progress.state.metrics_bytes = progress.log.bytes_written()?;
    checkpoint::save(out, progress.state, progress.codes.as_ref(), |files| {
        backend.save(&files.model(), Some(&files.optimizer()))
    })
    .map(|_| ())
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
