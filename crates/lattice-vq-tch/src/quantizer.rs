//! The contract every quantizer layer follows.

use tch::Tensor;

use crate::error::Result;
use crate::output::QuantizerOutput;

/// A quantizer layer: LL-VQ ([`LatticeQuantizer`](crate::LatticeQuantizer)), VQ
/// ([`VectorQuantizer`](crate::VectorQuantizer)) or VQ-EMA
/// ([`VectorQuantizerEma`](crate::VectorQuantizerEma)), interchangeable in a model.
///
/// Like tch's `ModuleT`, `forward_t` takes the training flag (only VQ-EMA uses it: it
/// updates its codebook in training mode); unlike it, bad input is an error, not a panic.
pub trait Quantizer: std::fmt::Debug + Send {
    /// The latent dimension D (channels of NCHW latents).
    fn dim(&self) -> i64;

    /// Quantize `(N, D, H, W)` or `(N, D)` latents; see [`QuantizerOutput`] for the shapes.
    ///
    /// # Errors
    /// A wrong number of dimensions or channels, a non-float kind, empty input, non-finite
    /// latents, codes outside `i32` (LL-VQ), an invalid basis, or a libtorch error.
    fn forward_t(&self, latents: &Tensor, train: bool) -> Result<QuantizerOutput>;
}
