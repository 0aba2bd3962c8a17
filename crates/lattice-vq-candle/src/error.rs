//! The one error type of `lattice-vq-candle`.

use thiserror::Error;

/// Everything that can go wrong in the candle layers and model.
///
/// Math invariants (basis bounds, NaN latents, code overflow, configs) are lattice-vq-core's
/// errors, wrapped unchanged; candle failures are wrapped as [`Error::Candle`], the only
/// variant whose message starts `candle: `. The variants mirror `lattice_vq_tch::Error`.
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
    /// A float input of another dtype than the layer's variables.
    #[error("{what}: dtype {found:?} does not match the layer's {expected:?}")]
    DtypeMismatch {
        /// Which input.
        what: &'static str,
        /// Its dtype.
        found: candle_core::DType,
        /// The layer's dtype.
        expected: candle_core::DType,
    },
    /// A checkpoint file is not safetensors (truncated, corrupt, another format), or its
    /// tensors could not be serialized.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What the safetensors reader or writer said.
        message: String,
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
    /// A `VarMap`'s lock was poisoned by a panic in another thread.
    #[error("var map lock poisoned by a panic")]
    Poisoned,
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

/// Our error as candle's, for candle's `Module` and `ModuleT`: a wrapped candle error as it
/// was, ours wrapped with its message.
impl From<Error> for candle_core::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Candle(inner) => inner,
            other => candle_core::Error::wrap(other),
        }
    }
}
