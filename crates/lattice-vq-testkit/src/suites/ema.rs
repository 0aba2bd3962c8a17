//! VQ-EMA: one update on a hand-worked example, no update in eval mode, and training steps
//! that follow the reference step ([`oracle::ema_step`]). Replaces the adapters'
//! `tests/ema.rs`.

use lattice_vq_core::{QuantizerConfig, VectorQuantizerEmaConfig};

use super::support::{array, assert_close, layer, matrix, vector};
use crate::backend::Backend;
use crate::inputs::uniform;
use crate::oracle;
use crate::types::{DType, EmaState, Input};

fn tiny<B: Backend>(backend: &B) -> (VectorQuantizerEmaConfig, B::Quantizer) {
    let config = VectorQuantizerEmaConfig::new(2, 1)
        .with_decay(0.5)
        .with_epsilon(1e-3);
    let mut vq = layer(
        backend,
        QuantizerConfig::VqEma(config),
        DType::F32,
        &[0.0, 10.0],
    );
    backend
        .set_ema(
            &mut vq,
            matrix(&[1.0, 2.0], 2, 1).view(),
            vector(&[0.0, 0.0]).view(),
        )
        .unwrap();
    (config, vq)
}

fn ema_state<B: Backend>(backend: &B, layer: &B::Quantizer) -> EmaState {
    backend
        .state(layer)
        .unwrap()
        .ema
        .unwrap_or_else(|| panic!("{}: a VQ-EMA layer without EMA state", backend.name()))
}

fn assert_state(what: &str, got: &EmaState, expected: &EmaState, tolerance: f64) {
    assert_close(
        &format!("{what}: cluster size"),
        got.cluster_size.iter(),
        expected.cluster_size.iter(),
        tolerance,
    );
    assert_close(
        &format!("{what}: ema_w"),
        got.ema_w.iter(),
        expected.ema_w.iter(),
        tolerance,
    );
    assert_close(
        &format!("{what}: codebook"),
        got.codebook.iter(),
        expected.codebook.iter(),
        tolerance,
    );
}

/// Rows 1 and 2 go to codeword 0, row 9 to codeword 1; they are quantized with the codebook
/// before the update; the state moves by one step; the loss is `0.25 * mean((e - z)^2)`.
pub fn one_training_update_matches_the_formula<B: Backend>(backend: &B) {
    let name = backend.name();
    let (config, mut vq) = tiny(backend);
    let before = ema_state(backend, &vq);
    let rows = [1.0f32, 2.0, 9.0];
    let out = backend
        .quantize(
            &mut vq,
            &Input::new(array(&rows, &[3, 1]), DType::F32),
            true,
        )
        .unwrap();
    let indices: Vec<i64> = out
        .codes
        .indices()
        .expect("indices")
        .iter()
        .copied()
        .collect();
    assert_eq!(indices, vec![0, 0, 1], "{name}: indices");
    assert_eq!(
        out.quantized.iter().copied().collect::<Vec<_>>(),
        vec![0.0, 0.0, 10.0]
    );
    let expected = oracle::ema_step(&config, &before, matrix(&rows, 3, 1).view(), &[0, 0, 1]);
    assert_state(&name, &ema_state(backend, &vq), &expected, 1e-5);
    assert!(
        (out.loss - 0.25 * 2.0).abs() < 1e-6,
        "{name}: loss {}",
        out.loss
    );
}

/// In eval mode the codebook and both averages stay as they were, bit for bit.
pub fn eval_mode_changes_nothing<B: Backend>(backend: &B) {
    let (_, mut vq) = tiny(backend);
    let before = backend.state(&vq).unwrap();
    let rows = [1.0f32, 2.0, 9.0, 4.0, 7.0, -3.0];
    backend
        .quantize(
            &mut vq,
            &Input::new(array(&rows, &[6, 1]), DType::F32),
            false,
        )
        .unwrap();
    assert_eq!(backend.state(&vq).unwrap(), before, "{}", backend.name());
}

/// Three training steps on a 12 x 3 codebook, in f32 and f64, each from the state the
/// layer reached: each step equals the reference step for the indices the layer chose
/// (which must be the core's nearest codewords), some codewords unused.
pub fn training_updates_follow_the_reference_step<B: Backend>(backend: &B) {
    let name = backend.name();
    let (k, dim, n) = (12, 3, 20);
    let config = VectorQuantizerEmaConfig::new(k, dim)
        .with_decay(0.9)
        .with_epsilon(1e-5)
        .with_commitment_cost(0.5);
    for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let mut vq = layer(
            backend,
            QuantizerConfig::VqEma(config),
            dtype,
            &uniform(k * dim, 3.0, 31),
        );
        let ema_w = uniform(k * dim, 3.0, 32);
        let cluster: Vec<f32> = (0..k).map(|i| (i % 4) as f32 * 0.5).collect();
        backend
            .set_ema(
                &mut vq,
                matrix(&ema_w, k, dim).view(),
                vector(&cluster).view(),
            )
            .unwrap();
        for step in 0..3u64 {
            let what = format!("{name} {dtype:?} step {step}");
            let before = ema_state(backend, &vq);
            // Rows in half the codebook's range: some codewords go unused.
            let values = uniform(n * dim, 1.5, 40 + step);
            let rows = matrix(&values, n, dim);
            let indices = oracle::nearest(before.codebook.view(), rows.view(), dtype == DType::F64);
            let out = backend
                .quantize(&mut vq, &Input::new(array(&values, &[n, dim]), dtype), true)
                .unwrap();
            let got: Vec<usize> = out
                .codes
                .indices()
                .unwrap()
                .iter()
                .map(|&i| i as usize)
                .collect();
            assert_eq!(got, indices, "{what}: indices");
            let expected = oracle::ema_step(&config, &before, rows.view(), &indices);
            assert_state(&what, &ema_state(backend, &vq), &expected, tolerance);
            let loss = oracle::vq_loss(
                config.commitment_cost,
                true,
                before.codebook.view(),
                rows.view(),
                &indices,
                rows.view(),
            );
            let parts = [out.parts.embedding, out.parts.commitment, out.loss];
            let want = [0.0, loss.parts.commitment, loss.loss];
            assert_close(
                &format!("{what}: loss"),
                parts.iter(),
                want.iter(),
                tolerance,
            );
        }
    }
}
