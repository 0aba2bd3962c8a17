//! The losses of the two VQ baselines (VQ-VAE, Van den Oord et al. 2017, the paper's Eq. 2
//! for the codebook) with the official code's reductions, and their gradients: the
//! specification the tch and candle `VectorQuantizer` and `VectorQuantizerEma` layers
//! follow.
//!
//! With `N` latent rows `z_n` of length `D`, assignments `k_n` (from
//! [`crate::vq::nearest_codewords`]) and `e_n = E[k_n]` the assigned codewords:
//!
//! | part | value | gradient |
//! |---|---|---|
//! | embedding | `mean((e - sg(z))^2)` over all `N*D` elements | to codeword `k`: `2/(ND) sum_{n: k_n = k} (E_k - z_n)`; none to `z` |
//! | commitment | `mean((sg(e) - z)^2)`, weighted by `commitment_cost` (beta) | to `z`: `2/(ND) (z - e)`; none to the codebook |
//!
//! VQ loss = embedding + beta * commitment. The VQ-EMA baseline has no embedding loss (its
//! codebook follows [`crate::ema::EmaCodebook`]): its loss is beta * commitment. As in
//! [`crate::loss`], sums are accumulated in `f64` whatever `F` is; the decoder receives the
//! straight-through output [`crate::loss::straight_through`] of `(z, e)`.

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::config::{VectorQuantizerConfig, VectorQuantizerEmaConfig};
use crate::error::{Error, Result};
use crate::float::{LatticeFloat, from_f64, to_f64};
use crate::loss::{commitment_loss_latent_grad, embedding_loss};
use crate::shape::{check_rows, check_same_shape};

/// The parts of a VQ baseline's loss, each unweighted, and their weighted total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VqLoss<F> {
    /// `mean((e - sg(z))^2)` (zero for VQ-EMA, which has no embedding loss).
    pub embedding: F,
    /// `mean((sg(e) - z)^2)`, before the `commitment_cost` weight.
    pub commitment: F,
    /// `embedding + commitment_cost * commitment` (VQ-EMA: `commitment_cost * commitment`).
    pub total: F,
}

/// Gradients of [`vq_loss`]'s total.
#[derive(Debug, Clone, PartialEq)]
pub struct VqGradients<F> {
    /// `d(total)/dE`, shape `(K, D)`: the embedding part; zero rows for unused codewords.
    pub codebook: Array2<F>,
    /// `d(total)/dz`, shape `(N, D)`: the weighted commitment part.
    pub latents: Array2<F>,
}

/// The assigned codewords `e_n = E[k_n]`, shape `(N, D)`.
///
/// # Shapes
/// `codebook`: `(K, D)`, `K >= 1`; `indices`: `(N,)`, `N >= 1`.
///
/// # Errors
/// [`Error::EmptyInput`] for an empty codebook or batch, [`Error::IndexOutOfRange`] for an
/// index `>= K`.
///
/// # Example
/// ```
/// use lattice_vq_core::vq_loss::assigned_codewords;
/// use ndarray::array;
///
/// let codebook = array![[0.0f32, 1.0], [2.0, 3.0]];
/// let e = assigned_codewords(codebook.view(), array![1, 1, 0].view())?;
/// assert_eq!(e, array![[2.0, 3.0], [2.0, 3.0], [0.0, 1.0]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn assigned_codewords<F: LatticeFloat>(
    codebook: ArrayView2<F>,
    indices: ArrayView1<usize>,
) -> Result<Array2<F>> {
    if codebook.nrows() == 0 {
        return Err(Error::EmptyInput { what: "codebook" });
    }
    if indices.is_empty() {
        return Err(Error::EmptyInput { what: "indices" });
    }
    check_indices(indices, codebook.nrows())?;
    let mut points = Array2::zeros((indices.len(), codebook.ncols()));
    for (mut row, &k) in points.outer_iter_mut().zip(indices) {
        row.assign(&codebook.row(k));
    }
    Ok(points)
}

/// The VQ-VAE loss for one batch: embedding + beta * commitment, with `points` the
/// assigned codewords (from [`assigned_codewords`]).
///
/// # Shapes
/// `latents`, `points`: `(N, D)`, `N >= 1`, `D = config.dim`.
///
/// # Errors
/// An invalid `config` ([`VectorQuantizerConfig::validate`]), [`Error::ShapeMismatch`],
/// [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::{vq_loss::vq_loss, VectorQuantizerConfig};
/// use ndarray::array;
///
/// let config = VectorQuantizerConfig::new(2, 1);
/// let loss = vq_loss(&config, array![[1.0f64], [3.0]].view(), array![[0.0], [2.0]].view())?;
/// assert_eq!((loss.embedding, loss.commitment), (1.0, 1.0));
/// assert_eq!(loss.total, 1.0 + 0.25 * 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn vq_loss<F: LatticeFloat>(
    config: &VectorQuantizerConfig,
    latents: ArrayView2<F>,
    points: ArrayView2<F>,
) -> Result<VqLoss<F>> {
    config.validate()?;
    check_rows(config.dim, "latents", latents.shape())?;
    let embedding = embedding_loss(latents, points)?;
    let commitment = embedding;
    let total = to_f64(embedding) + config.commitment_cost * to_f64(commitment);
    Ok(VqLoss {
        embedding,
        commitment,
        total: from_f64(total),
    })
}

