//! Errors as the suites check them: the adapters' error enums mapped onto one small enum.

use std::fmt;

/// An adapter error, by the variant the suites check, with its message (`Display`).
///
/// Each backend maps its own `Error` onto this: `Error::Core(e)` through
/// `Failure::from(e)` (the core's adapter-contract variants `InputShape`, `DtypeMismatch`,
/// the checkpoint ones and `Io` to theirs, every other core error to [`Failure::Core`]), the
/// host framework's own error (`Error::Candle`, `Error::Torch`) to [`Failure::Host`];
/// anything else to [`Failure::Other`]. The messages are the error's `Display`.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A rule of the core math was broken.
    Core(lattice_vq_core::Error),
    /// An input tensor has the wrong rank, width or dtype.
    InputShape {
        /// Which input (`"latents"`, `"images"`, `"codes"`).
        what: String,
        /// The message.
        message: String,
    },
    /// A float input of another dtype than the layer's.
    DtypeMismatch {
        /// Which input.
        what: String,
        /// The message.
        message: String,
    },
    /// A checkpoint file that is not one (truncated, corrupt, another format).
    Checkpoint(String),
    /// A checkpoint lacks a tensor the model needs.
    MissingTensor(String),
    /// A checkpoint tensor has another shape than the model's.
    TensorShape(String),
    /// A checkpoint holds tensors the model does not have.
    UnexpectedTensors(String),
    /// Reading or writing a file failed.
    Io(String),
    /// The host framework reported an error.
    Host(String),
    /// Anything else, or a harness failure (a tensor of an unexpected dtype, say).
    Other(String),
}

impl Failure {
    /// The error's message.
    pub fn message(&self) -> String {
        match self {
            Self::Core(e) => e.to_string(),
            Self::InputShape { message, .. } | Self::DtypeMismatch { message, .. } => {
                message.clone()
            }
            Self::Checkpoint(m)
            | Self::MissingTensor(m)
            | Self::TensorShape(m)
            | Self::UnexpectedTensors(m)
            | Self::Io(m)
            | Self::Host(m)
            | Self::Other(m) => m.clone(),
        }
    }

    /// An input-shape failure for `what`.
    pub fn input_shape(what: &str, message: impl Into<String>) -> Self {
        Self::InputShape {
            what: what.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Failure {}

impl From<lattice_vq_core::Error> for Failure {
    fn from(e: lattice_vq_core::Error) -> Self {
        use lattice_vq_core::Error;
        let message = e.to_string();
        match e {
            Error::InputShape { what, .. } => Self::input_shape(what, message),
            Error::DtypeMismatch { what, .. } => Self::DtypeMismatch {
                what: what.to_owned(),
                message,
            },
            Error::Checkpoint { .. } => Self::Checkpoint(message),
            Error::MissingTensor { .. } => Self::MissingTensor(message),
            Error::TensorShape { .. } => Self::TensorShape(message),
            Error::UnexpectedTensors { .. } => Self::UnexpectedTensors(message),
            Error::Io { .. } => Self::Io(message),
            other => Self::Core(other),
        }
    }
}
