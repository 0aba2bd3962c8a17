//! Every option a user can get wrong on the command line of `train` (the fields of
//! `TrainOptions`) is a typed error that names the option, before anything is trained or
//! written; none panics.

use lattice_vq_experiments::Error;
use lattice_vq_experiments::train::run::run;
use lattice_vq_experiments::train::{BackendKind, TrainOptions};

use crate::support::smoke_options;

/// `(what is wrong, how to make the options wrong, a word the message must hold)`.
type Case = (&'static str, fn(&mut TrainOptions), &'static str);

const CASES: [Case; 16] = [
    ("batch size 0", |o| o.batch_size = 0, "batch size"),
    ("learning rate NaN", |o| o.lr = f64::NAN, "learning rate"),
    (
        "learning rate inf",
        |o| o.lr = f64::INFINITY,
        "learning rate",
    ),
    ("learning rate < 0", |o| o.lr = -1e-3, "learning rate"),
    ("0 threads", |o| o.threads = Some(0), "threads"),
    (
        "0 eval images",
        |o| o.max_eval_images = Some(0),
        "max eval images",
    ),
    (
        "0 steps per epoch",
        |o| o.max_steps_per_epoch = Some(0),
        "max steps",
    ),
    (
        "unknown dataset",
        |o| o.dataset = "mnist-3d".into(),
        "mnist-3d",
    ),
    (
        "unknown quantizer",
        |o| o.quantizer = "kmeans".into(),
        "kmeans",
    ),
    (
        "empty quantizer",
        |o| o.quantizer = String::new(),
        "quantizer",
    ),
    ("unknown device", |o| o.device = "tpu".into(), "tpu"),
    ("device cuda:x", |o| o.device = "cuda:x".into(), "cuda:x"),
    (
        "missing data dir",
        |o| o.data_dir = Some("/nonexistent/lattice-vq".into()),
        "no such folder",
    ),
    (
        "folder dataset without data dir",
        |o| o.dataset = "folder".into(),
        "--data-dir",
    ),
    (
        "data dir that is a file",
        |o| o.data_dir = Some("/etc/hostname".into()),
        "no such folder",
    ),
    (
        "out dir that is a file",
        |o| o.out_dir = "/etc/hostname/run".into(),
        "/etc/hostname",
    ),
];

#[test]
fn bad_training_options_are_typed_errors_naming_the_option() {
    for (case, spoil, word) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let mut options = smoke_options(&dir.path().join("run"), "lattice", BackendKind::Candle, 1);
        spoil(&mut options);
        let outcome = std::panic::catch_unwind(|| run(&options));
        let error = match outcome {
            Ok(Ok(_)) => panic!("{case}: trained"),
            Ok(Err(e)) => e,
            Err(_) => panic!("{case}: panicked"),
        };
        assert!(
            matches!(
                error,
                Error::Invalid { .. } | Error::NotFound { .. } | Error::Io { .. }
            ),
            "{case}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(word), "{case}: {message}");
        assert!(
            !dir.path().join("run").join("checkpoints").exists(),
            "{case}: nothing trained"
        );
    }
}
