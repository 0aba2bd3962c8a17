//! What both backends take from the core's description of the model
//! (`lattice_vq_core::network`): the variables Adam trains with their shapes, the lattice
//! basis's name, whether the quantizer keeps EMA state, and the width of its code rows; and
//! the code rows of a batch from what a backend copied off its device.

use std::collections::BTreeMap;

use lattice_vq_core::network::TensorInit;
use lattice_vq_core::{QuantizerConfig, VqVaeConfig};

use super::counting::{CodeKind, CodeRows};
use crate::error::Result;

/// The model's variables as the backends need them, from
/// [`VqVaeConfig::tensors`](lattice_vq_core::VqVaeConfig::tensors).
#[derive(Debug, Clone)]
pub(crate) struct ModelSpec {
    /// The variables an optimizer trains (official names), with their shapes: all but a
    /// VQ-EMA quantizer's, which move by their moving averages and get no gradient.
    pub trained: BTreeMap<String, Vec<usize>>,
    /// The official name of the lattice basis `(1, D)`; `None` for VQ and VQ-EMA.
    pub basis: Option<String>,
    /// Whether the quantizer keeps state that moves without gradients (VQ-EMA).
    pub has_ema: bool,
    /// Whether the quantizer is a finite codebook (FSQ, the bounded lattice): it has token
    /// indices and a box to overload.
    pub finite: bool,
    /// The latents' dimension D.
    pub dim: usize,
}

impl ModelSpec {
    /// The spec of the model `config` with `quantizer`.
    ///
    /// # Errors
    /// An invalid config ([`VqVaeConfig::tensors`]).
    pub fn new(config: &VqVaeConfig, quantizer: &QuantizerConfig) -> Result<Self> {
        let tensors = config.tensors(quantizer)?;
        Ok(Self {
            trained: tensors
                .iter()
                .filter(|t| t.trainable)
                .map(|t| (t.name.clone(), t.shape.clone()))
                .collect(),
            basis: tensors
                .iter()
                .find(|t| matches!(t.init, TensorInit::LatticeBasis { .. }))
                .map(|t| t.name.clone()),
            // Only VQ-EMA's buffers move in training mode; a finite codebook's `levels.i`
            // buffers never change.
            has_ema: matches!(quantizer, QuantizerConfig::VqEma(_)),
            finite: matches!(quantizer, QuantizerConfig::Finite(_)),
            dim: quantizer.dim(),
        })
    }

    /// The code rows of one batch as `kind` says: `codes` gives the integer codes flattened
    /// in row order (lattice coordinates, D a row; codeword indices, one a row), `vectors`
    /// the quantized vectors `e` flattened in row order, bit for bit (D floats a row). Only
    /// the one `kind` needs is called.
    ///
    /// # Errors
    /// Whatever the one called returns.
    pub fn code_rows(
        &self,
        kind: CodeKind,
        codes: impl FnOnce() -> Result<Vec<i32>>,
        vectors: impl FnOnce() -> Result<Vec<f32>>,
    ) -> Result<CodeRows> {
        Ok(match kind {
            CodeKind::None => CodeRows::default(),
            CodeKind::Codes => CodeRows {
                data: codes()?,
                dim: if self.basis.is_some() { self.dim } else { 1 },
            },
            CodeKind::Vectors => CodeRows::from_vectors(&vectors()?, self.dim),
        })
    }
}
