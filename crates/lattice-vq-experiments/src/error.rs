//! The one error type of the experiments crate.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of dataset loading, training and evaluation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
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
    /// A safetensors file that candle could not read (missing, truncated, not safetensors).
    #[error("{path}: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// candle's error (boxed: it is large).
        source: Box<candle_core::Error>,
    },
    /// An image file whose size could not be read.
    #[error("{path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The image decoder's error (boxed: it is large).
        source: Box<image::ImageError>,
    },
    /// A run folder holds checkpoints but none of them can be resumed from.
    #[error(
        "{}: no checkpoint can be resumed from ({}); move the folder away to start over",
        .dir.display(),
        skipped_list(.skipped)
    )]
    NoResumableCheckpoint {
        /// The checkpoints' folder.
        dir: PathBuf,
        /// Each checkpoint tried, newest first, with why it could not be resumed.
        skipped: Vec<(PathBuf, Error)>,
    },
    /// No directory holding the dataset was found.
    #[error("{dataset} not found: looked in {searched}")]
    NotFound {
        /// The dataset.
        dataset: &'static str,
        /// The places searched, comma-separated.
        searched: String,
    },
    /// candle failed (an op, a device, a dtype).
    #[error("candle: {0}")]
    Candle(#[source] Box<candle_core::Error>),
    /// The candle adapter refused (a checkpoint that does not fit the model, an input of the
    /// wrong shape); its I/O and candle errors are [`Error::Io`] and [`Error::Candle`].
    #[error("candle: {0}")]
    CandleAdapter(#[source] Box<lattice_vq_candle::Error>),
    /// libtorch failed (an op, a device, a dtype).
    #[cfg(feature = "tch")]
    #[error("tch: {0}")]
    Tch(#[source] Box<tch::TchError>),
    /// The tch adapter refused (a checkpoint that does not fit the model, an input of the
    /// wrong shape); its I/O and libtorch errors are [`Error::Io`] and [`Error::Tch`].
    #[cfg(feature = "tch")]
    #[error("tch: {0}")]
    TchAdapter(#[source] Box<lattice_vq_tch::Error>),
    /// A safetensors file that libtorch could not read (missing, truncated, not safetensors)
    /// or write.
    #[cfg(feature = "tch")]
    #[error("{path}: {source}")]
    TchSafetensors {
        /// The file.
        path: PathBuf,
        /// libtorch's error (boxed: it is large).
        source: Box<tch::TchError>,
    },
    /// A lattice-vq-core rule was broken (bad latents, codes out of range, bad config).
    #[error(transparent)]
    Core(lattice_vq_core::Error),
    /// A name that is none of an option's values (a dataset, quantizer or device).
    #[error("unknown {what} {name:?}: expected one of {expected}")]
    Unknown {
        /// The option.
        what: &'static str,
        /// The name given.
        name: String,
        /// The values it takes, comma-separated.
        expected: &'static str,
    },
    /// An option or a combination of options that cannot work.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// The option.
        what: String,
        /// Why it cannot be used.
        problem: String,
    },
    /// `--model` names another network than the checkpoint holds.
    #[error(
        "{}: --model asks for {asked}, but the checkpoint holds {found}; \
         leave --model out to use the checkpoint's",
        .checkpoint.display()
    )]
    ModelMismatch {
        /// The checkpoint.
        checkpoint: PathBuf,
        /// The network asked for, in words (name and shape).
        asked: String,
        /// The checkpoint's network, in words.
        found: String,
    },
}

/// The Fashion-MNIST loader's errors ([`crate::data::LoadError`]) are this type's variants of
/// the same names and fields.
impl From<crate::data::LoadError> for Error {
    fn from(error: crate::data::LoadError) -> Self {
        use crate::data::LoadError;
        match error {
            LoadError::Io { path, source } => Self::Io { path, source },
            LoadError::Format { path, problem } => Self::Format { path, problem },
            LoadError::NotFound { dataset, searched } => Self::NotFound { dataset, searched },
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Self::Candle(Box::new(error))
    }
}

/// The candle adapter's errors as ours: I/O keeps its path and kind, core rules stay
/// [`Error::Core`], candle's own errors are [`Error::Candle`] (the adapter's `candle:`
/// prefix said once).
impl From<lattice_vq_candle::Error> for Error {
    fn from(error: lattice_vq_candle::Error) -> Self {
        match error {
            lattice_vq_candle::Error::Core(inner) => Self::from_core(inner),
            lattice_vq_candle::Error::Candle(inner) => inner.into(),
            other => Self::CandleAdapter(Box::new(other)),
        }
    }
}

#[cfg(feature = "tch")]
impl From<tch::TchError> for Error {
    fn from(error: tch::TchError) -> Self {
        Self::Tch(Box::new(error))
    }
}

/// The tch adapter's errors as ours: I/O keeps its path and kind, core rules stay
/// [`Error::Core`], libtorch's own errors are [`Error::Tch`] (the adapter's `tch:` prefix
/// said once).
#[cfg(feature = "tch")]
impl From<lattice_vq_tch::Error> for Error {
    fn from(error: lattice_vq_tch::Error) -> Self {
        match error {
            lattice_vq_tch::Error::Core(inner) => Self::from_core(inner),
            lattice_vq_tch::Error::Torch(inner) => inner.into(),
            other => Self::TchAdapter(Box::new(other)),
        }
    }
}

impl From<lattice_vq_core::Error> for Error {
    fn from(error: lattice_vq_core::Error) -> Self {
        Self::from_core(error)
    }
}

impl Error {
    /// A core error as ours: the adapters' file errors (the core's `Io`) become [`Error::Io`]
    /// with their path and kind, so that callers can tell a missing file from a bad one.
    fn from_core(error: lattice_vq_core::Error) -> Self {
        match error {
            lattice_vq_core::Error::Io {
                path,
                kind,
                message,
            } => Self::Io {
                path: path.into(),
                source: std::io::Error::new(kind, message),
            },
            other => Self::Core(other),
        }
    }
}

/// `folder: error; folder: error`, for [`Error::NoResumableCheckpoint`].
fn skipped_list(skipped: &[(PathBuf, Error)]) -> String {
    skipped
        .iter()
        .map(|(dir, error)| format!("{}: {error}", dir.display()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
