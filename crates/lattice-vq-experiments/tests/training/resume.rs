//! An interrupted run resumes from its last checkpoint and continues from the saved step.

use lattice_vq_experiments::train::checkpoint;
use lattice_vq_experiments::train::datasets;
use lattice_vq_experiments::train::run::{make_backend, train};
use lattice_vq_experiments::train::{DatasetKind, QuantizerKind};

use crate::support::{Interrupted, backends, smoke_options, steps, weights};

#[test]
fn an_interrupted_run_resumes_from_its_checkpoint() {
    for backend_kind in backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, backend_kind, 10);
        options.checkpoint_every = 4;
        let splits = datasets::open(DatasetKind::Synthetic, None).unwrap();

        // Killed at step 7: the checkpoint of step 4 is the newest.
        let mut interrupted = Interrupted {
            inner: make_backend(&options).unwrap(),
            steps_left: 6,
        };
        let error = train(&options, &splits, &mut interrupted).unwrap_err();
        assert!(error.to_string().contains("interrupted"), "{error}");
        let latest = checkpoint::latest(dir.path()).unwrap().unwrap();
        assert!(
            latest
                .dir
                .ends_with("step-00000004-epoch-0000-batch-00000004"),
            "{}",
            latest.dir.display()
        );
        let before: Vec<(u64, f64)> = steps(dir.path());
        assert_eq!(
            before.len(),
            6,
            "steps 1..=6 were logged before the interruption"
        );
        let saved = weights(&latest.model());

        // A fresh process: the model it builds is overwritten by the checkpoint.
        let mut resumed = Interrupted {
            inner: make_backend(&options).unwrap(),
            steps_left: 6,
        };
        let result = train(&options, &splits, &mut resumed).unwrap();
        assert_eq!(
            resumed.steps_left, 0,
            "{backend_kind:?}: steps 5..=10 ran, no more"
        );
        let after = steps(dir.path());
        let numbers: Vec<u64> = after.iter().map(|s| s.0).collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<u64>>(), "{backend_kind:?}");
        assert_eq!(
            after[..4],
            before[..4],
            "lines up to the checkpoint are kept"
        );
        assert_eq!(result.epochs.len(), 1);
        assert_eq!(
            result.epochs[0].steps, 10,
            "the epoch's record covers the steps before the interruption too"
        );

        // Resuming loaded the checkpoint's weights: training from them gives the final ones,
        // which differ from the step-4 weights (so the resumed run did train).
        let last = weights(&dir.path().join("model.safetensors"));
        assert_eq!(
            saved.keys().collect::<std::collections::BTreeSet<_>>(),
            last.keys().collect()
        );
        assert!(saved.iter().any(|(n, v)| v != &last[n]));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            leftovers,
            ["step-00000010-epoch-0001-batch-00000000"],
            "{backend_kind:?}"
        );

        // Run again: the finished result is reused, nothing trains.
        let mut again = Interrupted {
            inner: make_backend(&options).unwrap(),
            steps_left: 0,
        };
        let reused = train(&options, &splits, &mut again).unwrap();
        assert_eq!(reused.test.mse, result.test.mse);
        assert_eq!(reused.test.unique_codes, result.test.unique_codes);
        assert_eq!(reused.train_seconds, result.train_seconds);
    }
}
