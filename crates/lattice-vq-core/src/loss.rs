//! Losses of Eq. 7-8 with the official code's reductions, their gradients, and the
//! straight-through contract that every backend follows.
//!
//! # Reductions (as the official code computes them)
//! With `N` latent rows of length `D`, `z` the encoder output and `e = b * v` its lattice
//! point (`v` integer, held constant: rounding has zero gradient):
//!
//! | part | value | gradient |
//! |---|---|---|
//! | embedding | `mean((e - sg(z))^2)` over all `N*D` elements ([`embedding_loss`]) | `d/db_j = 2/(ND) sum_n (e_nj - z_nj) v_nj` ([`Lattice::embedding_loss_gradient`]); none to `z` |
//! | commitment | `mean((sg(e) - z)^2)`, weighted by `commitment_cost` (beta) ([`commitment_loss`]) | `d/dz = 2/(ND) (z - e)` ([`commitment_loss_latent_grad`]); none to `b` |
//! | size (Eq. 7) | `-sum_i abs(b_i)` (a sum, not a mean), weighted by `sparsity_cost` (gamma) ([`Lattice::size_loss`]) | `d/db_i = -sign(b_i)` ([`Lattice::size_loss_gradient`]) |
//!
//! Quantizer loss = embedding + beta * commitment + gamma * size. Sums are accumulated in
//! `f64` whatever `F` is, so an `f32` mean over millions of elements keeps its precision.
//! The functions here that take `(z, e)` are lattice-agnostic; the parts that depend on the
//! lattice's parameters are methods of [`Lattice`], so [`quantizer_loss`] and
//! [`quantizer_gradients`] work for any lattice. The VQ baselines' losses are in
//! [`crate::vq_loss`].
//!
//! # The straight-through contract
//! Every backend (tch, candle, or a hand-written training loop) must give the same numbers:
//! 1. The decoder receives `z + (e - z)` computed elementwise in `F` ([`straight_through`]):
//!    equal to `e` up to one rounding, and exactly what the official
//!    `inputs + (quantized - inputs).detach()` computes.
//! 2. The gradient of the reconstruction loss with respect to that output is passed to `z`
//!    unchanged; none of it reaches `b`.
//! 3. `z` additionally receives `beta * d(commitment)/dz` ([`encoder_gradient`]).
//! 4. `b` receives only `d(embedding)/db + gamma * d(size)/db`
//!    ([`QuantizerGradients::basis`]).

use ndarray::{Array1, Array2, ArrayView2, Zip};

use crate::config::LatticeQuantizerConfig;
use crate::error::{Error, Result};
use crate::float::{LatticeFloat, from_f64, to_f64};
use crate::lattice::{Lattice, Quantized};
use crate::shape::{check_rows, check_same_shape};

/// The parts of the quantizer loss, each unweighted, and their weighted total.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizerLoss<F> {
    /// `mean((e - sg(z))^2)`.
    pub embedding: F,
    /// `mean((sg(e) - z)^2)`, before the `commitment_cost` weight.
    pub commitment: F,
    /// `-||b||_1` (Eq. 7), before the `sparsity_cost` weight.
    pub size: F,
    /// `embedding + commitment_cost * commitment + sparsity_cost * size`.
    pub total: F,
}

/// Gradients of the quantizer loss (not of the reconstruction loss; see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizerGradients<F> {
    /// `d(total)/db`, shape `(D,)`: embedding and size parts.
    pub basis: Array1<F>,
    /// `d(total)/dz`, shape `(N, D)`: the weighted commitment part.
    pub latents: Array2<F>,
}

/// Embedding loss `mean((e - sg(z))^2)` over all `N*D` elements (Eq. 8, second term).
///
/// # Shapes
/// `latents`, `points`: `(N, D)`, `N*D >= 1`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the shapes differ, [`Error::EmptyInput`] if they are empty.
///
/// # Example
/// ```
/// use lattice_vq_core::loss::embedding_loss;
/// use ndarray::array;
///
/// let loss = embedding_loss(array![[0.4f32, 1.0]].view(), array![[0.0, 2.0]].view())?;
/// assert!((loss - (0.16 + 1.0) / 2.0).abs() < 1e-7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn embedding_loss<F: LatticeFloat>(latents: ArrayView2<F>, points: ArrayView2<F>) -> Result<F> {
    mean_squared_difference(latents, points)
}

