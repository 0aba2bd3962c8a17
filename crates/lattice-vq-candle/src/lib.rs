//! LL-VQ, VQ and VQ-EMA layers and the paper's VQ-VAE on [candle](https://docs.rs/candle-core):
//! pure Rust, no libtorch, CPU or CUDA (feature `cuda`).
//!
//! The crate mirrors `lattice-vq-tch` file for file: the same configs (from lattice-vq-core), the
//! same named [`QuantizerOutput`], the same semantics and the same checkpoint names. Layers
//! follow candle's conventions: a constructor function taking a `VarBuilder` last
//! ([`lattice_quantizer`], [`vector_quantizer`], [`vector_quantizer_ema`], [`vqvae`]), the
//! fallible [`Quantizer::quantize`] and [`Quantizer::decode`] (typed [`Codes`] back to the
//! points), and candle's `Module`/`ModuleT`. Quantizers take `(N, D)` rows, `(B, T, D)`
//! sequences or `(N, D, H, W)` images. The CPU kernels the model trains with (convolutions,
//! activations) are in [`kernels`].
//!
//! # Example
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
//! use lattice_vq_core::LatticeQuantizerConfig;
//! use lattice_vq_candle::{lattice_quantizer, Quantizer};
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let quantizer = lattice_quantizer(&LatticeQuantizerConfig::new(512, 64), vb)?;
//! let params = ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..Default::default() };
//! let mut adam = AdamW::new(varmap.all_vars(), params)?;
//! let latents = Tensor::randn(0f32, 3.0, (16, 64, 7, 7), &Device::Cpu)?;
//! let out = quantizer.quantize(&latents, true)?;
//! adam.backward_step(&out.loss)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod checkpoint;
mod error;
mod finite;
pub mod kernels;
mod lattice;
mod lattice_ops;
mod output;
mod quantizer;
mod seeded;
#[cfg(test)]
mod test_support;
mod vq;
mod vq_ema;
mod vqvae;

pub use checkpoint::{load_checkpoint, save_checkpoint, save_tensors};
pub use error::{Error, Result};
pub use finite::{FiniteOutput, FiniteQuantizer, finite_quantizer};
pub use lattice::{LatticeQuantizer, lattice_quantizer};
pub use output::{Codes, LossParts, QuantizerOutput};
pub use quantizer::Quantizer;
pub use seeded::seeded_var_builder;
pub use vq::{VectorQuantizer, vector_quantizer};
pub use vq_ema::{VectorQuantizerEma, vector_quantizer_ema};
// The model configs are framework-free, so they live in lattice-vq-core; re-exported for
// convenience.
pub use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
pub use vqvae::{VqVae, VqVaeOutput, vqvae};
