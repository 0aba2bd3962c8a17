//! Every option a user can get wrong on the command line of `train` (the fields of
//! `TrainOptions`) is a typed error that names the option, before anything is trained or
//! written; none panics. Unknown names of a dataset, quantizer or device are refused where
//! they are parsed: the command line, `FromStr`, a run folder's `options.json`.

use clap::Parser;
use lattice_vq_experiments::Error;
use lattice_vq_experiments::train::run::run;
use lattice_vq_experiments::train::{
    BackendKind, DatasetKind, Device, QuantizerKind, TrainOptions,
};

use crate::support::smoke_options;

/// `(what is wrong, how to make the options wrong, a word the message must hold)`.
type Case = (&'static str, fn(&mut TrainOptions), &'static str);

const CASES: [Case; 11] = [
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
        "missing data dir",
        |o| o.data_dir = Some("/nonexistent/lattice-vq".into()),
        "no such folder",
    ),
    (
        "folder dataset without data dir",
        |o| o.dataset = DatasetKind::Folder,
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
        let mut options = smoke_options(
            &dir.path().join("run"),
            QuantizerKind::Lattice,
            BackendKind::Candle,
            1,
        );
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

/// `(option, a name it does not take, a value it lists)`.
const UNKNOWN: [(&str, &str, &str); 6] = [
    ("dataset", "mnist-3d", "fashion-mnist"),
    ("quantizer", "kmeans", "vq-ema"),
    ("quantizer", "", "lattice-unit-init"),
    ("device", "tpu", "cuda:N"),
    ("device", "cuda:x", "cuda:N"),
    ("device", "cuda:", "cpu"),
];

fn parse(option: &str, name: &str) -> Result<(), Error> {
    match option {
        "dataset" => name.parse::<DatasetKind>().map(drop),
        "quantizer" => name.parse::<QuantizerKind>().map(drop),
        _ => name.parse::<Device>().map(drop),
    }
}

#[test]
fn unknown_names_are_typed_errors_naming_the_option_and_its_values() {
    for (option, name, listed) in UNKNOWN {
        match parse(option, name) {
            Err(error @ Error::Unknown { what, .. }) => {
                assert_eq!(what, option, "{name:?}");
                let message = error.to_string();
                assert!(
                    message.contains(&format!("{name:?}")) && message.contains(listed),
                    "{option} {name:?}: {message}"
                );
            }
            other => panic!("{option} {name:?}: {other:?}"),
        }
    }
}

/// The options of `examples/train.rs` that take names.
#[derive(Debug, Parser)]
struct Names {
    #[arg(long, value_enum, default_value_t = DatasetKind::FashionMnist)]
    dataset: DatasetKind,
    #[arg(long, value_enum, default_value_t = QuantizerKind::Lattice)]
    quantizer: QuantizerKind,
    #[arg(long, default_value_t = Device::Cpu)]
    device: Device,
}

#[test]
fn the_command_line_refuses_unknown_names_and_takes_every_known_one() {
    for (option, name, _) in UNKNOWN {
        let flag = format!("--{option}={name}");
        let error = Names::try_parse_from(["train", flag.as_str()]).unwrap_err();
        assert!(error.to_string().contains(option), "{flag}: {error}");
    }
    let parsed = Names::try_parse_from([
        "train",
        "--dataset",
        "ffhq1024",
        "--quantizer",
        "sparse_lattice",
        "--device",
        "cuda:3",
    ])
    .unwrap();
    assert_eq!(parsed.dataset, DatasetKind::Ffhq1024);
    assert_eq!(parsed.quantizer, QuantizerKind::Lattice);
    assert_eq!(parsed.device, Device::Cuda(Some(3)));
    let defaults = Names::try_parse_from(["train"]).unwrap();
    assert_eq!(
        (defaults.dataset, defaults.quantizer, defaults.device),
        (
            DatasetKind::FashionMnist,
            QuantizerKind::Lattice,
            Device::Cpu
        )
    );
}
