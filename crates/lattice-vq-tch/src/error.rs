//! The one error type of `lattice-vq-tch`.

use thiserror::Error;

/// Everything that can go wrong in the tch layers and model.
///
/// Math invariants (basis bounds, NaN latents, code overflow, configs) are lattice-vq-core's
/// errors, wrapped unchanged; libtorch failures are wrapped as [`Error::Torch`], the only
/// variant whose message starts `tch: `. The variants mirror `lattice_vq_candle::Error`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule of the core math was broken (see [`lattice_vq_core::Error`]).
    #[error(transparent)]
    Core(#[from] lattice_vq_core::Error),
    /// libtorch reported an error.
    #[error("tch: {0}")]
    Torch(#[from] tch::TchError),
    /// An input tensor has the wrong number of dimensions, channels or kind, or codes of the
    /// wrong kind or range for the layer.
    #[error("{what} has shape {found:?}: {requirement}")]
    InputShape {
        /// Which input.
        what: &'static str,
        /// Its shape.
        found: Vec<i64>,
        /// What the shape must satisfy.
        requirement: String,
    },
    /// A float input of another kind than the layer's variables, for example `Double`
    /// latents for a `Float` layer (message: `latents: dtype F64 does not match the layer's
    /// F32`).
    #[error("{what}: dtype {} does not match the layer's {}", dtype_name(*.found), dtype_name(*.expected))]
    DtypeMismatch {
        /// Which input.
        what: &'static str,
        /// Its kind.
        found: tch::Kind,
        /// The layer's kind.
        expected: tch::Kind,
    },
    /// A checkpoint file is not safetensors (truncated, corrupt, another format), or its
    /// tensors could not be written.
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
        expected: Vec<i64>,
        /// The checkpoint's shape.
        found: Vec<i64>,
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

/// A kind's short name, as both adapters spell dtypes in messages (`F32`, `F64`, ...).
fn dtype_name(kind: tch::Kind) -> String {
    use tch::Kind;
    match kind {
        Kind::Half => "F16".into(),
        Kind::BFloat16 => "BF16".into(),
        Kind::Float => "F32".into(),
        Kind::Double => "F64".into(),
        Kind::Uint8 => "U8".into(),
        Kind::Int => "I32".into(),
        Kind::Int64 => "I64".into(),
        other => format!("{other:?}"),
    }
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
