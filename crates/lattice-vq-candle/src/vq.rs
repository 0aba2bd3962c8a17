//! The VQ-VAE baseline: a K x D codebook trained by the embedding loss.

use candle_core::{DType, Tensor};
use candle_nn::{Init, VarBuilder};
use lattice_core::VectorQuantizerConfig;

use crate::error::Result;
use crate::output::{
    LossParts, QuantizerOutput, first_non_finite, sum_is_finite, to_rows, zero_like_scalar,
};
use crate::quantizer::Quantizer;

/// Vector quantizer of the VQ-VAE (paper Eq. 1-2), as the official code computes it; the
/// candle twin of `lattice_vq_tch::VectorQuantizer`.
///
/// The codebook is `embedding.weight`, `(K, D)`, initialised `U(-1/K, 1/K)`. Nearest
/// codewords by `|z|^2 + |e|^2 - 2 z.e`; exact ties go to the lowest index. Loss
/// `mean((e - sg z)^2) + commitment_cost * mean((sg e - z)^2)`; straight-through output.
/// Codes are the codeword indices (`I64`).
///
/// # Example
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_core::VectorQuantizerConfig;
/// use lattice_vq_candle::{vector_quantizer, Quantizer};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let vq = vector_quantizer(&VectorQuantizerConfig::new(512, 64), vb)?;
/// let out = vq.forward_t(&Tensor::randn(0f32, 1.0, (4, 64), &Device::Cpu)?, true)?;
/// assert_eq!(out.codes.dims(), &[4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct VectorQuantizer {
    codebook: Tensor,
    config: VectorQuantizerConfig,
}

/// Build a VQ layer under `vb` (candle's constructor-function convention).
///
/// # Errors
/// As [`VectorQuantizer::new`].
pub fn vector_quantizer(config: &VectorQuantizerConfig, vb: VarBuilder) -> Result<VectorQuantizer> {
    VectorQuantizer::new(config, vb)
}

impl VectorQuantizer {
    /// Get or create the codebook under `vb`, initialised `U(-1/K, 1/K)` when created.
    ///
    /// # Errors
    /// An invalid config or a candle error.
    pub fn new(config: &VectorQuantizerConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let half_width = config.init_half_width();
        let init = Init::Uniform {
            lo: -half_width,
            up: half_width,
        };
        let codebook = vb.pp("embedding").get_with_hints(
            (config.codebook_size, config.dim),
            "weight",
            init,
        )?;
        Ok(Self {
            codebook,
            config: *config,
        })
    }

    /// The codebook `(K, D)`.
    pub fn codebook(&self) -> &Tensor {
        &self.codebook
    }
}

/// Index (`U32`) of the nearest codeword of each row, as the official code computes it.
///
/// # Errors
/// Non-finite latents (`lattice_core::Error::NonFiniteLatent`) or a candle error.
pub(crate) fn nearest_codewords(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    let (rows, codebook) = (rows.detach(), codebook.detach());
    if !sum_is_finite(&rows)?
        && let Some(error) = first_non_finite(&rows)?
    {
        return Err(error.into());
    }
    let distances = rows
        .sqr()?
        .sum_keepdim(1)?
        .broadcast_add(&codebook.sqr()?.sum(1)?)?
        .broadcast_sub(&rows.matmul(&codebook.t()?)?.affine(2.0, 0.0)?)?;
    Ok(distances.argmin(1)?)
}

impl Quantizer for VectorQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn forward_t(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim)?;
        let indices = nearest_codewords(&rows, &self.codebook)?;
        let points = self.codebook.index_select(&indices, 0)?;
        let embedding = (&points - rows.detach())?.sqr()?.mean_all()?;
        let commitment = (points.detach() - &rows)?.sqr()?.mean_all()?;
        let loss = (&embedding + commitment.affine(self.config.commitment_cost, 0.0)?)?;
        let straight_through = (&rows + (&points - &rows)?.detach())?;
        Ok(QuantizerOutput {
            quantized: layout.restore(&straight_through, dim)?,
            codes: layout.codes(&indices.to_dtype(DType::I64)?)?,
            loss,
            parts: LossParts {
                embedding,
                commitment,
                size: zero_like_scalar(&rows)?,
            },
        })
    }
}
