//! The expected numbers, all from lattice-vq-core (the spec): quantization, the lattice
//! losses and their gradients, the VQ losses and gradients (`lattice_vq_core::vq_loss`) and
//! the VQ-EMA step (`lattice_vq_core::ema::EmaCodebook`). This module only shapes the core's
//! answers into what the suites compare.

use lattice_vq_core::ema::EmaCodebook;
use lattice_vq_core::{VectorQuantizerConfig, VectorQuantizerEmaConfig, vq, vq_loss as spec};
use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::types::{EmaState, LossParts};

/// One VQ-EMA training step in f64: the core's [`EmaCodebook::step`] from `state`.
///
/// # Panics
/// On the core's error (the callers pass valid states, rows and indices).
pub fn ema_step(
    config: &VectorQuantizerEmaConfig,
    state: &EmaState,
    rows: ArrayView2<f64>,
    indices: &[usize],
) -> EmaState {
    let mut codebook = EmaCodebook::new(
        *config,
        state.codebook.clone(),
        state.ema_w.clone(),
        state.cluster_size.clone(),
    )
    .expect("a valid EMA state");
    codebook
        .step(rows, ArrayView1::from(indices))
        .expect("rows and indices of the codebook");
    EmaState {
        codebook: codebook.codebook().to_owned(),
        ema_w: codebook.ema_w().to_owned(),
        cluster_size: codebook.cluster_size().to_owned(),
    }
}

/// The VQ layer's loss and the gradients of `sum(quantized * upstream) + loss` with respect to
/// the codebook and the latents, in f64, from the core's `vq_loss`, `vq_ema_loss` and
/// `vq_gradients` (VQ-EMA: no embedding term and no codebook gradient).
///
/// # Panics
/// On the core's error (the callers pass valid inputs).
pub fn vq_loss(
    commitment_cost: f64,
    ema: bool,
    codebook: ArrayView2<f64>,
    rows: ArrayView2<f64>,
    indices: &[usize],
    upstream: ArrayView2<f64>,
) -> VqLoss {
    let (codebook_size, dim) = codebook.dim();
    let indices = ArrayView1::from(indices);
    let points = spec::assigned_codewords(codebook, indices).expect("indices of the codebook");
    let (loss, codebook_grad, latents_grad) = if ema {
        let config =
            VectorQuantizerEmaConfig::new(codebook_size, dim).with_commitment_cost(commitment_cost);
        let loss = spec::vq_ema_loss(&config, rows, points.view()).expect("matching shapes");
        let gradients = spec::vq_gradients(
            &VectorQuantizerConfig::new(codebook_size, dim).with_commitment_cost(commitment_cost),
            codebook,
            rows,
            indices,
        )
        .expect("matching shapes");
        (loss, Array2::zeros(codebook.raw_dim()), gradients.latents)
    } else {
        let config =
            VectorQuantizerConfig::new(codebook_size, dim).with_commitment_cost(commitment_cost);
        let loss = spec::vq_loss(&config, rows, points.view()).expect("matching shapes");
        let gradients =
            spec::vq_gradients(&config, codebook, rows, indices).expect("matching shapes");
        (loss, gradients.codebook, gradients.latents)
    };
    VqLoss {
        parts: LossParts {
            embedding: loss.embedding,
            commitment: loss.commitment,
            size: 0.0,
        },
        loss: loss.total,
        codebook_grad,
        latents_grad: &upstream + &latents_grad,
    }
}

/// What [`vq_loss`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct VqLoss {
    /// The unweighted terms.
    pub parts: LossParts,
    /// The weighted total.
    pub loss: f64,
    /// The gradient with respect to the codebook `(K, D)`.
    pub codebook_grad: Array2<f64>,
    /// The gradient with respect to the latents `(N, D)`.
    pub latents_grad: Array2<f64>,
}

/// The core's nearest codewords for f64 values that are exact in f32, computed in f32
/// (`wide = false`) or f64 (as a layer of that dtype must find them).
///
/// # Panics
/// On the core's error (the callers pass valid inputs).
pub fn nearest(codebook: ArrayView2<f64>, rows: ArrayView2<f64>, wide: bool) -> Vec<usize> {
    if wide {
        vq::nearest_codewords(codebook, rows)
    } else {
        let narrow = |a: ArrayView2<f64>| a.mapv(|x| x as f32);
        vq::nearest_codewords(narrow(codebook).view(), narrow(rows).view())
    }
    .expect("finite codebook and rows")
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The hand-worked step of the adapters' former tests/ema.rs.
    #[test]
    fn ema_step_is_the_hand_worked_example() {
        let config = VectorQuantizerEmaConfig::new(2, 1)
            .with_decay(0.5)
            .with_epsilon(1e-3);
        let state = EmaState {
            codebook: array![[0.0], [10.0]],
            ema_w: array![[1.0], [2.0]],
            cluster_size: array![0.0, 0.0],
        };
        let next = ema_step(
            &config,
            &state,
            array![[1.0], [2.0], [9.0]].view(),
            &[0, 0, 1],
        );
        let (decay, eps, k) = (0.5f64, 1e-3f64, 2.0f64);
        let raw: Vec<f64> = [2.0, 1.0].iter().map(|c| (1.0 - decay) * c).collect();
        let n: f64 = raw.iter().sum();
        let cluster: Vec<f64> = raw.iter().map(|c| (c + eps) / (n + k * eps) * n).collect();
        let ema_w = [
            decay * 1.0 + (1.0 - decay) * 3.0,
            decay * 2.0 + (1.0 - decay) * 9.0,
        ];
        assert_eq!(next.cluster_size.to_vec(), cluster);
        assert_eq!(next.ema_w.iter().copied().collect::<Vec<_>>(), ema_w);
        let codebook: Vec<f64> = ema_w.iter().zip(&cluster).map(|(w, c)| w / c).collect();
        assert_eq!(next.codebook.iter().copied().collect::<Vec<_>>(), codebook);
    }

    #[test]
    fn vq_loss_of_one_row() {
        let out = vq_loss(
            0.25,
            false,
            array![[0.0, 0.0], [1.0, 1.0]].view(),
            array![[0.5, 1.5]].view(),
            &[1],
            array![[1.0, -1.0]].view(),
        );
        assert_eq!(out.parts.embedding, 0.25);
        assert_eq!(out.loss, 0.25 + 0.25 * 0.25);
        assert_eq!(out.codebook_grad, array![[0.0, 0.0], [0.5, -0.5]]);
        assert_eq!(out.latents_grad, array![[1.0 - 0.125, -1.0 + 0.125]]);
    }
}
