//! The contract every quantizer layer follows.

use tch::Tensor;

use crate::error::Result;
use crate::output::{Codes, QuantizerOutput};

/// A quantizer layer: LL-VQ ([`LatticeQuantizer`](crate::LatticeQuantizer)), VQ
/// ([`VectorQuantizer`](crate::VectorQuantizer)) or VQ-EMA
/// ([`VectorQuantizerEma`](crate::VectorQuantizerEma)), interchangeable in a model.
///
/// Like tch's `ModuleT`, `quantize` takes the training flag (only VQ-EMA uses it: it updates
/// its codebook in training mode); unlike it, bad input is an error, not a panic. (Each layer
/// also implements `nn::ModuleT`, returning `quantized` and panicking on bad input.)
pub trait Quantizer: std::fmt::Debug + Send {
    /// The latent dimension D.
    fn dim(&self) -> usize;

    /// Quantize `(N, D)` rows, `(B, T, D)` channel-last sequences or `(N, D, H, W)` images;
    /// see [`QuantizerOutput`] for the shapes.
    ///
    /// # Errors
    /// A shape outside the three layouts, a non-float kind or another float kind than the
    /// layer's ([`Error::DtypeMismatch`](crate::Error::DtypeMismatch)), empty input,
    /// non-finite latents, codes outside `i32` (LL-VQ), an invalid basis or codebook, or a
    /// libtorch error.
    fn quantize(&self, latents: &Tensor, train: bool) -> Result<QuantizerOutput>;

    /// Codes as [`quantize`](Quantizer::quantize) returned them
    /// ([`QuantizerOutput::codes`]) back to the points `e`, in the layout `quantize` gave
    /// `quantized` for that input, without gradient: `decode(&out.codes)` equals `out.points`.
    ///
    /// The codes' rank says the layout: lattice codes `(N, D)`, `(B, T, D)` or
    /// `(N, H, W, D)`; indices `(N,)`, `(B, T)` or `(N, H, W)`.
    ///
    /// # Errors
    /// [`Error::InputShape`](crate::Error::InputShape) for codes of the other variant, kind,
    /// rank or last dimension, or indices outside the codebook; a libtorch error.
    fn decode(&self, codes: &Codes) -> Result<Tensor>;
}

/// A layer's `nn::ModuleT` (`quantized`, or a panic with the error's message, as tch's own
/// layers do) and its free constructor `$function(path, config)`, like tch's `nn::linear`.
macro_rules! module_and_constructor {
    ($layer:ident, $function:ident, $config:ty) => {
        /// Panics with the error's message on bad input; [`Quantizer::quantize`] is the
        /// fallible call.
        impl tch::nn::ModuleT for $layer {
            fn forward_t(&self, xs: &tch::Tensor, train: bool) -> tch::Tensor {
                match $crate::Quantizer::quantize(self, xs, train) {
                    Ok(out) => out.quantized,
                    Err(error) => panic!("{error}"),
                }
            }
        }

        #[doc = concat!("[`", stringify!($layer), "::new`]: the layer under `path`.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($layer), "::new`].")]
        pub fn $function(path: &tch::nn::Path, config: &$config) -> $crate::Result<$layer> {
            $layer::new(path, config)
        }
    };
}

pub(crate) use module_and_constructor;