/// Commitment loss `mean((sg(e) - z)^2)` (Eq. 8, third term, before its weight beta).
///
/// Same value as [`embedding_loss`]; the stop-gradient sends its gradient to `z` instead.
///
/// # Shapes
/// `latents`, `points`: `(N, D)`, `N*D >= 1`.
///
/// # Errors
/// [`Error::ShapeMismatch`], [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::loss::commitment_loss;
/// use ndarray::array;
///
/// let loss = commitment_loss(array![[3.0f64]].view(), array![[1.0]].view())?;
/// assert_eq!(loss, 4.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn commitment_loss<F: LatticeFloat>(
    latents: ArrayView2<F>,
    points: ArrayView2<F>,
) -> Result<F> {
    mean_squared_difference(latents, points)
}

/// `d(commitment)/dz = 2/(ND) (z - e)` (before the weight beta).
///
/// # Shapes
/// `latents`, `points`: `(N, D)`, `N*D >= 1`; returns `(N, D)`.
///
/// # Errors
/// [`Error::ShapeMismatch`], [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::loss::commitment_loss_latent_grad;
/// use ndarray::array;
///
/// let grad = commitment_loss_latent_grad(array![[3.0f64, 0.0]].view(), array![[1.0, 0.0]].view())?;
/// assert_eq!(grad, array![[2.0, 0.0]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn commitment_loss_latent_grad<F: LatticeFloat>(
    latents: ArrayView2<F>,
    points: ArrayView2<F>,
) -> Result<Array2<F>> {
    check_pair(latents, points)?;
    let scale = from_f64::<F>(2.0 / latents.len() as f64);
    Ok(Zip::from(latents)
        .and(points)
        .map_collect(|&z, &e| scale * (z - e)))
}

/// All parts of the quantizer loss for one batch (Eq. 8 without the reconstruction term).
///
/// # Shapes
/// `latents`: `(N, D)`; `quantized`: its codes and points from `lattice`.
///
/// # Errors
/// An invalid `config` ([`LatticeQuantizerConfig::validate`]), [`Error::ShapeMismatch`],
/// [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::{loss::quantizer_loss, DiagonalLattice, LatticeQuantizerConfig};
/// use ndarray::array;
///
/// let config = LatticeQuantizerConfig::new(512, 2);
/// let lattice = DiagonalLattice::<f64>::from_slice(&[1.0, 2.0])?;
/// let latents = array![[0.5, 2.5]];
/// let q = lattice.quantize(latents.view())?; // points [0, 2]
/// let loss = quantizer_loss(&config, &lattice, latents.view(), &q)?;
/// assert_eq!(loss.embedding, (0.25 + 0.25) / 2.0);
/// assert_eq!(loss.size, -3.0);
/// assert_eq!(loss.total, 0.25 + 0.25 * 0.25 - 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn quantizer_loss<F: LatticeFloat, L: Lattice<F>>(
    config: &LatticeQuantizerConfig,
    lattice: &L,
    latents: ArrayView2<F>,
    quantized: &Quantized<F>,
) -> Result<QuantizerLoss<F>> {
    config.validate()?;
    check_rows(lattice.dim(), "latents", latents.shape())?;
    let embedding = embedding_loss(latents, quantized.points.view())?;
    let commitment = embedding;
    let size = lattice.size_loss();
    let total = to_f64(embedding)
        + config.commitment_cost * to_f64(commitment)
        + config.sparsity_cost * to_f64(size);
    Ok(QuantizerLoss {
        embedding,
        commitment,
        size,
        total: from_f64(total),
    })
}

