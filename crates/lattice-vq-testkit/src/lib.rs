//! Conformance suites for lattice-vq's adapters, written once over a backend trait and
//! instantiated per backend (not published).
//!
//! An adapter's test crate implements [`Backend`] (the three quantizer layers) and, when it
//! has the paper's VQ-VAE, [`ModelBackend`] (the model, its checkpoints and the
//! Fashion-MNIST test split), then calls [`conformance_tests!`] once; each check becomes a
//! `#[test]` named as the suite function, in a module named as the suite:
//!
//! ```ignore
//! lattice_vq_testkit::conformance_tests!(backend: support::CandleCpu::new());
//! // or a choice of suites:
//! lattice_vq_testkit::conformance_tests!(
//!     backend: support::CandleCpu::new(),
//!     suites: [core_parity, layouts, ema, bad_input],
//! );
//! ```
//!
//! The traits take and return plain values: ndarray arrays of `f64` with a [`DType`] saying
//! what tensor to build ([`Input`]), results as [`Quantization`], [`Gradients`],
//! [`LayerState`], [`ModelOutput`], errors mapped onto [`Failure`]. So the suites compare
//! every backend with the same oracles ([`oracle`]): lattice-vq-core for quantization, the
//! lattice losses and their gradients; local reference functions, one each, for the VQ-EMA
//! step and the VQ losses until the core specifies them.
//!
//! The suites are in [`suites`] (with the former test files each replaces); the boundary
//! budgets of the official-checkpoint suite in [`boundary`]. [`reference::ReferenceBackend`]
//! implements [`Backend`] on lattice-vq-core alone; the crate's own tests run every
//! quantizer suite on it (it has no convolutional network, so not `models` or
//! `official_checkpoints`).
//!
//! Below the suites sit what the adapters' tests and benches need besides: the
//! Fashion-MNIST loader ([`data`], re-exported as [`fashion_mnist`]), the client of the
//! PyTorch reference server the training-step benches compare against ([`pytorch`]) and the
//! allocator setting those benches apply ([`heap`]). They live here because the adapters
//! must not depend on lattice-vq-experiments (it depends on them);
//! lattice-vq-experiments re-exports them under its own paths.
//!
//! This crate sits below the adapters (they dev-depend on it): it depends on the core,
//! ndarray, the test utilities and what the loader needs (flate2, thiserror) only.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod backend;
pub mod boundary;
pub mod data;
pub mod failure;
pub mod finite_backend;
pub mod heap;
pub mod inputs;
pub mod layout;
mod macros;
pub mod oracle;
pub mod pytorch;
pub mod reference;
pub mod suites;
pub mod types;

pub use backend::{Backend, ModelBackend};
pub use data::fashion_mnist;
pub use failure::Failure;
pub use finite_backend::{FiniteBackend, FiniteQuantization, Objective};
pub use types::{
    Codes, DType, EmaState, Gradients, Input, LayerState, LossParts, ModelOutput, Quantization,
};
