//! The contract every quantizer layer follows.

use candle_core::Tensor;

use crate::error::Result;
use crate::output::QuantizerOutput;

/// A quantizer layer: LL-VQ ([`LatticeQuantizer`](crate::LatticeQuantizer)), VQ
/// ([`VectorQuantizer`](crate::VectorQuantizer)) or VQ-EMA
/// ([`VectorQuantizerEma`](crate::VectorQuantizerEma)), interchangeable in a model.
///
/// Like candle's `ModuleT`, `forward_t` takes the training flag (only VQ-EMA uses it: it
/// updates its codebook in training mode), and returns the named [`QuantizerOutput`].
pub trait Quantizer: std::fmt::Debug + Send + Sync {
    /// The latent dimension D (channels of NCHW latents).
    fn dim(&self) -> usize;

    /// Quantize `(N, D, H, W)` or `(N, D)` latents; see [`QuantizerOutput`] for the shapes.
    ///
    /// # Errors
    /// A wrong number of dimensions or channels, a non-float dtype, empty input, non-finite
    /// latents, codes outside `i32` (LL-VQ), an invalid basis, or a candle error.
    fn forward_t(&self, latents: &Tensor, train: bool) -> Result<QuantizerOutput>;
}
