//! Target `run_state`: the JSON files a run folder is resumed from.

use std::path::PathBuf;

use lattice_vq_experiments::Error;
use lattice_vq_experiments::train::checkpoint::{
    CheckpointFiles, LoopState, Position, read_json, read_state, write_json,
};
use lattice_vq_experiments::train::metrics::MetricsLog;
use lattice_vq_experiments::train::run::{RunResult, finished, model_configs};
use lattice_vq_experiments::train::{TrainOptions, epoch_codes, resume_options};

use crate::scratch::Scratch;

/// Length of the `metrics.jsonl` a loaded state resumes against.
const METRICS_BYTES: u64 = 100;

/// The bytes as each JSON file of a run folder: a checkpoint's `state.json`
/// ([`LoopState`]), `options.json` ([`TrainOptions`]) and `result.json` ([`RunResult`]),
/// and, when they are UTF-8, as a checkpoint folder's name ([`Position::parse`]).
///
/// Asserts: [`read_json`] gives an I/O error (text that is not UTF-8) or a format error,
/// or a value that [`write_json`] and [`read_json`] give back unchanged.
///
/// A loaded state: [`read_state`] accepts it in the folder named after its position (with
/// an empty epoch-codes file) and refuses it, with a format error, in a folder named after
/// another; [`LoopState::check`] never panics and, once it accepts a number of epochs,
/// accepts any larger one; [`MetricsLog::open`] resumes a 100-byte `metrics.jsonl` exactly
/// when the state's length fits in it, and cuts the file to that length.
///
/// Loaded options either fail [`TrainOptions::validate`] with an invalid-option error or
/// pass it, and then [`model_configs`] names an unknown dataset or quantizer or gives a
/// quantizer of the model's dimension; a run folder holding the file as its `options.json`,
/// and a checkpoint, may be resumed with the options read from it
/// ([`resume_options::check`]).
///
/// A loaded result is found by [`finished`] for its own options. A parsed folder name
/// names its own position. Never a panic.
pub fn run_state(data: &[u8]) {
    let scratch = Scratch::new();
    let text = std::str::from_utf8(data).ok();

    let state_path = scratch.write("state.json", data);
    if let Some(state) = loaded::<LoopState>(read_json(&state_path), text.is_some()) {
        assert_eq!(round_trip(&scratch, &state), state, "state.json round trip");
        check_state(&state, data);
    }

    let options_path = scratch.write("options.json", data);
    if let Some(options) = loaded::<TrainOptions>(read_json(&options_path), text.is_some()) {
        assert_eq!(
            round_trip(&scratch, &options),
            options,
            "options.json round trip"
        );
        check_options(&options, data);
    }

    let result_path = scratch.write("result.json", data);
    if let Some(result) = loaded::<RunResult>(read_json(&result_path), text.is_some()) {
        let options = TrainOptions {
            out_dir: scratch.path().to_path_buf(),
            progress: !result.options.progress,
            ..result.options.clone()
        };
        match finished(&options) {
            Ok(Some(_)) => {}
            other => panic!("finished() for the result's own options: {other:?}"),
        }
    }

    if let Some(position) = text.and_then(Position::parse) {
        assert_eq!(
            Position::parse(&position.name()),
            Some(position),
            "{position:?}"
        );
    }
}

/// The value of a successful read, `None` for an error of the kind its input allows.
fn loaded<T: std::fmt::Debug>(read: lattice_vq_experiments::Result<T>, is_utf8: bool) -> Option<T> {
    match read {
        Ok(value) => Some(value),
        Err(Error::Format { .. }) if is_utf8 => None,
        Err(Error::Io { .. }) if !is_utf8 => None,
        Err(other) => panic!("read_json (UTF-8: {is_utf8}): {other:?}"),
    }
}

/// `value` written by [`write_json`] and read back.
fn round_trip<T>(scratch: &Scratch, value: &T) -> T
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de>,
{
    let path: PathBuf = scratch.path().join("round-trip.json");
    write_json(&path, value).expect("write_json to a scratch folder");
    read_json(&path).unwrap_or_else(|e| panic!("read_json of what write_json wrote: {e}"))
}

/// A loaded state in a checkpoint folder, checked for some numbers of epochs, and resumed
/// against a metrics file.
fn check_state(state: &LoopState, data: &[u8]) {
    let position = Position::of(state);
    let run = Scratch::new();
    let files = checkpoint(&run, &position.name(), data);
    match read_state(&files) {
        Ok((read, None)) => assert_eq!(&read, state, "read_state of its own folder"),
        other => panic!("read_state in the folder named after its state: {other:?}"),
    }
    let other = Position {
        global_step: position.global_step.wrapping_add(1),
        ..position
    };
    match read_state(&checkpoint(&run, &other.name(), data)) {
        Err(Error::Format { .. }) => {}
        other => panic!("read_state in a folder named after another position: {other:?}"),
    }

    let mut accepted = false;
    for epochs in [0, 1, state.epoch, state.epoch.saturating_add(1), usize::MAX] {
        match state.check(&files.state(), epochs) {
            Ok(()) => accepted = true,
            Err(error)
                if !accepted && matches!(error, Error::Format { .. } | Error::Invalid { .. }) => {}
            Err(error) => panic!("check for {epochs} epochs (accepted fewer: {accepted}): {error}"),
        }
    }

    let metrics = run.write("metrics.jsonl", &[b'\n'; METRICS_BYTES as usize]);
    match MetricsLog::open(&metrics, state.metrics_bytes) {
        Ok(_) => {
            assert!(
                state.metrics_bytes <= METRICS_BYTES,
                "metrics file extended"
            );
            let length = std::fs::metadata(&metrics).expect("metrics.jsonl").len();
            assert_eq!(
                length, state.metrics_bytes,
                "metrics cut to the state's length"
            );
        }
        Err(Error::Format { .. }) => assert!(state.metrics_bytes > METRICS_BYTES),
        Err(other) => panic!("MetricsLog::open at {}: {other:?}", state.metrics_bytes),
    }
}

/// A checkpoint folder `name` under `run` with `state` as its `state.json` and an empty
/// epoch-codes file.
fn checkpoint(run: &Scratch, name: &str, state: &[u8]) -> CheckpointFiles {
    let files = CheckpointFiles {
        dir: run.mkdir(&format!("checkpoints/{name}")),
    };
    std::fs::write(files.state(), state).expect("state.json");
    std::fs::write(files.codes(), epoch_codes::encode(None)).expect("epoch codes");
    files
}

/// Validation and model configs of loaded options, and resuming a run folder whose
/// `options.json` is the file they were read from.
fn check_options(options: &TrainOptions, data: &[u8]) {
    match options.validate() {
        Ok(()) => match model_configs(options) {
            Ok((model, quantizer)) => assert_eq!(quantizer.dim(), model.embedding_dim),
            Err(Error::Invalid { .. }) => {}
            Err(other) => panic!("model_configs: unexpected error kind {other:?}"),
        },
        Err(Error::Invalid { .. }) => {}
        Err(other) => panic!("validate: unexpected error kind {other:?}"),
    }
    let run = Scratch::new();
    run.write("options.json", data);
    run.mkdir(&format!(
        "checkpoints/{}",
        Position::of(&LoopState::default()).name()
    ));
    let resumed = TrainOptions {
        out_dir: run.path().to_path_buf(),
        ..options.clone()
    };
    if let Err(error) = resume_options::check(&resumed) {
        panic!("a run folder refuses the options its options.json holds: {error}");
    }
}