/// The VQ-EMA loss for one batch: beta * commitment only (embedding reported as zero).
///
/// # Shapes
/// `latents`, `points`: `(N, D)`, `N >= 1`, `D = config.dim`.
///
/// # Errors
/// An invalid `config` ([`VectorQuantizerEmaConfig::validate`]), [`Error::ShapeMismatch`],
/// [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::{vq_loss::vq_ema_loss, VectorQuantizerEmaConfig};
/// use ndarray::array;
///
/// let config = VectorQuantizerEmaConfig::new(2, 1);
/// let loss = vq_ema_loss(&config, array![[1.0f64], [2.0], [9.0]].view(),
///     array![[0.0], [0.0], [10.0]].view())?;
/// assert_eq!((loss.embedding, loss.commitment), (0.0, 2.0));
/// assert_eq!(loss.total, 0.25 * 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn vq_ema_loss<F: LatticeFloat>(
    config: &VectorQuantizerEmaConfig,
    latents: ArrayView2<F>,
    points: ArrayView2<F>,
) -> Result<VqLoss<F>> {
    config.validate()?;
    check_rows(config.dim, "latents", latents.shape())?;
    let commitment = crate::loss::commitment_loss(latents, points)?;
    Ok(VqLoss {
        embedding: F::zero(),
        commitment,
        total: from_f64(config.commitment_cost * to_f64(commitment)),
    })
}

/// Gradients of [`vq_loss`]'s total with respect to the codebook (given the assignments,
/// held constant) and to the latents.
///
/// # Shapes
/// `codebook`: `(K, D)` with `K = config.codebook_size`, `D = config.dim`; `latents`:
/// `(N, D)`, `N >= 1`; `indices`: `(N,)`. Returns codebook `(K, D)` and latents `(N, D)`.
///
/// # Errors
/// An invalid `config`, [`Error::ShapeMismatch`], [`Error::EmptyInput`],
/// [`Error::IndexOutOfRange`].
///
/// # Example
/// ```
/// use lattice_vq_core::{vq_loss::vq_gradients, VectorQuantizerConfig};
/// use ndarray::array;
///
/// let config = VectorQuantizerConfig::new(2, 1);
/// let codebook = array![[0.0f64], [2.0]];
/// let grads = vq_gradients(&config, codebook.view(), array![[1.0], [3.0]].view(),
///     array![0, 1].view())?;
/// // 2/(ND) (E_k - z_n), N*D = 2: codeword 0 gets -1, codeword 1 gets -1.
/// assert_eq!(grads.codebook, array![[-1.0], [-1.0]]);
/// assert_eq!(grads.latents, array![[0.25], [0.25]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn vq_gradients<F: LatticeFloat>(
    config: &VectorQuantizerConfig,
    codebook: ArrayView2<F>,
    latents: ArrayView2<F>,
    indices: ArrayView1<usize>,
) -> Result<VqGradients<F>> {
    config.validate()?;
    check_same_shape(
        "codebook",
        codebook.shape(),
        &[config.codebook_size, config.dim],
    )?;
    check_rows(config.dim, "latents", latents.shape())?;
    check_same_shape("indices", indices.shape(), &[latents.nrows()])?;
    check_indices(indices, config.codebook_size)?;
    let mut sums = Array2::<f64>::zeros(codebook.raw_dim());
    for (z, &k) in latents.outer_iter().zip(indices) {
        for ((sum, &e), &z) in sums.row_mut(k).iter_mut().zip(codebook.row(k)).zip(z) {
            *sum += to_f64(e) - to_f64(z);
        }
    }
    let scale = 2.0 / latents.len() as f64;
    let codebook_grad = sums.mapv(|sum| from_f64(scale * sum));
    let points = assigned_codewords(codebook, indices)?;
    let beta = from_f64::<F>(config.commitment_cost);
    let latents = commitment_loss_latent_grad(latents, points.view())?.mapv(|g| beta * g);
    Ok(VqGradients {
        codebook: codebook_grad,
        latents,
    })
}

/// Require every index below `codebook_size`.
fn check_indices(indices: ArrayView1<usize>, codebook_size: usize) -> Result<()> {
    match indices.iter().position(|&k| k >= codebook_size) {
        Some(row) => Err(Error::IndexOutOfRange {
            row,
            index: indices[row],
            codebook_size,
        }),
        None => Ok(()),
    }
}
