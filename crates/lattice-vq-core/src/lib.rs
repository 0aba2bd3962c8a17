//! The math of learnable lattice vector quantization (LL-VQ, Khalil et al., arXiv
//! 2310.09382), with no tensor framework: plain functions over [`ndarray`] views, generic
//! over `f32` and `f64`.
//!
//! An LL-VQ layer replaces a VQ-VAE's `K x D` codebook by a lattice with a learnable
//! diagonal basis `B = diag(b)`: D numbers instead of K*D. A latent row `z` is quantized by
//! Babai rounding, `v = round(B^-1 z)`, `e = B v`, which is exact for a diagonal basis.
//!
//! | paper | here |
//! |---|---|
//! | Eq. 3-4, Babai rounding | [`Lattice`]; [`DiagonalLattice::quantize`], [`DiagonalLattice::quantize_into`], [`DiagonalLattice::decode`] |
//! | Eq. 5, diagonal basis | [`DiagonalLattice`] (validated: finite, `abs(b_i) >= F::MIN_BASIS_MAGNITUDE`) |
//! | Eq. 6 and A.1, initialisation | [`init_range`], [`sample_basis`], [`BasisInit`], [`LatticeQuantizerConfig::init_lattice`], [`redraw_until_valid`] |
//! | Eq. 7, size loss | [`Lattice::size_loss`], [`Lattice::size_loss_gradient`] (implemented by [`DiagonalLattice`]) |
//! | Eq. 8, embedding and commitment losses | [`loss`] (values, gradients, straight-through contract), [`Lattice::embedding_loss_gradient`] |
//! | Eq. 1, VQ baseline | [`vq::nearest_codewords`], [`VectorQuantizerConfig`], [`VectorQuantizerEmaConfig`] |
//! | Eq. 2, VQ-VAE loss (embedding + beta * commitment) | [`vq_loss::vq_loss`], [`vq_loss::vq_gradients`], [`vq_loss::vq_ema_loss`] |
//! | VQ-EMA codebook update (VQ-VAE appendix) | [`EmaCodebook::step`] |
//! | "Model", the reference VQ-VAE | [`VqVaeConfig`], [`network`] (stages, tensor names and shapes, PyTorch's default init, image shapes) |
//! | "No. embeddings / dataset" | [`UniqueCodes`] (exact), [`HyperLogLog`] (sketch), [`perplexity`], [`DimensionHistograms`] |
//! | beyond the paper: finite codebooks with token indices | [`BoundedLattice`] (learnable steps and offsets), [`FiniteScalarQuantizer`] (FSQ), [`MixedRadix`], [`CodebookUsage`]; [`Vocabulary`] (tokens for the unbounded lattice) |
//!
//! For the adapters, framework-free rules they share: [`layout`] (the latent layouts and the
//! shapes of codes), [`checkpoint`] (the strict `(name, shape)` check of a checkpoint) and
//! [`output`] (their layers' output, codes and loss parts, generic over the tensor type).
//!
//! What it does not do: autograd, devices, layers, training loops. The `tch` and `candle`
//! adapters (crates `lattice-vq-tch`, `lattice-vq-candle`) hold the basis as a framework
//! parameter, run the same math on the framework's device and are tested against this
//! crate. Numbers follow the official implementation where it differs from the paper's
//! text (for example means over all `N*D` elements, the size loss as a sum, ties rounded to
//! even); see the [`loss`] module.
//!
//! # Example
//! ```
//! use lattice_vq_core::{loss, LatticeQuantizerConfig, UniqueCodes};
//! use ndarray::Array2;
//! use rand::{Rng, SeedableRng};
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let config = LatticeQuantizerConfig::new(512, 4);
//! let lattice = config.init_lattice::<f32, _>(&mut rng)?;
//! let latents = Array2::from_shape_fn((1000, 4), |_| rng.random_range(-20.0f32..20.0));
//!
//! let q = lattice.quantize(latents.view())?;
//! let parts = loss::quantizer_loss(&config, &lattice, latents.view(), &q)?;
//! let mut usage = UniqueCodes::new(4);
//! usage.insert_rows(q.codes.view())?;
//! assert!(usage.len() > 1 && parts.embedding > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//! - `parallel`: split large contiguous batches across rayon's threads in
//!   [`DiagonalLattice::quantize_into`].
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

pub mod checkpoint;
pub mod codebook_usage;
pub mod codes;
pub mod config;
pub mod ema;
pub mod error;
pub mod finite_config;
pub mod float;
pub mod init;
pub mod lattice;
pub mod layout;
pub mod loss;
pub mod mixed_radix;
pub mod model;
pub mod network;
pub mod output;
mod shape;
pub mod sketch;
pub mod usage;
pub mod vocabulary;
pub mod vq;
pub mod vq_certificate;
pub mod vq_loss;

pub use codebook_usage::CodebookUsage;
pub use codes::{CodeVector, UniqueCodes, code_key};
pub use config::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};
pub use ema::EmaCodebook;
pub use error::{Error, Result};
pub use finite_config::{FiniteKind, FiniteQuantizerConfig, Levels, MAX_LEVEL_DIMS};
pub use float::LatticeFloat;
pub use init::{BasisInit, init_range, redraw_until_valid, sample_basis};
pub use lattice::{BoundedLattice, DiagonalLattice, FiniteScalarQuantizer, Lattice, Quantized};
pub use loss::{QuantizerGradients, QuantizerLoss};
pub use mixed_radix::MixedRadix;
pub use model::{QuantizerConfig, VqVaeConfig};
pub use sketch::HyperLogLog;
pub use usage::{DimensionHistograms, perplexity};
pub use vocabulary::Vocabulary;
