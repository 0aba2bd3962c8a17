//! The one error type of `lattice-vq-candle`.

use thiserror::Error;

/// Everything that can go wrong in the candle layers and model: the core's errors, which
/// hold every rule the layers check (shapes, dtypes, checkpoints, files; see
/// [`lattice_vq_core::Error`]), wrapped unchanged, and candle's, the only ones whose message
/// starts `candle: `.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule of the core or of the adapter contract was broken.
    #[error(transparent)]
    Core(#[from] lattice_vq_core::Error),
    /// candle reported an error.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A `VarMap`'s lock was poisoned by a panic in another thread.
    #[error("var map lock poisoned by a panic")]
    Poisoned,
}

/// The core's `InputShape` error for the tensor `what`.
pub(crate) fn input_shape(
    what: &'static str,
    found: &candle_core::Tensor,
    requirement: String,
) -> Error {
    lattice_vq_core::Error::InputShape {
        what,
        found: found.dims().to_vec(),
        requirement,
    }
    .into()
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
