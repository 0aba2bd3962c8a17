//! Regression tests for the defects that a fault and bad-input campaign found in the
//! training loop and the examples' library side (issue 11's list, D2-D13; D1 is in
//! `kill.rs`, it needs a process killed inside a rename). Each test fails on the code
//! before its fix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use lattice_vq_experiments::data::{Dataset, ImageShape, InMemory};
use lattice_vq_experiments::train::checkpoint::{self, LoopState};
use lattice_vq_experiments::train::datasets::{self, Splits};
use lattice_vq_experiments::train::run::{make_backend, train};
use lattice_vq_experiments::train::tables::paper_table;
use lattice_vq_experiments::train::{BackendKind, DatasetKind, QuantizerKind, run_folder};
use lattice_vq_experiments::{Error, Result};

use crate::support::{Interrupted, backends, smoke_options, steps};

/// A run of 10 steps interrupted at step 7, so `checkpoints/` holds step 4's.
fn interrupted_run(dir: &Path, backend: BackendKind) -> (Splits, Error) {
    let mut options = smoke_options(dir, QuantizerKind::Lattice, backend, 10);
    options.checkpoint_every = 4;
    let splits = datasets::open(DatasetKind::Synthetic, None).unwrap();
    let mut interrupted = Interrupted {
        inner: make_backend(&options).unwrap(),
        steps_left: 6,
    };
    let error = train(&options, &splits, &mut interrupted).unwrap_err();
    (splits, error)
}

fn resume(options: &lattice_vq_experiments::train::TrainOptions, splits: &Splits) -> Result<()> {
    let mut backend = make_backend(options)?;
    train(options, splits, backend.as_mut()).map(|_| ())
}

#[test]
fn d2_clearing_an_output_folder_that_holds_other_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("Cargo.toml"), "[package]").unwrap();
    std::fs::write(project.join("metrics.jsonl"), "{}").unwrap();
    let error = run_folder::clear(&project).unwrap_err().to_string();
    assert!(error.contains("refusing to clear"), "{error}");
    assert!(
        project.join("Cargo.toml").is_file() && project.join("metrics.jsonl").is_file(),
        "nothing removed from a folder that is not a run folder"
    );

    // A run folder loses its outputs (stale temporaries included) and nothing else exists.
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("checkpoints/step-1")).unwrap();
    for file in [
        "metrics.jsonl",
        "options.json",
        "loss.png",
        ".result.json.1-0.tmp",
    ] {
        std::fs::write(run.join(file), "x").unwrap();
    }
    run_folder::clear(&run).unwrap();
    assert_eq!(std::fs::read_dir(&run).unwrap().count(), 0);
    run_folder::clear(&dir.path().join("absent")).unwrap();
}

#[test]
fn d3_resuming_with_other_options_is_refused_and_with_the_same_ones_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (splits, _) = interrupted_run(dir.path(), BackendKind::Candle);
    let mut other = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 10);
    other.checkpoint_every = 4;
    other.seed = 8;
    other.batch_size = 8;
    let error = resume(&other, &splits).unwrap_err().to_string();
    assert!(
        error.contains("other options") && error.contains("seed 7 (now 8)"),
        "{error}"
    );
    assert!(error.contains("batch_size 16 (now 8)"), "{error}");
    assert!(
        !dir.path().join("result.json").exists(),
        "the refused run wrote no result"
    );

    // Options that do not shape the weights may change (progress bars, threads).
    let mut same = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 10);
    same.checkpoint_every = 4;
    same.progress = false;
    same.threads = Some(2);
    resume(&same, &splits).unwrap();
    assert_eq!(steps(dir.path()).len(), 10);
}

#[test]
fn d4_a_data_dir_that_does_not_exist_is_an_error_not_a_fallback() {
    let missing = Path::new("/nonexistent/lattice-vq-test-data");
    for dataset in [
        DatasetKind::FashionMnist,
        DatasetKind::Folder,
        DatasetKind::Celeba,
        DatasetKind::Ffhq1024,
    ] {
        let error = datasets::open(dataset, Some(missing))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no such folder") && error.contains("/nonexistent"),
            "{dataset}: {error}"
        );
    }
}

