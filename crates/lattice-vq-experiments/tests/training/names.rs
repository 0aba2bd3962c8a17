//! The names of datasets, quantizers, devices and epoch modes: one spelling on the command
//! line, in `options.json`, `metrics.jsonl`, `result.json` and the checkpoints' state files,
//! the same as before they were enums, so old run folders still load and resume.

use clap::ValueEnum;
use lattice_vq_core::{BasisInit, LatticeQuantizerConfig, QuantizerConfig, VqVaeConfig};
use lattice_vq_experiments::train::checkpoint::{read_json, write_json};
use lattice_vq_experiments::train::metrics::EpochRecord;
use lattice_vq_experiments::train::run::model_configs;
use lattice_vq_experiments::train::{
    BackendKind, CodebookChoice, DatasetKind, Device, EpochMode, Protocol, QuantizerKind,
    TrainOptions, resume_options,
};

/// `value` as JSON: a quoted string.
fn json<T: serde::Serialize>(value: T) -> String {
    serde_json::to_string(&value).unwrap()
}

#[test]
fn each_name_is_one_string_on_the_command_line_in_files_and_in_messages() {
    for dataset in DatasetKind::ALL {
        let name = dataset.name();
        assert_eq!(json(dataset), format!("{name:?}"));
        assert_eq!(dataset.to_string(), name);
        assert_eq!(dataset.to_possible_value().unwrap().get_name(), name);
        assert_eq!(name.parse::<DatasetKind>().unwrap(), dataset);
    }
    assert_eq!(DatasetKind::value_variants(), DatasetKind::ALL);
    for quantizer in QuantizerKind::ALL {
        let name = quantizer.name();
        assert_eq!(json(quantizer), format!("{name:?}"));
        assert_eq!(quantizer.to_string(), name);
        assert_eq!(quantizer.to_possible_value().unwrap().get_name(), name);
        assert_eq!(name.parse::<QuantizerKind>().unwrap(), quantizer);
    }
    assert_eq!(QuantizerKind::value_variants(), QuantizerKind::ALL);
    for (mode, name) in [
        (EpochMode::Trained, "trained"),
        (EpochMode::EmaOnly, "ema-only"),
        (EpochMode::Skipped, "skipped"),
    ] {
        assert_eq!(json(mode), format!("{name:?}"));
        assert_eq!(mode.to_string(), name);
        assert_eq!(
            serde_json::from_str::<EpochMode>(&json(name)).unwrap(),
            mode
        );
    }
}

#[test]
fn the_official_checkpoints_spellings_still_parse_as_quantizers() {
    for (alias, quantizer) in [
        ("sparse_lattice", QuantizerKind::Lattice),
        ("dense_lattice", QuantizerKind::DenseLattice),
        ("vq_ema", QuantizerKind::VqEma),
    ] {
        assert_eq!(alias.parse::<QuantizerKind>().unwrap(), quantizer);
        assert_eq!(QuantizerKind::from_str(alias, false).unwrap(), quantizer);
        let read: QuantizerKind = serde_json::from_str(&json(alias)).unwrap();
        assert_eq!(read, quantizer);
    }
}

#[test]
fn devices_read_back_as_written() {
    for (name, device) in [
        ("cpu", Device::Cpu),
        ("cuda", Device::Cuda(None)),
        ("cuda:0", Device::Cuda(Some(0))),
        ("cuda:12", Device::Cuda(Some(12))),
    ] {
        assert_eq!(name.parse::<Device>().unwrap(), device);
        assert_eq!(device.to_string(), name);
        assert_eq!(json(device), format!("{name:?}"));
        assert_eq!(serde_json::from_str::<Device>(&json(name)).unwrap(), device);
    }
    assert_eq!(Device::Cuda(None).cuda_index(), Some(0));
    assert_eq!(Device::Cpu.cuda_index(), None);
    let error = serde_json::from_str::<Device>("\"tpu\"").unwrap_err();
    assert!(error.to_string().contains("tpu"), "{error}");
}

