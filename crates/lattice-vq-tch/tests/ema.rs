//! VQ-EMA: one update on a hand-worked example, and no update in eval mode.

use crate::support::*;
use lattice_vq_core::VectorQuantizerEmaConfig;
use lattice_vq_tch::{Quantizer, VectorQuantizerEma};
use tch::{Tensor, nn};

fn tiny() -> (nn::VarStore, VectorQuantizerEma) {
    let vs = nn::VarStore::new(CPU);
    let config = VectorQuantizerEmaConfig::new(2, 1)
        .with_decay(0.5)
        .with_epsilon(1e-3);
    let vq = VectorQuantizerEma::new(&vs.root(), &config).unwrap();
    tch::no_grad(|| {
        vq.codebook()
            .shallow_clone()
            .copy_(&tensor(&[0.0, 10.0], &[2, 1]));
        vq.ema_w()
            .shallow_clone()
            .copy_(&tensor(&[1.0, 2.0], &[2, 1]));
        vq.cluster_size()
            .shallow_clone()
            .copy_(&Tensor::from_slice(&[0.0f32, 0.0]));
    });
    (vs, vq)
}

#[test]
fn one_training_update_matches_the_formula() {
    single_thread();
    let (_vs, vq) = tiny();
    // Rows 1 and 2 go to codeword 0, row 9 to codeword 1 (distances to 0 and 10).
    let out = vq
        .quantize(&tensor(&[1.0, 2.0, 9.0], &[3, 1]), true)
        .unwrap();
    assert_eq!(
        Vec::<i64>::try_from(out.codes.tensor()).unwrap(),
        vec![0, 0, 1]
    );
    // Quantized with the codebook before the update.
    assert_eq!(
        Vec::<f32>::try_from(out.quantized.view([-1])).unwrap(),
        vec![0.0, 0.0, 10.0]
    );

    let (decay, eps, k) = (0.5f64, 1e-3f64, 2.0f64);
    let counts = [2.0, 1.0];
    let sums = [3.0, 9.0];
    let raw: Vec<f64> = counts
        .iter()
        .map(|c| decay * 0.0 + (1.0 - decay) * c)
        .collect();
    let n: f64 = raw.iter().sum();
    let cluster: Vec<f64> = raw.iter().map(|c| (c + eps) / (n + k * eps) * n).collect();
    let ema_w: Vec<f64> = [1.0, 2.0]
        .iter()
        .zip(sums)
        .map(|(w, s)| decay * w + (1.0 - decay) * s)
        .collect();
    let codebook: Vec<f64> = ema_w.iter().zip(&cluster).map(|(w, c)| w / c).collect();

    let check = |t: &Tensor, expected: &[f64]| {
        let got = Vec::<f32>::try_from(t.view([-1])).unwrap();
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (f64::from(*g) - e).abs() < 1e-5 * e.abs().max(1.0),
                "{got:?} vs {expected:?}"
            );
        }
    };
    check(vq.cluster_size(), &cluster);
    check(vq.ema_w(), &ema_w);
    check(vq.codebook(), &codebook);
    // Commitment-only loss: 0.25 * mean((e - z)^2) = 0.25 * (1 + 4 + 1) / 3.
    assert!((out.loss.double_value(&[]) - 0.25 * 2.0).abs() < 1e-6);
}

#[test]
fn eval_mode_changes_nothing() {
    single_thread();
    let (_vs, vq) = tiny();
    let before = [
        vq.codebook().copy(),
        vq.ema_w().copy(),
        vq.cluster_size().copy(),
    ];
    vq.quantize(&tensor(&[1.0, 2.0, 9.0, 4.0, 7.0, -3.0], &[6, 1]), false)
        .unwrap();
    assert!(vq.codebook().equal(&before[0]));
    assert!(vq.ema_w().equal(&before[1]));
    assert!(vq.cluster_size().equal(&before[2]));
}
