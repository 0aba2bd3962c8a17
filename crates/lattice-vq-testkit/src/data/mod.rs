//! The Fashion-MNIST loader: its IDX files, plain or gzip-compressed, read with bounded
//! memory ([`idx`]), and the test and training splits as the paper preprocesses them
//! ([`fashion_mnist`]).
//!
//! It lives here, below the adapters, because their tests and benches need the real test
//! split (the official-checkpoint parity: [`ModelBackend::fashion_mnist_test`]) and the
//! adapters must not depend on lattice-vq-experiments, which depends on them.
//! lattice-vq-experiments re-exports these modules under its own paths
//! (`lattice_vq_experiments::data::{idx, fashion_mnist}`), converts [`LoadError`] into its
//! own error type variant for variant, and adds the rest of its datasets.
//!
//! [`ModelBackend::fashion_mnist_test`]: crate::ModelBackend::fashion_mnist_test

use std::path::{Path, PathBuf};

pub mod fashion_mnist;
pub mod idx;

/// The training or the test part of a dataset with two parts (each dataset says which
/// images are which: [`fashion_mnist`] its `train-*`/`t10k-*` files, lattice-vq-experiments'
/// FFHQ a split of the sorted file names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training part.
    Train,
    /// The test part.
    Test,
}

/// Why a dataset file could not be loaded. lattice-vq-experiments' `Error` has the same
/// variants (and converts this one into them).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a valid IDX file or does not hold what was expected.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// No directory holding the dataset was found.
    #[error("{dataset} not found: looked in {searched}")]
    NotFound {
        /// The dataset.
        dataset: &'static str,
        /// The places searched, comma-separated.
        searched: String,
    },
}

impl LoadError {
    /// The file the error names ([`LoadError::Io`] and [`LoadError::Format`]).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Io { path, .. } | Self::Format { path, .. } => Some(path),
            Self::NotFound { .. } => None,
        }
    }
}

/// `Result` with [`LoadError`].
pub type Result<T, E = LoadError> = std::result::Result<T, E>;
