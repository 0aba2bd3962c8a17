//! The contract every quantizer layer follows.

use candle_core::Tensor;

use crate::error::Result;
use crate::output::{Codes, QuantizerOutput};

/// A quantizer layer: LL-VQ ([`LatticeQuantizer`](crate::LatticeQuantizer)), VQ
/// ([`VectorQuantizer`](crate::VectorQuantizer)) or VQ-EMA
/// ([`VectorQuantizerEma`](crate::VectorQuantizerEma)), interchangeable in a model.
///
/// `quantize` takes the training flag (only VQ-EMA uses it: it updates its codebook in
/// training mode) and returns the named [`QuantizerOutput`]. The layers also implement
/// candle's `Module`/`ModuleT`, which return `quantized` alone.
pub trait Quantizer: std::fmt::Debug + Send + Sync {
    /// The latent dimension D.
    fn dim(&self) -> usize;

    /// Quantize `(N, D)` rows, `(B, T, D)` sequences or `(N, D, H, W)` images; see
    /// [`QuantizerOutput`] for the shapes.
    ///
    /// # Errors
    /// Another shape, a non-float dtype or one other than the layer's, empty input,
    /// non-finite latents, codes outside `i32` (LL-VQ), an invalid basis or codebook, or a
    /// candle error.
    fn quantize(&self, latents: &Tensor, train: bool) -> Result<QuantizerOutput>;

    /// Codes as [`quantize`](Quantizer::quantize) returned them back to the points `e`, in
    /// the layout `quantize` gave `quantized` for that input (no gradient): the same values
    /// as [`QuantizerOutput::points`] while the basis or codebook is unchanged.
    ///
    /// # Errors
    /// Codes of the other kind, of another dtype (`I32` lattice codes, `I64` indices), rank
    /// or last dimension (lattice codes end in D), empty codes, indices outside the
    /// codebook, an invalid basis, or a candle error.
    fn decode(&self, codes: &Codes) -> Result<Tensor>;
}
