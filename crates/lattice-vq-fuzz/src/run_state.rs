//! Target `run_state`: the JSON files a run folder is resumed from.

use std::path::PathBuf;

use lattice_vq_experiments::Error;
use lattice_vq_experiments::train::TrainOptions;
use lattice_vq_experiments::train::checkpoint::{LoopState, read_json, write_json};
use lattice_vq_experiments::train::run::{RunResult, finished, model_configs};

use crate::scratch::Scratch;

/// The bytes as each JSON file of a run folder: a checkpoint's `state.json`
/// ([`LoopState`]), `options.json` ([`TrainOptions`]) and `result.json` ([`RunResult`]).
///
/// Asserts: [`read_json`] gives an I/O error (text that is not UTF-8) or a format error,
/// or a value that [`write_json`] and [`read_json`] give back unchanged; loaded options
/// either fail [`TrainOptions::validate`] with an invalid-option error or pass it, and then
/// [`model_configs`] names an unknown dataset or quantizer or gives a quantizer of the
/// model's dimension; a loaded result is found by [`finished`] for its own options. Never a
/// panic.
pub fn run_state(data: &[u8]) {
    let scratch = Scratch::new();
    let is_utf8 = std::str::from_utf8(data).is_ok();

    let state_path = scratch.write("checkpoints/step-00000001/state.json", data);
    if let Some(state) = loaded::<LoopState>(read_json(&state_path), is_utf8) {
        assert_eq!(round_trip(&scratch, &state), state, "state.json round trip");
        // The loop state's consistency with the options and metrics.jsonl (epoch and
        // batch within the run, metrics_bytes within the file) is checked on resume by
        // train/run.rs; the call that checks it belongs here once it is public.
    }

    let options_path = scratch.write("options.json", data);
    if let Some(options) = loaded::<TrainOptions>(read_json(&options_path), is_utf8) {
        assert_eq!(
            round_trip(&scratch, &options),
            options,
            "options.json round trip"
        );
        check_options(&options);
    }

    let result_path = scratch.write("result.json", data);
    if let Some(result) = loaded::<RunResult>(read_json(&result_path), is_utf8) {
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

/// Validation and model configs of loaded options.
fn check_options(options: &TrainOptions) {
    match options.validate() {
        Ok(()) => {}
        Err(Error::Invalid { .. }) => return,
        Err(other) => panic!("validate: unexpected error kind {other:?}"),
    }
    match model_configs(options) {
        Ok((model, quantizer)) => assert_eq!(quantizer.dim(), model.embedding_dim),
        Err(Error::Invalid { .. }) => {}
        Err(other) => panic!("model_configs: unexpected error kind {other:?}"),
    }
}
