//! The contract every quantizer layer follows.

use lattice_vq_core::network::{QUANTIZER_PREFIX, TensorInit};
use lattice_vq_core::{LatticeFloat, QuantizerConfig, init};
use tch::kind::Element;
use tch::{Kind, Tensor, nn};

use crate::error::Result;
use crate::output::{Codes, QuantizerOutput, host};

/// A quantizer layer: LL-VQ ([`LatticeQuantizer`](crate::LatticeQuantizer)), VQ
/// ([`VectorQuantizer`](crate::VectorQuantizer)), VQ-EMA
/// ([`VectorQuantizerEma`](crate::VectorQuantizerEma)) or a finite codebook (FSQ or the
/// bounded lattice, [`FiniteQuantizer`](crate::FiniteQuantizer)), interchangeable in a model.
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
    /// layer's ([`Error::DtypeMismatch`](lattice_vq_core::Error::DtypeMismatch)), empty input,
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
    /// [`Error::InputShape`](lattice_vq_core::Error::InputShape) for codes of the other variant, kind,
    /// rank or last dimension, or indices outside the codebook; a libtorch error.
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
/// layer's `path`, shapes, initialisation with a lattice basis drawn again while the core
/// refuses it, trainable or not), created in that order (the order of the random draws).
///
/// # Errors
/// An invalid config, or a libtorch error.
pub(crate) fn variables<const N: usize>(
    config: QuantizerConfig,
    path: &nn::Path,
) -> Result<[Tensor; N]> {
    let tensors: Vec<Tensor> = named_variables(config, path)?
        .into_iter()
        .map(|(_, tensor)| tensor)
        .collect();
    let count = tensors.len();
    <[Tensor; N]>::try_from(tensors)
        .map_err(|_| tch::TchError::Kind(format!("{count} tensors, not {N}")).into())
}

/// [`variables`] for layers whose tensors depend on the config (the finite codebooks): each
/// with its name under the layer's `path` (`project_in.weight`, `step`, `levels.0`, ...).
///
/// # Errors
/// An invalid config, or a libtorch error.
pub(crate) fn named_variables(
    config: QuantizerConfig,
    path: &nn::Path,
) -> Result<Vec<(String, Tensor)>> {
    let prefix = format!("{QUANTIZER_PREFIX}.");
    let specs = config.tensors()?;
    let mut tensors = Vec::with_capacity(specs.len());
    for spec in specs {
        let init = match spec.init {
            TensorInit::Uniform { half_width } | TensorInit::LatticeBasis { half_width } => {
                nn::Init::Uniform {
                    lo: -half_width,
                    up: half_width,
                }
            }
            TensorInit::Normal { mean, std } => nn::Init::Randn { mean, stdev: std },
            TensorInit::Zeros => nn::Init::Const(0.0),
            TensorInit::Constant { value } => nn::Init::Const(value),
        };
        let shape: Vec<i64> = spec.shape.iter().map(|&s| s as i64).collect();
        let tensor = nn::f_init(init, &shape, path.device(), path.kind())?;
        if let TensorInit::LatticeBasis { half_width } = spec.init {
            match tensor.kind() {
                Kind::Float => redraw_until_valid::<f32>(&tensor, half_width)?,
                _ => redraw_until_valid::<f64>(&tensor, half_width)?,
            }
        }
        let name = spec.name.strip_prefix(&prefix).unwrap_or(&spec.name);
        // tch paths take one component at a time: `levels.0` is the leaf `0` under `levels`.
        let (parents, leaf) = name.rsplit_once('.').unwrap_or(("", name));
        let variable = sub(path, parents).add(leaf, tensor, spec.trainable);
        tensors.push((name.to_owned(), variable));
    }
    Ok(tensors)
}

/// `lattice_vq_core::init::redraw_until_valid` on a freshly drawn basis, each redraw
/// `U(-r, r)` in place from torch's generator.
fn redraw_until_valid<T: Element + Copy + LatticeFloat>(
    basis: &Tensor,
    half_width: f64,
) -> Result<()> {
    let mut variable = basis.shallow_clone();
    let redraw = || -> Result<Vec<T>> {
        tch::no_grad(|| variable.f_uniform_(-half_width, half_width).map(drop))?;
        host::<T>(basis)
    };
    init::redraw_until_valid(host::<T>(basis)?, redraw)?;
    Ok(())
}

/// `path` extended by a dotted name of the core's specs (`_encoder.0.0`, `embedding`: tch
/// paths take one component at a time).
pub(crate) fn sub<'a>(path: &nn::Path<'a>, name: &str) -> nn::Path<'a> {
    name.split('.')
        .filter(|part| !part.is_empty())
        .fold(path.clone(), |path, part| path.sub(part))
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
