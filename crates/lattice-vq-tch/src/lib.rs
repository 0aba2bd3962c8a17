//! LL-VQ, VQ, VQ-EMA and finite-codebook (FSQ, bounded lattice) layers and the paper's VQ-VAE
//! on [tch](https://docs.rs/tch) (libtorch 2.11), for training on CPU or CUDA.
//!
//! The math is lattice-vq-core's (configs, basis rules, losses with the official reductions,
//! the straight-through contract); this crate holds it in libtorch tensors so that autograd
//! and the device do the rest. Layers take an `nn::Path` first, like tch's own
//! ([`lattice_quantizer`], [`vector_quantizer`], [`vector_quantizer_ema`],
//! [`finite_quantizer`] for FSQ and the bounded lattice, [`vqvae`]);
//! [`Quantizer::quantize`] takes `(N, D)` rows, `(B, T, D)` sequences or `(N, D, H, W)`
//! images and returns a named [`QuantizerOutput`] whose [`Codes`] say what they are, and
//! [`Quantizer::decode`] turns codes back into points. Every layer and the model also
//! implement `nn::ModuleT` (panicking on bad input, as tch's layers do).
//!
//! # Example
//! ```no_run
//! use lattice_vq_core::LatticeQuantizerConfig;
//! use lattice_vq_tch::{lattice_quantizer, Quantizer};
//! use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::cuda_if_available());
//! let quantizer = lattice_quantizer(&vs.root(), &LatticeQuantizerConfig::new(512, 64))?;
//! let mut adam = nn::Adam::default().build(&vs, 1e-3)?;
//! let latents = Tensor::randn([64, 64, 14, 14], (Kind::Float, vs.device()));
//! let out = quantizer.quantize(&latents, true)?;
//! adam.backward_step(&out.loss);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod checkpoint;
mod error;
mod finite;
mod lattice;
mod output;
mod quantizer;
mod vq;
mod vq_ema;
mod vqvae;

pub use checkpoint::{load_checkpoint, save_checkpoint};
pub use error::{Error, Result};
pub use finite::{FiniteOutput, FiniteQuantizer, finite_quantizer};
pub use lattice::{LatticeQuantizer, lattice_quantizer};
pub use output::{Codes, LossParts, QuantizerOutput};
pub use quantizer::Quantizer;
pub use vq::{VectorQuantizer, vector_quantizer};
pub use vq_ema::{VectorQuantizerEma, vector_quantizer_ema};
// The model configs are framework-free, so they live in lattice-vq-core; re-exported for
// convenience.
pub use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
pub use vqvae::{VqVae, VqVaeOutput, vqvae};
