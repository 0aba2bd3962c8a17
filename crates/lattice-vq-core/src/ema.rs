//! One update step of the VQ-EMA baseline's codebook (VQ-VAE appendix, as the official
//! code computes it): the specification the tch and candle `VectorQuantizerEma` layers
//! are tested against.
//!
//! With `K` codewords, the batch's rows `z_n` and their assignments `k_n` (nearest
//! codewords under the codebook *before* the step), `c_k` the count and `s_k` the sum of
//! the rows assigned to `k`:
//!
//! ```text
//! cs    = decay * cs + (1 - decay) * c              cluster sizes (K,)
//! n     = sum_k cs_k
//! cs    = (cs + eps) / (n + K * eps) * n            Laplace smoothing
//! ema_w = decay * ema_w + (1 - decay) * s           (K, D)
//! E     = ema_w / cs                                row k divided by cs_k
//! ```
//!
//! The smoothed sizes are stored (the official `ema_cluster_size` buffer).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};

use crate::config::VectorQuantizerEmaConfig;
use crate::error::{Error, Result};
use crate::float::{LatticeFloat, from_f64, to_f64};
use crate::shape::{check_rows, check_same_shape};

/// The state of a VQ-EMA codebook: the codebook `E` `(K, D)` (official
/// `embedding.weight`), the EMA of per-codeword sums `ema_w` `(K, D)` and the smoothed EMA
/// of per-codeword counts `cluster_size` `(K,)` (official `ema_cluster_size`).
///
/// # Arithmetic
/// Elementwise steps run in `F` in the order of the module's formulas, as the adapters'
/// tensor ops run them, with the scalars `decay`, `1 - decay`, `eps` and `K * eps`
/// computed in `f64` and rounded to `F` once. The batch reductions (counts, sums, the
/// total `n`) are accumulated in `f64` in row order and rounded to `F` once: a tensor
/// backend that reduces in another order agrees up to that rounding.
///
/// # Example
/// ```
/// use lattice_vq_core::{ema::EmaCodebook, VectorQuantizerEmaConfig};
/// use ndarray::array;
///
/// let config = VectorQuantizerEmaConfig::new(2, 1).with_decay(0.5).with_epsilon(1e-3);
/// let mut ema = EmaCodebook::new(config, array![[0.0f64], [10.0]], array![[1.0], [2.0]],
///     array![0.0, 0.0])?;
/// ema.step(array![[1.0], [2.0], [9.0]].view(), array![0, 0, 1].view())?;
/// let n = 0.5 * 2.0 + 0.5 * 1.0;
/// let cs0 = (1.0 + 1e-3) / (n + 2.0 * 1e-3) * n;
/// assert_eq!(ema.cluster_size()[0], cs0);
/// assert_eq!(ema.ema_w()[[0, 0]], 0.5 * 1.0 + 0.5 * 3.0);
/// assert_eq!(ema.codebook()[[0, 0]], 2.0 / cs0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EmaCodebook<F> {
    config: VectorQuantizerEmaConfig,
    codebook: Array2<F>,
    ema_w: Array2<F>,
    cluster_size: Array1<F>,
}

impl<F: LatticeFloat> EmaCodebook<F> {
    /// The state from its three tensors (for a fresh layer: `codebook` and `ema_w` drawn
    /// `N(0, 1)`, `cluster_size` zeros, in that order, as the adapters create them).
    ///
    /// # Shapes
    /// `codebook`, `ema_w`: `(K, D)`; `cluster_size`: `(K,)`, with `K = config.codebook_size`,
    /// `D = config.dim`.
    ///
    /// # Errors
    /// An invalid `config` ([`VectorQuantizerEmaConfig::validate`]),
    /// [`Error::ShapeMismatch`].
    pub fn new(
        config: VectorQuantizerEmaConfig,
        codebook: Array2<F>,
        ema_w: Array2<F>,
        cluster_size: Array1<F>,
    ) -> Result<Self> {
        config.validate()?;
        let rows = [config.codebook_size, config.dim];
        check_same_shape("codebook", codebook.shape(), &rows)?;
        check_same_shape("ema_w", ema_w.shape(), &rows)?;
        check_same_shape(
            "ema_cluster_size",
            cluster_size.shape(),
            &[config.codebook_size],
        )?;
        Ok(Self {
            config,
            codebook,
            ema_w,
            cluster_size,
        })
    }

    /// The config.
    pub fn config(&self) -> &VectorQuantizerEmaConfig {
        &self.config
    }

    /// The codebook `E`, `(K, D)`.
    pub fn codebook(&self) -> ArrayView2<'_, F> {
        self.codebook.view()
    }

    /// The EMA of per-codeword sums, `(K, D)`.
    pub fn ema_w(&self) -> ArrayView2<'_, F> {
        self.ema_w.view()
    }

    /// The smoothed EMA of per-codeword counts, `(K,)`.
    pub fn cluster_size(&self) -> ArrayView1<'_, F> {
        self.cluster_size.view()
    }

    /// One training step with the batch's `rows` and their codeword `indices` (chosen with
    /// the codebook before this step). Eval mode does not call it.
    ///
    /// # Shapes
    /// `rows`: `(N, D)`, `N >= 1`; `indices`: `(N,)`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::EmptyInput`], [`Error::IndexOutOfRange`]; the
    /// state is unchanged on error.
    pub fn step(&mut self, rows: ArrayView2<F>, indices: ArrayView1<usize>) -> Result<()> {
        let k = self.config.codebook_size;
        check_rows(self.config.dim, "rows", rows.shape())?;
        check_same_shape("indices", indices.shape(), &[rows.nrows()])?;
        if let Some(row) = indices.iter().position(|&index| index >= k) {
            return Err(Error::IndexOutOfRange {
                row,
                index: indices[row],
                codebook_size: k,
            });
        }
        let mut counts = vec![0.0f64; k];
        let mut sums = Array2::<f64>::zeros((k, self.config.dim));
        for (row, &index) in rows.outer_iter().zip(indices) {
            counts[index] += 1.0;
            for (sum, &z) in sums.row_mut(index).iter_mut().zip(row) {
                *sum += to_f64(z);
            }
        }
        let decay = from_f64::<F>(self.config.decay);
        let keep = from_f64::<F>(1.0 - self.config.decay);
        let epsilon = from_f64::<F>(self.config.epsilon);
        let k_epsilon = from_f64::<F>(k as f64 * self.config.epsilon);

        let raw: Vec<F> = self
            .cluster_size
            .iter()
            .zip(&counts)
            .map(|(&cs, &c)| cs * decay + from_f64::<F>(c) * keep)
            .collect();
        let total = from_f64::<F>(raw.iter().map(|&cs| to_f64(cs)).sum::<f64>());
        let denominator = total + k_epsilon;
        let smoothed: Array1<F> = raw
            .iter()
            .map(|&cs| (cs + epsilon) / denominator * total)
            .collect();
        let ema_w = Zip::from(&self.ema_w)
            .and(&sums)
            .map_collect(|&w, &s| w * decay + from_f64::<F>(s) * keep);
        let mut codebook = ema_w.clone();
        for (mut row, &cs) in codebook.outer_iter_mut().zip(&smoothed) {
            row.mapv_inplace(|w| w / cs);
        }
        self.cluster_size = smoothed;
        self.ema_w = ema_w;
        self.codebook = codebook;
        Ok(())
    }
}
