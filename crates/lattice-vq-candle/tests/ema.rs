//! VQ-EMA: one update on a hand-worked example, and no update in eval mode.

use crate::support::*;
use candle_core::{DType, Tensor};
use lattice_vq_candle::{Quantizer, VectorQuantizerEma, vector_quantizer_ema};
use lattice_vq_core::VectorQuantizerEmaConfig;

fn tiny() -> (candle_nn::VarMap, VectorQuantizerEma) {
    let (varmap, vb) = var_builder();
    let config = VectorQuantizerEmaConfig::new(2, 1)
        .with_decay(0.5)
        .with_epsilon(1e-3);
    let vq = vector_quantizer_ema(&config, vb).unwrap();
    set(vq.codebook(), &tensor(&[0.0, 10.0], &[2, 1]));
    set(vq.ema_w(), &tensor(&[1.0, 2.0], &[2, 1]));
    set(vq.cluster_size(), &tensor(&[0.0, 0.0], &[2]));
    (varmap, vq)
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn one_training_update_matches_the_formula() {
    let (_varmap, vq) = tiny();
    let out = vq
        .quantize(&tensor(&[1.0, 2.0, 9.0], &[3, 1]), true)
        .unwrap();
    assert_eq!(out.codes.tensor().to_vec1::<i64>().unwrap(), vec![0, 0, 1]);
    assert_eq!(values(&out.quantized), vec![0.0, 0.0, 10.0]);

    let (decay, eps, k) = (0.5f64, 1e-3f64, 2.0f64);
    let raw: Vec<f64> = [2.0, 1.0].iter().map(|c| (1.0 - decay) * c).collect();
    let n: f64 = raw.iter().sum();
    let cluster: Vec<f64> = raw.iter().map(|c| (c + eps) / (n + k * eps) * n).collect();
    let ema_w: Vec<f64> = [1.0, 2.0]
        .iter()
        .zip([3.0, 9.0])
        .map(|(w, s)| decay * w + (1.0 - decay) * s)
        .collect();
    let codebook: Vec<f64> = ema_w.iter().zip(&cluster).map(|(w, c)| w / c).collect();
    let check = |t: &Tensor, expected: &[f64]| {
        let got = values(t);
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
    let loss = out.loss.to_scalar::<f32>().unwrap();
    assert!((f64::from(loss) - 0.25 * 2.0).abs() < 1e-6);
}

#[test]
fn eval_mode_changes_nothing() {
    let (_varmap, vq) = tiny();
    let before = [
        values(vq.codebook()),
        values(vq.ema_w()),
        values(vq.cluster_size()),
    ];
    vq.quantize(&tensor(&[1.0, 2.0, 9.0, 4.0, 7.0, -3.0], &[6, 1]), false)
        .unwrap();
    assert_eq!(values(vq.codebook()), before[0]);
    assert_eq!(values(vq.ema_w()), before[1]);
    assert_eq!(values(vq.cluster_size()), before[2]);
}
