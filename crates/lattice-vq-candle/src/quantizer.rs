//! The contract every quantizer layer follows.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};
use lattice_vq_core::QuantizerConfig;
use lattice_vq_core::network::{QUANTIZER_PREFIX, TensorInit, TensorSpec};

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

    /// How many latent scalars of `latents` lie outside a bounded codebook's box (their digit
    /// is clamped: overload), and how many scalars were counted; `None` for quantizers
    /// without a boundary (the default).
    ///
    /// # Errors
    /// As [`Quantizer::quantize`].
    fn overload(&self, latents: &Tensor) -> Result<Option<(u64, u64)>> {
        let _ = latents;
        Ok(None)
    }
}

/// The layer's `N` variables as `QuantizerConfig::tensors` lists them (names under the
/// layer's `vb`, shapes, initialisation), got or created in that order.
///
/// # Errors
/// An invalid config, or a candle error.
pub(crate) fn variables<const N: usize>(
    config: QuantizerConfig,
    vb: &VarBuilder,
) -> Result<[Tensor; N]> {
    let tensors: Vec<Tensor> = named_variables(config, vb)?
        .into_iter()
        .map(|(_, tensor)| tensor)
        .collect();
    let count = tensors.len();
    <[Tensor; N]>::try_from(tensors)
        .map_err(|_| candle_core::Error::Msg(format!("{count} tensors, not {N}")).into())
}

/// [`variables`] for layers whose tensors depend on the config (the finite codebooks): each
/// with its name under the layer's `vb`.
///
/// # Errors
/// An invalid config, or a candle error.
pub(crate) fn named_variables(
    config: QuantizerConfig,
    vb: &VarBuilder,
) -> Result<Vec<(String, Tensor)>> {
    let prefix = format!("{QUANTIZER_PREFIX}.");
    let variable = |spec: TensorSpec| {
        let init = match spec.init {
            TensorInit::Uniform { half_width } | TensorInit::LatticeBasis { half_width } => {
                Init::Uniform {
                    lo: -half_width,
                    up: half_width,
                }
            }
            TensorInit::Normal { mean, std } => Init::Randn { mean, stdev: std },
            TensorInit::Zeros => Init::Const(0.0),
            TensorInit::Constant { value } => Init::Const(value),
        };
        let name = spec.name.strip_prefix(&prefix).unwrap_or(&spec.name);
        Ok((name.to_owned(), vb.get_with_hints(spec.shape, name, init)?))
    };
    config.tensors()?.into_iter().map(variable).collect()
}
