//! # lattice-vq
//!
//! Learnable lattice vector quantization (LL-VQ, Khalil et al., arXiv 2310.09382) for Rust.
//! This facade re-exports the crates of the workspace; it contains no logic of its own.
//!
//! - The framework-free math of crate `lattice-vq-core` (library `lattice_vq_core`), always
//!   available: its modules and items are re-exported at the root of this crate (there is no
//!   `core` module, which would shadow Rust's `core` for `use lattice_vq::*`).
//! - `tch` (feature `tch`, crate `lattice-vq-tch`): LL-VQ, VQ and VQ-EMA layers and the
//!   paper's VQ-VAE on libtorch 2.11.
//! - `candle` (feature `candle`, crate `lattice-vq-candle`): the same layers and model on
//!   candle, pure Rust; feature `cuda` builds them for CUDA.
//!
//! # Example
//! ```
//! use lattice_vq::{DiagonalLattice, UniqueCodes};
//! use ndarray::array;
//!
//! let lattice = DiagonalLattice::<f32>::from_slice(&[0.5, 2.0])?;
//! let q = lattice.quantize(array![[0.3, 3.1], [0.4, 3.4]].view())?;
//! let mut usage = UniqueCodes::new(2);
//! usage.insert_rows(q.codes.view())?;
//! assert_eq!(usage.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//! - `parallel`: rayon parallelism for large batches in `lattice-vq-core`.
//! - `tch`: the tch layers as the module `tch` (links libtorch).
//! - `candle`: the candle layers as the module `candle`; `cuda`: with CUDA.
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub use lattice_vq_core::*;

/// The tch (libtorch) layers and reference model: crate `lattice-vq-tch`.
#[cfg(feature = "tch")]
pub use lattice_vq_tch as tch;

/// The candle layers and reference model: crate `lattice-vq-candle`.
#[cfg(feature = "candle")]
pub use lattice_vq_candle as candle;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