#[test]
fn d5_a_resumed_epoch_records_the_whole_epoch() {
    for backend in backends() {
        let whole = tempfile::tempdir().unwrap();
        let mut options = smoke_options(whole.path(), QuantizerKind::Lattice, backend, 10);
        options.checkpoint_every = 4;
        let splits = datasets::open(DatasetKind::Synthetic, None).unwrap();
        let uninterrupted = {
            let mut b = make_backend(&options).unwrap();
            train(&options, &splits, b.as_mut()).unwrap()
        };

        let dir = tempfile::tempdir().unwrap();
        let (splits, _) = interrupted_run(dir.path(), backend);
        let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, backend, 10);
        options.checkpoint_every = 4;
        let mut b = make_backend(&options).unwrap();
        let resumed = train(&options, &splits, b.as_mut()).unwrap();

        let (a, b) = (&uninterrupted.epochs[0], &resumed.epochs[0]);
        assert_eq!(
            (b.steps, b.batches),
            (10, 10),
            "{backend:?}: the whole epoch"
        );
        assert_eq!(
            b.train_unique_codes, a.train_unique_codes,
            "{backend:?}: codes of the batches before the interruption are counted"
        );
        if backend == BackendKind::Candle {
            // candle on the CPU repeats to the last bit: the means are the same numbers.
            assert_eq!(b.mean, a.mean, "{backend:?}: mean losses of all 10 steps");
        } else {
            let close = (b.mean.reconstruction - a.mean.reconstruction).abs()
                <= 1e-3 * a.mean.reconstruction.abs();
            assert!(close, "{backend:?}: {:?} vs {:?}", b.mean, a.mean);
        }
    }
}

/// Splits whose validation part is empty (as 11 Fashion-MNIST training images give: a
/// twelfth of 11 is 0).
fn splits_without_validation() -> Splits {
    let shape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let images = |n: usize| -> Arc<dyn Dataset> {
        Arc::new(InMemory {
            pixels: vec![0.25; n * shape.len()],
            shape,
            flips: false,
        })
    };
    Splits {
        train: images(11),
        validation: images(0),
        test: images(4),
        source: "eleven images".into(),
    }
}

#[test]
fn d8_evaluations_of_no_images_are_errors_not_an_error_of_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 2);
    options.max_eval_images = Some(0);
    let error = options.validate().unwrap_err().to_string();
    assert!(error.contains("max eval images"), "{error}");

    let options = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 2);
    let mut backend = make_backend(&options).unwrap();
    let error = train(&options, &splits_without_validation(), backend.as_mut())
        .unwrap_err()
        .to_string();
    assert!(error.contains("no validation images"), "{error}");

    let bar = indicatif::ProgressBar::hidden();
    let empty = splits_without_validation().validation;
    let error = lattice_vq_experiments::train::evaluate::evaluate(
        backend.as_mut(),
        empty,
        16,
        None,
        None,
        |_, _, _| {},
        &bar,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("no images to evaluate"), "{error}");
}

/// Rewrite the optimizer file of the newest checkpoint in `dir` with `edit` applied to its
/// tensors.
fn edit_optimizer(
    dir: &Path,
    edit: impl FnOnce(&mut HashMap<String, candle_core::Tensor>),
) -> std::path::PathBuf {
    let latest = checkpoint::latest(dir).unwrap().unwrap();
    let path = latest.optimizer();
    let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    path
}

#[test]
fn d9_an_optimizer_state_without_moments_or_with_wrong_shapes_is_refused() {
    for backend in backends() {
        for (case, edit) in [
            (
                "no moments",
                Box::new(|t: &mut HashMap<String, candle_core::Tensor>| {
                    t.retain(|name, _| name == "steps")
                }) as Box<dyn FnOnce(&mut HashMap<String, candle_core::Tensor>)>,
            ),
            (
                "wrong shape",
                Box::new(|t: &mut HashMap<String, candle_core::Tensor>| {
                    let name = t.keys().find(|n| n.starts_with("m.")).unwrap().clone();
                    let wrong = candle_core::Tensor::zeros(
                        3,
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap();
                    t.insert(name, wrong);
                }),
            ),
            (
                "negative steps",
                Box::new(|t: &mut HashMap<String, candle_core::Tensor>| {
                    let steps =
                        candle_core::Tensor::new(&[-3i64], &candle_core::Device::Cpu).unwrap();
                    t.insert("steps".into(), steps);
                }),
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            interrupted_run(dir.path(), backend);
            let path = edit_optimizer(dir.path(), edit);
            let options = smoke_options(dir.path(), QuantizerKind::Lattice, backend, 10);
            let mut fresh = make_backend(&options).unwrap();
            let latest = checkpoint::latest(dir.path()).unwrap().unwrap();
            let error = fresh
                .load(&latest.model(), Some(&path))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&path.display().to_string()),
                "{backend:?} {case}: the error names the file: {error}"
            );
        }
    }
}

