//! The finite-codebook layers (FSQ, the bounded lattice) on one backend: what the `finite`
//! suite needs beyond [`ModelBackend`].

use std::collections::BTreeMap;
use std::fmt::Debug;

use lattice_vq_core::FiniteQuantizerConfig;
use ndarray::{ArrayD, ArrayViewD};

use crate::backend::ModelBackend;
use crate::failure::Failure;
use crate::types::{DType, Input, LossParts};

/// What a finite layer's `quantize_finite` returns, read back as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct FiniteQuantization {
    /// The decoder input (straight-through, projected back to D), in the latents' layout.
    pub quantized: ArrayD<f64>,
    /// The codebook points `e` (`d` wide), in the latents' layout.
    pub points: ArrayD<f64>,
    /// The points as the decoder gets them (projected back to D), in the latents' layout.
    pub decoded: ArrayD<f64>,
    /// The digits, channel-last `(..., d)`, from an I32 tensor.
    pub codes: ArrayD<i32>,
    /// The token indices `(...)`, from an I64 tensor.
    pub indices: ArrayD<i64>,
    /// The weighted loss.
    pub loss: f64,
    /// Its unweighted parts.
    pub parts: LossParts,
    /// Latent scalars outside the box.
    pub overloaded: u64,
}

/// The weights of the objective whose gradients [`FiniteBackend::finite_gradients`] takes:
/// `quantized * sum(quantized * upstream) + embedding * e + commitment * c + size * s`
/// (each part unweighted by the config), so that a suite can check each term alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// Weight of `sum(quantized * upstream)`.
    pub quantized: f64,
    /// Weight of the embedding loss.
    pub embedding: f64,
    /// Weight of the commitment loss.
    pub commitment: f64,
    /// Weight of the size loss.
    pub size: f64,
}

/// The finite layers of one backend (its free constructor `finite_quantizer`), and its
/// models with finite quantizers (through [`ModelBackend`]).
pub trait FiniteBackend: ModelBackend {
    /// A finite layer and whatever keeps its variables alive.
    type Finite: Debug;

    /// Build the layer of `config` with variables of `dtype`.
    ///
    /// # Errors
    /// The constructor's.
    fn finite(&self, config: &FiniteQuantizerConfig, dtype: DType)
    -> Result<Self::Finite, Failure>;

    /// Overwrite the layer's tensor `name` (under the layer: `step`, `offset`,
    /// `project_in.weight`, ...) with `values`, unvalidated.
    ///
    /// # Errors
    /// A host error, or [`Failure::Other`] for a name the layer lacks.
    fn set_finite_tensor(
        &self,
        layer: &mut Self::Finite,
        name: &str,
        values: ArrayViewD<f64>,
    ) -> Result<(), Failure>;

    /// The layer's tensor `name`, read back.
    ///
    /// # Errors
    /// A host error, or [`Failure::Other`] for a name the layer lacks.
    fn finite_tensor(&self, layer: &Self::Finite, name: &str) -> Result<ArrayD<f64>, Failure>;

    /// `quantize_finite(latents)`, read back.
    ///
    /// # Errors
    /// The layer's.
    fn finite_quantize(
        &self,
        layer: &Self::Finite,
        latents: &Input,
    ) -> Result<FiniteQuantization, Failure>;

    /// `Quantizer::decode(Codes::Indices(indices))`, the indices built as an I64 tensor.
    ///
    /// # Errors
    /// The layer's.
    fn finite_decode(
        &self,
        layer: &Self::Finite,
        indices: &ArrayD<i64>,
    ) -> Result<ArrayD<f64>, Failure>;

    /// Gradients of `objective` (`upstream` has the decoder input's shape and the layer's
    /// dtype) with respect to the latents (key `latents`) and every trainable tensor of the
    /// layer (keys as in [`FiniteBackend::set_finite_tensor`]).
    ///
    /// # Errors
    /// The layer's.
    fn finite_gradients(
        &self,
        layer: &Self::Finite,
        latents: &Input,
        upstream: &Input,
        objective: Objective,
    ) -> Result<BTreeMap<String, ArrayD<f64>>, Failure>;
}
