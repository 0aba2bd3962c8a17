//! The expected numbers. Quantization, the lattice losses and their gradients come from
//! lattice-vq-core (the spec); the VQ-EMA step and the VQ losses are local reference
//! implementations until the core specifies them. Each is one function, [`ema_step`] and
//! [`vq_loss`]: swap its body for the core's call when the core gains it.

use lattice_vq_core::{VectorQuantizerEmaConfig, vq};
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::types::{EmaState, LossParts};

/// One VQ-EMA training step, in f64, as crates/lattice-vq-tch/src/vq_ema.rs documents it
/// (the official code's update), with `c` the per-codeword counts and `s` the per-codeword
/// sums of the batch's rows assigned by `indices`:
///
/// `cs = decay cs + (1 - decay) c;  n = sum(cs);  cs = (cs + eps) / (n + K eps) n;`
/// `ema_w = decay ema_w + (1 - decay) s;  E = ema_w / cs`.
///
/// SWAP: replace the body with lattice-vq-core's EMA-step spec once it exists.
pub fn ema_step(
    config: &VectorQuantizerEmaConfig,
    state: &EmaState,
    rows: ArrayView2<f64>,
    indices: &[usize],
) -> EmaState {
    let (decay, eps) = (config.decay, config.epsilon);
    let k = state.codebook.nrows();
    let mut counts = Array1::<f64>::zeros(k);
    let mut sums = Array2::<f64>::zeros(state.ema_w.raw_dim());
    for (row, &index) in rows.axis_iter(Axis(0)).zip(indices) {
        counts[index] += 1.0;
        let mut sum = sums.row_mut(index);
        sum += &row;
    }
    let raw = &state.cluster_size * decay + &counts * (1.0 - decay);
    let n = raw.sum();
    let cluster_size = raw.mapv(|c| (c + eps) / (n + k as f64 * eps) * n);
    let ema_w = &state.ema_w * decay + &sums * (1.0 - decay);
    let codebook = &ema_w / &cluster_size.view().insert_axis(Axis(1));
    EmaState {
        codebook,
        ema_w,
        cluster_size,
    }
}

/// The VQ layer's loss and gradients, in f64: `embedding = mean((e - sg z)^2)`,
/// `commitment = mean((sg e - z)^2)` over all `N * D` elements,
/// `loss = embedding + beta * commitment` (VQ-EMA: `beta * commitment` alone, `embedding`
/// reported as zero), and the gradients of `sum(quantized * upstream) + loss` with respect
/// to the codebook (`2 (e_k - z) / (N D)` summed over the rows assigned to `k`; zero for
/// VQ-EMA) and the latents (`upstream + beta 2 (z - e) / (N D)`).
///
/// SWAP: replace the body with lattice-vq-core's VQ-loss spec once it exists.
pub fn vq_loss(
    commitment_cost: f64,
    ema: bool,
    codebook: ArrayView2<f64>,
    rows: ArrayView2<f64>,
    indices: &[usize],
    upstream: ArrayView2<f64>,
) -> VqLoss {
    let points = codebook.select(Axis(0), indices);
    let count = rows.len() as f64;
    let difference = &points - &rows;
    let mse = difference.mapv(|d| d * d).sum() / count;
    let mut codebook_grad = Array2::<f64>::zeros(codebook.raw_dim());
    if !ema {
        for (d, &index) in difference.axis_iter(Axis(0)).zip(indices) {
            let mut g = codebook_grad.row_mut(index);
            g.scaled_add(2.0 / count, &d);
        }
    }
    let latents_grad = &upstream - &(&difference * (commitment_cost * 2.0 / count));
    let parts = LossParts {
        embedding: if ema { 0.0 } else { mse },
        commitment: mse,
        size: 0.0,
    };
    let loss = parts.embedding + commitment_cost * mse;
    VqLoss {
        parts,
        loss,
        codebook_grad,
        latents_grad,
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