/// Gradients of [`quantizer_loss`]'s total with respect to `b` and `z`, with `v` held
/// constant (items 3 and 4 of the straight-through contract).
///
/// # Shapes
/// `latents`: `(N, D)`; returns basis `(D,)` and latents `(N, D)`.
///
/// # Errors
/// As [`quantizer_loss`].
///
/// # Example
/// ```
/// use lattice_vq_core::{loss::quantizer_gradients, DiagonalLattice, LatticeQuantizerConfig};
/// use ndarray::array;
///
/// let config = LatticeQuantizerConfig::new(512, 1);
/// let lattice = DiagonalLattice::<f64>::from_slice(&[1.0])?;
/// let latents = array![[2.25]];
/// let q = lattice.quantize(latents.view())?;
/// let grads = quantizer_gradients(&config, &lattice, latents.view(), &q)?;
/// assert_eq!(grads.basis[0], 2.0 * (2.0 - 2.25) * 2.0 - 1.0);
/// assert_eq!(grads.latents[[0, 0]], 0.25 * 2.0 * 0.25);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn quantizer_gradients<F: LatticeFloat, L: Lattice<F>>(
    config: &LatticeQuantizerConfig,
    lattice: &L,
    latents: ArrayView2<F>,
    quantized: &Quantized<F>,
) -> Result<QuantizerGradients<F>> {
    config.validate()?;
    let embedding = lattice.embedding_loss_gradient(
        latents,
        quantized.codes.view(),
        quantized.points.view(),
    )?;
    let size = lattice.size_loss_gradient();
    let gamma = config.sparsity_cost;
    let basis = Zip::from(&embedding)
        .and(&size)
        .map_collect(|&e, &s| from_f64(to_f64(e) + gamma * to_f64(s)));
    let beta = from_f64::<F>(config.commitment_cost);
    let latents = commitment_loss_latent_grad(latents, quantized.points.view())?.mapv(|g| beta * g);
    Ok(QuantizerGradients { basis, latents })
}

/// The straight-through output `z + (e - z)` the decoder receives (contract item 1).
///
/// # Shapes
/// `latents`, `points`: `(N, D)`; returns `(N, D)`.
///
/// # Errors
/// [`Error::ShapeMismatch`], [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::loss::straight_through;
/// use ndarray::array;
///
/// let out = straight_through(array![[0.3f32]].view(), array![[1.0]].view())?;
/// assert_eq!(out[[0, 0]], 0.3 + (1.0 - 0.3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn straight_through<F: LatticeFloat>(
    latents: ArrayView2<F>,
    points: ArrayView2<F>,
) -> Result<Array2<F>> {
    check_pair(latents, points)?;
    Ok(Zip::from(latents)
        .and(points)
        .map_collect(|&z, &e| z + (e - z)))
}

/// The whole gradient reaching the encoder: the upstream gradient with respect to the
/// straight-through output, passed through unchanged, plus `beta * d(commitment)/dz`
/// (contract items 2 and 3).
///
/// # Shapes
/// `latents`, `points`, `upstream`: `(N, D)`; returns `(N, D)`.
///
/// # Errors
/// An invalid `config`, [`Error::ShapeMismatch`], [`Error::EmptyInput`].
///
/// # Example
/// ```
/// use lattice_vq_core::{loss::encoder_gradient, LatticeQuantizerConfig};
/// use ndarray::array;
///
/// let config = LatticeQuantizerConfig::new(512, 1);
/// let grad = encoder_gradient(&config, array![[3.0f64]].view(), array![[1.0]].view(),
///     array![[0.5]].view())?;
/// assert_eq!(grad[[0, 0]], 0.5 + 0.25 * 2.0 * 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encoder_gradient<F: LatticeFloat>(
    config: &LatticeQuantizerConfig,
    latents: ArrayView2<F>,
    points: ArrayView2<F>,
    upstream: ArrayView2<F>,
) -> Result<Array2<F>> {
    config.validate()?;
    check_same_shape("upstream gradient", upstream.shape(), latents.shape())?;
    let beta = from_f64::<F>(config.commitment_cost);
    let mut grad = commitment_loss_latent_grad(latents, points)?;
    Zip::from(&mut grad)
        .and(upstream)
        .for_each(|g, &u| *g = u + beta * *g);
    Ok(grad)
}

fn check_pair<F>(latents: ArrayView2<F>, points: ArrayView2<F>) -> Result<()> {
    check_same_shape("points", points.shape(), latents.shape())?;
    if latents.is_empty() {
        return Err(Error::EmptyInput { what: "latents" });
    }
    Ok(())
}

fn mean_squared_difference<F: LatticeFloat>(a: ArrayView2<F>, b: ArrayView2<F>) -> Result<F> {
    check_pair(a, b)?;
    let mut sum = 0.0f64;
    Zip::from(a).and(b).for_each(|&x, &y| {
        let d = to_f64(x) - to_f64(y);
        sum += d * d;
    });
    Ok(from_f64(sum / a.len() as f64))
}
