//! # lattice-vq
//!
//! Learnable lattice vector quantization (LL-VQ, Khalil et al., arXiv 2310.09382) for Rust.
//! This facade re-exports the crates of the workspace; it contains no logic of its own.
//!
//! - The framework-free math of crate `lattice-vq-core` (library `lattice_vq_core`), always
//!   available: its modules and items are re-exported at the root of this crate (there is no
//!   `core` module, which would shadow Rust's `core` for `use lattice_vq::*`).
//! - `tch` (feature `tch`, crate `lattice-vq-tch`): LL-VQ, VQ, VQ-EMA and
//!   finite-codebook layers and the paper's VQ-VAE on libtorch 2.11.
//! - `candle` (feature `candle`, crate `lattice-vq-candle`): the same layers and
//!   model on candle, pure Rust; feature `cuda` builds them for CUDA.
//!
//! # Example
//! ```
//! use lattice_vq::{DiagonalLattice, UniqueCodes};
//! use ndarray::array;
//!
//! let lattice = DiagonalLattice::<f32>::from_slice(&[0.5, 2.0])?;
//! let q = lattice.quantize(array![[0.3, 3.1], [0.4, 3.4]].view())?;
//! let mut usage = UniqueCodes::new(2);
//! usage.insert_rows(q.codes.view())?;
//! assert_eq!(usage.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//! - `parallel`: rayon parallelism for large batches in `lattice-vq-core`.
//! - `tch`: the tch layers as the module `tch` (links libtorch).
//! - `candle`: the candle layers as the module `candle`; `cuda`: with CUDA. Your crate adds
//!   `candle-core` and `candle-nn` 0.11 beside it; `examples/candle_autoencoder.rs` in the
//!   repository puts the LL-VQ layer in a model of its own.
//!
//! # Build profiles
//! Cargo's debug builds leave candle's kernels (and this crate's) unoptimised, and training
//! then runs many times slower than with optimised dependencies. Optimising the
//! dependencies alone keeps your own crate quick to build and to step through; in your
//! `Cargo.toml`:
//! ```toml
//! [profile.dev.package."*"]
//! opt-level = 3
//! ```
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub use lattice_vq_core::*;

#[cfg(feature = "tch")]
pub mod tch {
    //! The LL-VQ, VQ, VQ-EMA and finite-codebook (FSQ, bounded lattice) layers and the
    //! paper's VQ-VAE on [tch](https://docs.rs/tch) (libtorch 2.11), CPU or CUDA: the items
    //! of crate `lattice-vq-tch`, under `lattice_vq::tch`.
    //!
    //! Layers take an `nn::Path` first, as tch's own do; [`Quantizer::quantize`] returns a
    //! named [`QuantizerOutput`] whose [`Codes`] say what they are, and
    //! [`Quantizer::decode`] turns codes back into points. Your crate depends on `tch` 0.24
    //! (the version this layer is built with) for the tensors and the `VarStore`.
    //!
    //! # Example
    //! (Not compiled here: this crate does not depend on `tch` itself; your crate does.)
    //! ```ignore
    //! use lattice_vq::LatticeQuantizerConfig;
    //! use lattice_vq::tch::{lattice_quantizer, Quantizer};
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
    #[doc(inline)]
    pub use lattice_vq_tch::*;
}

#[cfg(feature = "candle")]
pub mod candle {
    //! The LL-VQ, VQ, VQ-EMA and finite-codebook (FSQ, bounded lattice) layers and the
    //! paper's VQ-VAE on [candle](https://docs.rs/candle-core), pure Rust, CPU or CUDA
    //! (feature `cuda`): the items of crate `lattice-vq-candle`, under `lattice_vq::candle`.
    //!
    //! Layers follow candle's conventions: a constructor function taking a `VarBuilder` last
    //! ([`lattice_quantizer`], [`finite_quantizer`], [`vector_quantizer`],
    //! [`vector_quantizer_ema`], [`vqvae`]), the fallible [`Quantizer::quantize`] (a named
    //! [`QuantizerOutput`]) and [`Quantizer::decode`] ([`Codes`] back to points), and candle's
    //! `Module`. Your crate depends on `candle-core` and `candle-nn` 0.11, the version these
    //! layers are built with (another version is another `Tensor` type). The CPU
    //! convolutions the reference model trains with are in [`kernels`].
    //!
    //! # Example
    //! The LL-VQ layer between your own encoder and decoder (the runnable version, trained on
    //! Fashion-MNIST: `examples/candle_autoencoder.rs`):
    //! ```
    //! use candle_core::{DType, Device, Module, Tensor};
    //! use candle_nn::{AdamW, Conv2dConfig, ConvTranspose2dConfig, Optimizer, ParamsAdamW};
    //! use candle_nn::{VarBuilder, VarMap};
    //! use lattice_vq::LatticeQuantizerConfig;
    //! use lattice_vq::candle::{Quantizer, lattice_quantizer};
    //!
    //! let (varmap, device) = (VarMap::new(), Device::Cpu);
    //! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    //! let (down, up) = (
    //!     Conv2dConfig { stride: 2, padding: 1, ..Default::default() },
    //!     ConvTranspose2dConfig { stride: 2, padding: 1, ..Default::default() },
    //! );
    //! let encoder = candle_nn::conv2d(1, 8, 4, down, vb.pp("encoder"))?; // D = 8 channels
    //! let quantizer = lattice_quantizer(&LatticeQuantizerConfig::new(512, 8), vb.pp("vq"))?;
    //! let decoder = candle_nn::conv_transpose2d(8, 1, 4, up, vb.pp("decoder"))?;
    //! let mut adam = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
    //!
    //! let images = Tensor::rand(0f32, 1.0, (4, 1, 28, 28), &device)?;
    //! let out = quantizer.quantize(&encoder.forward(&images)?, true)?;
    //! let reconstruction = decoder.forward(&out.quantized)?; // straight-through
    //! let loss = (candle_nn::loss::mse(&reconstruction, &images)? + &out.loss)?;
    //! adam.backward_step(&loss)?;
    //!
    //! // Integer codes, D per latent position, channels last; and back to the decoder's input.
    //! let codes = out.codes.lattice().ok_or("LL-VQ gives lattice codes")?;
    //! assert_eq!(codes.dims(), &[4, 14, 14, 8]);
    //! assert_eq!(quantizer.decode(&out.codes)?.dims(), &[4, 8, 14, 14]);
    //! # Ok::<(), Box<dyn std::error::Error>>(())
    //! ```
    #[doc(inline)]
    pub use lattice_vq_candle::*;
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
