//! The paper's protocol: learning rate 0 after epoch 1 changes no trained weight, only a
//! VQ-EMA codebook moves (which is why the loop skips such epochs for the other quantizers).

use lattice_vq_experiments::train::run::{make_backend, run};
use lattice_vq_experiments::train::{CodeKind, EpochMode, Protocol, QuantizerKind};

use crate::support::{backends, smoke_options, synthetic_batch, weights};

fn is_ema_state(name: &str) -> bool {
    // The EMA codebook is `_quantizer.embedding.weight` too: it is set from the EMA sums.
    name.starts_with("_quantizer.")
}

#[test]
fn a_step_at_learning_rate_zero_changes_no_trained_weight() {
    let batch = synthetic_batch(8);
    for backend_kind in backends() {
        for quantizer in [
            QuantizerKind::Lattice,
            QuantizerKind::Vq,
            QuantizerKind::VqEma,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let options = smoke_options(dir.path(), quantizer, backend_kind, 1);
            let mut backend = make_backend(&options).unwrap();
            backend.train_step(&batch, 1e-3, CodeKind::None).unwrap();
            let before = dir.path().join("before.safetensors");
            backend.save(&before, None).unwrap();
            backend.train_step(&batch, 0.0, CodeKind::None).unwrap();
            let after = dir.path().join("after.safetensors");
            backend.save(&after, None).unwrap();
            let (before, after) = (weights(&before), weights(&after));
            for (name, values) in &before {
                let ema = quantizer == QuantizerKind::VqEma && is_ema_state(name);
                if !ema {
                    assert_eq!(
                        values, &after[name],
                        "{backend_kind:?} {quantizer}: {name} moved"
                    );
                }
            }
            if quantizer == QuantizerKind::VqEma {
                let moved = before
                    .iter()
                    .any(|(name, v)| is_ema_state(name) && v != &after[name]);
                assert!(
                    moved,
                    "{backend_kind:?}: the EMA codebook did not move in training mode"
                );
            }
        }
    }
}

#[test]
fn paper_protocol_skips_frozen_epochs_but_runs_the_ema_through_them() {
    for (quantizer, mode) in [
        (QuantizerKind::Lattice, EpochMode::Skipped),
        (QuantizerKind::VqEma, EpochMode::EmaOnly),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut options = smoke_options(dir.path(), quantizer, backends()[0], 3);
        options.protocol = Protocol::Paper;
        options.epochs = 2;
        let result = run(&options).unwrap();
        let modes: Vec<EpochMode> = result.epochs.iter().map(|e| e.mode).collect();
        assert_eq!(modes, [EpochMode::Trained, mode], "{quantizer}");
        assert_eq!(result.epochs[1].lr, 0.0);
        assert_eq!(result.epochs[1].steps, 0);
        let batches = if mode == EpochMode::Skipped { 0 } else { 3 };
        assert_eq!(result.epochs[1].batches, batches, "{quantizer}");
    }
}

#[test]
fn the_protocols_learning_rates() {
    assert_eq!(Protocol::Paper.learning_rate(1e-3, 0), 1e-3);
    assert_eq!(Protocol::Paper.learning_rate(1e-3, 1), 0.0);
    assert_eq!(Protocol::Paper.learning_rate(1e-3, 4), 0.0);
    assert_eq!(Protocol::Fixed.learning_rate(1e-3, 4), 1e-3);
}

#[test]
fn the_papers_vector_count_differs_from_the_code_count_only_under_ema() {
    let batches: Vec<_> = (0..3).map(|_| synthetic_batch(8)).collect();
    for backend_kind in backends() {
        for quantizer in [
            QuantizerKind::Lattice,
            QuantizerKind::DenseLattice,
            QuantizerKind::Vq,
            QuantizerKind::VqEma,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let options = smoke_options(dir.path(), quantizer, backend_kind, 1);
            let mut backend = make_backend(&options).unwrap();
            // Train a little so the lattice codes are not all zero.
            backend
                .train_step(&batches[0], 1e-2, CodeKind::None)
                .unwrap();
            let (mut codes, mut vectors) = (None, None);
            for batch in &batches {
                let rows = backend.quantize(batch, false, CodeKind::Codes).unwrap();
                rows.count_into(&mut codes).unwrap();
                let rows = backend.quantize(batch, true, CodeKind::Vectors).unwrap();
                assert_eq!(rows.dim, 64);
                rows.count_into(&mut vectors).unwrap();
            }
            let (codes, vectors) = (codes.unwrap().len(), vectors.unwrap().len());
            if quantizer == QuantizerKind::VqEma {
                // The same indices name new vectors after every update.
                assert!(
                    vectors > codes,
                    "{backend_kind:?}: {vectors} vectors, {codes} codes"
                );
            } else {
                assert_eq!(vectors, codes, "{backend_kind:?} {quantizer}");
            }
        }
    }
}