#[test]
fn the_enums_give_the_configs_the_names_gave() {
    for quantizer in [
        QuantizerKind::Lattice,
        QuantizerKind::DenseLattice,
        QuantizerKind::Vq,
        QuantizerKind::VqEma,
    ] {
        assert_eq!(
            quantizer.config(64, CodebookChoice::default()).ok(),
            QuantizerConfig::by_name(quantizer.name(), 64),
            "{quantizer}"
        );
    }
    assert_eq!(
        QuantizerKind::LatticeUnitInit
            .config(64, CodebookChoice::default())
            .unwrap(),
        QuantizerConfig::Lattice(
            LatticeQuantizerConfig::new(512, 64).with_init(BasisInit::Symmetric(1.0))
        )
    );
    for (dataset, model) in [
        (DatasetKind::FashionMnist, "fashion-mnist"),
        (DatasetKind::Synthetic, "fashion-mnist"),
        (DatasetKind::Celeba, "celeba"),
        (DatasetKind::Folder, "celeba"),
        (DatasetKind::Ffhq1024, "ffhq1024"),
    ] {
        assert_eq!(Some(dataset.model()), VqVaeConfig::for_dataset(model));
    }
}

/// An `options.json` as the code before the enums wrote it (strings for the dataset,
/// quantizer and device), with the official checkpoints' spelling of the quantizer.
const OLD_OPTIONS: &str = r#"{
  "dataset": "fashion-mnist",
  "data_dir": null,
  "quantizer": "sparse_lattice",
  "backend": "candle",
  "device": "cuda:1",
  "epochs": 5,
  "batch_size": 64,
  "lr": 0.001,
  "seed": 0,
  "protocol": "paper",
  "max_steps_per_epoch": 100,
  "max_eval_images": null,
  "checkpoint_every": 500,
  "threads": 2,
  "count_train_codes": false,
  "out_dir": "runs/fashion-mnist",
  "progress": true
}"#;

#[test]
fn an_options_json_of_the_old_code_still_reads_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("options.json");
    std::fs::write(&path, OLD_OPTIONS).unwrap();
    let options: TrainOptions = read_json(&path).unwrap();
    assert_eq!(options.dataset, DatasetKind::FashionMnist);
    assert_eq!(options.quantizer, QuantizerKind::Lattice);
    assert_eq!(options.backend, BackendKind::Candle);
    assert_eq!(options.device, Device::Cuda(Some(1)));
    assert_eq!(options.protocol, Protocol::Paper);
    let (model, quantizer) = model_configs(&options).unwrap();
    assert_eq!(
        quantizer,
        QuantizerConfig::by_name("sparse_lattice", 64).unwrap()
    );
    assert_eq!(model, VqVaeConfig::fashion_mnist());

    // Written again, only the quantizer's spelling changes.
    let again = dir.path().join("again.json");
    write_json(&again, &options).unwrap();
    let mut old: serde_json::Value = serde_json::from_str(OLD_OPTIONS).unwrap();
    old["quantizer"] = "lattice".into();
    let new: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_eq!(new, old);

    // A run folder holding the old file and a checkpoint resumes with the options read.
    std::fs::create_dir_all(
        dir.path()
            .join("checkpoints/step-00000000-epoch-0000-batch-00000000"),
    )
    .unwrap();
    let resumed = TrainOptions {
        out_dir: dir.path().to_path_buf(),
        ..options
    };
    resume_options::check(&resumed).unwrap();
}

#[test]
fn an_epoch_record_of_the_old_code_still_reads() {
    for (mode, expected) in [
        ("trained", EpochMode::Trained),
        ("ema-only", EpochMode::EmaOnly),
        ("skipped", EpochMode::Skipped),
    ] {
        let line = format!(
            r#"{{"kind":"epoch","epoch":1,"lr":0.0,"steps":0,"batches":0,"mean":{{"loss":0.0,"reconstruction":0.0,"embedding":0.0,"commitment":0.0,"size":0.0}},"train_unique_codes":0,"validation_mse":0.5,"mode":"{mode}","seconds":1.0}}"#
        );
        let record: EpochRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(record.mode, expected);
        assert_eq!(serde_json::to_string(&record).unwrap(), line);
    }
}
