//! The VQ-VAE baseline whose codebook follows exponential moving averages.

use candle_core::{DType, Tensor, Var};
use candle_nn::VarBuilder;
use lattice_vq_core::{QuantizerConfig, VectorQuantizerEmaConfig};

use crate::error::Result;
use crate::output::{
    Codes, LossParts, QuantizerOutput, restore, restore_codes, to_rows, zero_like_scalar,
};
use crate::quantizer::{Quantizer, variables};
use crate::vq::{decode_indices, nearest_codewords};

/// VQ-VAE with an EMA codebook in candle tensor ops: the state `embedding.weight`, `ema_w`
/// and `ema_cluster_size` (names, shapes and initialisation: `QuantizerConfig::tensors`),
/// the assignment of `lattice_vq_core::vq::nearest_codewords`, the loss of
/// `lattice_vq_core::vq_loss::vq_ema_loss`. Training-mode forwards apply
/// `lattice_vq_core::ema::EmaCodebook::step` to the state in place (which needs a
/// `VarMap`-backed builder); it never receives gradients, and eval mode changes nothing.
///
/// # Example
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_vq_core::{QuantizerConfig, VectorQuantizerEmaConfig};
/// use lattice_vq_candle::{vector_quantizer_ema, Quantizer};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let vq = vector_quantizer_ema(&VectorQuantizerEmaConfig::new(512, 64), vb)?;
/// let before = vq.codebook().copy()?;
/// let out = vq.quantize(&Tensor::randn(0f32, 1.0, (4, 64, 7, 7), &Device::Cpu)?, true)?;
/// assert_eq!(out.codes.indices().unwrap().dims(), &[4, 7, 7]);
/// assert_ne!(vq.codebook().to_vec2::<f32>()?, before.to_vec2::<f32>()?); // trained: moved
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct VectorQuantizerEma {
    codebook: Tensor,
    ema_w: Tensor,
    cluster_size: Tensor,
    config: VectorQuantizerEmaConfig,
}

/// Build a VQ-EMA layer under `vb` (candle's constructor-function convention).
///
/// # Errors
/// As [`VectorQuantizerEma::new`].
pub fn vector_quantizer_ema(
    config: &VectorQuantizerEmaConfig,
    vb: VarBuilder,
) -> Result<VectorQuantizerEma> {
    VectorQuantizerEma::new(config, vb)
}

impl VectorQuantizerEma {
    /// Get or create the codebook and its EMA state under `vb` (`QuantizerConfig::tensors`).
    ///
    /// # Errors
    /// An invalid config or a candle error.
    pub fn new(config: &VectorQuantizerEmaConfig, vb: VarBuilder) -> Result<Self> {
        let [codebook, ema_w, cluster_size] = variables(QuantizerConfig::VqEma(*config), &vb)?;
        Ok(Self {
            codebook,
            ema_w,
            cluster_size,
            config: *config,
        })
    }

    /// The config the layer was built with.
    pub fn config(&self) -> &VectorQuantizerEmaConfig {
        &self.config
    }

    /// The codebook `(K, D)`.
    pub fn codebook(&self) -> &Tensor {
        &self.codebook
    }

    /// The variable `embedding.weight`: the codebook `(K, D)` (trained by the EMA updates,
    /// not by gradients).
    pub fn variable(&self) -> &Tensor {
        &self.codebook
    }

    /// The EMA of per-codeword sums `(K, D)`.
    pub fn ema_w(&self) -> &Tensor {
        &self.ema_w
    }

    /// The smoothed EMA of per-codeword counts `(K,)`.
    pub fn cluster_size(&self) -> &Tensor {
        &self.cluster_size
    }

    /// `EmaCodebook::step` with the batch's assignments, in its order of operations.
    fn update(&self, rows: &Tensor, indices: &Tensor) -> Result<()> {
        let (decay, epsilon) = (self.config.decay, self.config.epsilon);
        let codebook_size = self.config.codebook_size as f64;
        let (dtype, device) = (rows.dtype(), rows.device());
        let counts = Tensor::zeros(self.config.codebook_size, dtype, device)?.index_add(
            indices,
            &Tensor::ones(rows.dims()[0], dtype, device)?,
            0,
        )?;
        let sums = self.ema_w.zeros_like()?.index_add(indices, rows, 0)?;
        let cluster_size =
            (self.cluster_size.affine(decay, 0.0)? + counts.affine(1.0 - decay, 0.0)?)?;
        let total = cluster_size.sum_all()?;
        let smoothed = cluster_size
            .affine(1.0, epsilon)?
            .broadcast_div(&total.affine(1.0, codebook_size * epsilon)?)?
            .broadcast_mul(&total)?;
        let ema_w = (self.ema_w.affine(decay, 0.0)? + sums.affine(1.0 - decay, 0.0)?)?;
        let codebook = ema_w.broadcast_div(&smoothed.unsqueeze(1)?)?;
        Var::from_tensor(&self.cluster_size)?.set(&smoothed)?;
        Var::from_tensor(&self.ema_w)?.set(&ema_w)?;
        Var::from_tensor(&self.codebook)?.set(&codebook)?;
        Ok(())
    }
}

impl Quantizer for VectorQuantizerEma {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.codebook.dtype())?;
        let indices = nearest_codewords(&rows, &self.codebook)?;
        // A copy: the update below overwrites the codebook's storage in place.
        let points = self.codebook.index_select(&indices, 0)?.detach();
        if train {
            self.update(&rows.detach(), &indices)?;
        }
        let commitment = (&points - &rows)?.sqr()?.mean_all()?;
        let loss = commitment.affine(self.config.commitment_cost, 0.0)?;
        let straight_through = (&rows + (&points - &rows)?.detach())?;
        Ok(QuantizerOutput {
            quantized: restore(layout, &straight_through, dim)?,
            points: restore(layout, &points, dim)?,
            codes: Codes::Indices(restore_codes(layout, &indices.to_dtype(DType::I64)?)?),
            loss,
            parts: LossParts {
                embedding: zero_like_scalar(&rows)?,
                commitment,
                size: zero_like_scalar(&rows)?,
            },
        })
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        decode_indices(&self.codebook, codes, self.dim())
    }
}

/// `ModuleT` view of the layer: the straight-through quantized latents only; training mode
/// updates the codebook, as [`Quantizer::quantize`] does. (No `Module`: candle gives every
/// `Module` a `ModuleT` that ignores the flag, which would never train the codebook.)
impl candle_core::ModuleT for VectorQuantizerEma {
    fn forward_t(&self, latents: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Ok(self.quantize(latents, train)?.quantized)
    }
}