#[test]
fn d10_stray_and_empty_checkpoint_folders_fall_back_to_the_complete_one() {
    let dir = tempfile::tempdir().unwrap();
    let (splits, _) = interrupted_run(dir.path(), BackendKind::Candle);
    let checkpoints = dir.path().join("checkpoints");
    std::fs::write(checkpoints.join("step-zzz"), "stray").unwrap();
    // Named as a newer checkpoint, but empty (a copy that never finished, say).
    std::fs::create_dir(checkpoints.join("step-00000008-epoch-0000-batch-00000008")).unwrap();
    let latest = checkpoint::latest(dir.path()).unwrap().unwrap();
    assert!(
        latest
            .dir
            .ends_with("step-00000004-epoch-0000-batch-00000004")
    );

    let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 10);
    options.checkpoint_every = 4;
    resume(&options, &splits).unwrap();
    let numbers: Vec<u64> = steps(dir.path()).iter().map(|s| s.0).collect();
    assert_eq!(numbers, (1..=10).collect::<Vec<u64>>(), "resumed at step 4");
}

#[test]
fn d12_a_row_selection_that_matches_no_row_says_so() {
    let table = paper_table(5).unwrap();
    // Table 5 (Fashion-MNIST) has no row of the unit-initialised lattice (Table 3's).
    let error = table
        .check_rows(&[QuantizerKind::LatticeUnitInit])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("\"lattice-unit-init\"") && error.contains("dense-lattice"),
        "{error}"
    );
    table
        .check_rows(&[QuantizerKind::Lattice, QuantizerKind::Vq])
        .unwrap();
}

/// Rewrite the state of the newest checkpoint in `dir` with `edit` applied.
fn edit_state(dir: &Path, edit: impl FnOnce(&mut LoopState)) {
    let latest = checkpoint::latest(dir).unwrap().unwrap();
    let mut state: LoopState = checkpoint::read_json(&latest.state()).unwrap();
    edit(&mut state);
    checkpoint::write_json(&latest.state(), &state).unwrap();
}

#[test]
fn d13_an_edited_state_is_refused_before_it_changes_anything() {
    // A metrics length past the file's end: the file must not grow.
    let dir = tempfile::tempdir().unwrap();
    let (splits, _) = interrupted_run(dir.path(), BackendKind::Candle);
    edit_state(dir.path(), |s| s.metrics_bytes = 1 << 40);
    let metrics = dir.path().join("metrics.jsonl");
    let before = std::fs::metadata(&metrics).unwrap().len();
    let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 10);
    options.checkpoint_every = 4;
    let error = resume(&options, &splits).unwrap_err().to_string();
    assert!(error.contains("metrics.jsonl"), "{error}");
    assert_eq!(std::fs::metadata(&metrics).unwrap().len(), before);

    // An epoch past the run's end: refused, nothing skipped.
    let dir = tempfile::tempdir().unwrap();
    let (splits, _) = interrupted_run(dir.path(), BackendKind::Candle);
    edit_state(dir.path(), |s| s.epoch = 5);
    let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 10);
    options.checkpoint_every = 4;
    let error = resume(&options, &splits).unwrap_err().to_string();
    assert!(error.contains("state.json"), "{error}");
    assert!(!dir.path().join("result.json").exists());
}

#[cfg(unix)]
#[test]
fn written_files_get_the_permissions_of_any_new_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    interrupted_run(dir.path(), BackendKind::Candle);
    let probe = dir.path().join("probe");
    std::fs::write(&probe, "x").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let expected = mode(&probe);
    let latest = checkpoint::latest(dir.path()).unwrap().unwrap();
    for file in [
        latest.model(),
        latest.optimizer(),
        latest.state(),
        latest.codes(),
    ] {
        assert_eq!(
            mode(&file),
            expected,
            "{}: mode {:o}, a new file gets {expected:o}",
            file.display(),
            mode(&file)
        );
    }
}

#[test]
fn d11_a_checkpoint_that_cannot_be_read_is_named_once() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let options = smoke_options(dir.path(), QuantizerKind::Lattice, backend, 1);
        let mut fresh = make_backend(&options).unwrap();
        let missing = dir.path().join("absent.safetensors");
        let error = fresh.load(&missing, None).unwrap_err().to_string();
        assert!(
            error.contains("absent.safetensors") && !error.contains("candle: candle"),
            "{backend:?}: {error}"
        );
    }
}

#[test]
fn d3_an_options_file_that_leaves_out_an_optional_field_still_resumes() {
    // Found by fuzzing run_state: `"data_dir"` absent reads as `None`, the same options.
    let dir = tempfile::tempdir().unwrap();
    let (splits, _) = interrupted_run(dir.path(), BackendKind::Candle);
    let path = dir.path().join("options.json");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    saved.as_object_mut().unwrap().remove("data_dir");
    std::fs::write(&path, saved.to_string()).unwrap();
    let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, BackendKind::Candle, 10);
    options.checkpoint_every = 4;
    resume(&options, &splits).unwrap();
    assert_eq!(steps(dir.path()).len(), 10);
}
