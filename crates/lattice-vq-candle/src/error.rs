//! The one error type of `lattice-vq-candle`.

use thiserror::Error;

/// Everything that can go wrong in the candle layers and model.
///
/// Math invariants (basis bounds, NaN latents, code overflow, configs) are lattice-vq-core's
/// errors, wrapped unchanged; candle failures are wrapped as [`Error::Candle`]. The variants
/// mirror `lattice_vq_tch::Error`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule of the core math was broken (see [`lattice_vq_core::Error`]).
    #[error(transparent)]
    Core(#[from] lattice_vq_core::Error),
    /// candle reported an error.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// An input tensor has the wrong number of dimensions, channels or dtype.
    #[error("{what} has shape {found:?}: {requirement}")]
    InputShape {
        /// Which input.
        what: &'static str,
        /// Its shape.
        found: Vec<usize>,
        /// What the shape must satisfy.
        requirement: String,
    },
    /// A checkpoint lacks a tensor the model needs.
    #[error("checkpoint {path} has no tensor {name}: every model tensor must be present")]
    MissingTensor {
        /// The checkpoint file.
        path: String,
        /// The missing tensor's name.
        name: String,
    },
    /// A checkpoint tensor has a different shape than the model's.
    #[error("checkpoint {path}: tensor {name} has shape {found:?}, the model needs {expected:?}")]
    TensorShape {
        /// The checkpoint file.
        path: String,
        /// The tensor's name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The checkpoint's shape.
        found: Vec<usize>,
    },
    /// A checkpoint holds tensors the model does not have (another quantizer or dataset).
    #[error(
        "checkpoint {path} has tensors the model lacks ({names}): it was saved from another \
         model configuration"
    )]
    UnexpectedTensors {
        /// The checkpoint file.
        path: String,
        /// The extra tensors' names, comma-separated.
        names: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
