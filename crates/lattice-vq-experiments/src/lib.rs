//! Datasets and helpers shared by lattice-vq's example binaries and tests. Framework-free:
//! images come out as `f32` buffers that any backend wraps without copying again.
#![deny(missing_docs)]

pub mod error;
pub mod fashion_mnist;
pub mod idx;
pub mod reference;

pub use error::{Error, Result};
