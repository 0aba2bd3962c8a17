//! Datasets, training loop and helpers shared by lattice-vq's example binaries and tests.
//!
//! The data side ([`data`]) is framework-free: images come out as `f32` buffers that any
//! backend wraps without converting again. The training side ([`train`]) drives the tch or
//! candle VQ-VAE through one small [`train::Backend`] trait.
#![deny(missing_docs)]

pub mod atomic;
pub mod data;
pub mod error;
pub mod png;
pub mod train;

pub use data::fashion_mnist;
pub use error::{Error, Result};

// In lattice-vq-testkit, below the adapters, whose benches use them too; here under their
// old paths.
pub use lattice_vq_testkit::heap;
pub use lattice_vq_testkit::pytorch as reference;
