//! The one error type of `lattice-vq-tch`.

use thiserror::Error;

/// Everything that can go wrong in the tch layers and model: the core's errors, which hold
/// every rule the layers check (shapes, dtypes, checkpoints, files; see
/// [`lattice_vq_core::Error`]), wrapped unchanged, and libtorch's, the only ones whose
/// message starts `tch: `.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule of the core or of the adapter contract was broken.
    #[error(transparent)]
    Core(#[from] lattice_vq_core::Error),
    /// libtorch reported an error.
    #[error("tch: {0}")]
    Torch(#[from] tch::TchError),
}

/// A kind's short name, as both adapters spell dtypes in messages (`F32`, `F64`, ...).
pub(crate) fn dtype_name(kind: tch::Kind) -> String {
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

/// [`lattice_vq_core::Error::InputShape`] for the tensor `what`.
pub(crate) fn input_shape(what: &'static str, found: &tch::Tensor, requirement: String) -> Error {
    lattice_vq_core::Error::InputShape {
        what,
        found: found.size().iter().map(|&s| s as usize).collect(),
        requirement,
    }
    .into()
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
