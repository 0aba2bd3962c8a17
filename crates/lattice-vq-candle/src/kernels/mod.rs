//! The CPU kernels this crate gives candle: convolutions whose forward and backward passes
//! are matrix products on image chunks, the reference model's fused activations, and the
//! single-threaded matrix product under both. Nothing here is lattice math: the kernels work
//! on any `f32`/`f64` tensors (their own element trait, `KernelFloat` in `element.rs`), and the
//! layers call them.
//!
//! - [`conv2d`] and [`conv_transpose2d`]: PyTorch's convolutions, on the CPU as `im2col`,
//!   one matrix product per image chunk and `col2im` (`conv`), with candle's own kernels on
//!   other devices;
//! - `activation`: `x > 0 ? x : slope * x` (ReLU and LeakyReLU), fused into the
//!   convolutions or applied alone, with a gradient read off the output;
//! - `gemm`: one-thread matrix products through the `gemm` crate (the crate's only
//!   `unsafe`).

pub(crate) mod activation;
mod conv;
mod element;
pub(crate) mod gemm;

pub use conv::{conv_transpose2d, conv2d};
pub(crate) use conv::{conv_transpose2d_channels_last, conv2d_channels_last};
pub(crate) use element::{KernelFloat, elements};
