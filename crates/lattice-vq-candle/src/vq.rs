//! The VQ-VAE baseline: a K x D codebook trained by the embedding loss.

use candle_core::WithDType;
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use lattice_vq_core::{LatticeFloat, QuantizerConfig, VectorQuantizerConfig, vq_certificate};

use crate::error::{Result, input_shape};
use crate::output::{
    Codes, LossParts, QuantizerOutput, code_rows, host, restore, restore_codes, to_rows,
    zero_like_scalar,
};
use crate::quantizer::{Quantizer, variables};

/// Vector quantizer of the VQ-VAE (paper Eq. 1-2) in candle tensor ops: the codebook
/// `embedding.weight` `(K, D)` (`QuantizerConfig::tensors` gives its initialisation), the
/// assignment of `lattice_vq_core::vq::nearest_codewords`, the loss of
/// `lattice_vq_core::vq_loss::vq_loss`, the straight-through output; codes are the codeword
/// indices (`I64`).
///
/// # Example
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_vq_core::{QuantizerConfig, VectorQuantizerConfig};
/// use lattice_vq_candle::{vector_quantizer, Quantizer};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let vq = vector_quantizer(&VectorQuantizerConfig::new(512, 64), vb)?;
/// let out = vq.quantize(&Tensor::randn(0f32, 1.0, (4, 64), &Device::Cpu)?, true)?;
/// assert_eq!(out.codes.indices().unwrap().dims(), &[4]);
/// assert_eq!(vq.decode(&out.codes)?.to_vec2::<f32>()?, out.points.to_vec2::<f32>()?);
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
    /// Get or create the codebook under `vb` (`QuantizerConfig::tensors`).
    ///
    /// # Errors
    /// An invalid config or a candle error.
    pub fn new(config: &VectorQuantizerConfig, vb: VarBuilder) -> Result<Self> {
        let [codebook] = variables(QuantizerConfig::Vq(*config), &vb)?;
        Ok(Self {
            codebook,
            config: *config,
        })
    }

    /// The config the layer was built with.
    pub fn config(&self) -> &VectorQuantizerConfig {
        &self.config
    }

    /// The codebook `(K, D)`.
    pub fn codebook(&self) -> &Tensor {
        &self.codebook
    }

    /// The trainable variable `embedding.weight`: the codebook `(K, D)`, the key of its
    /// gradient.
    pub fn variable(&self) -> &Tensor {
        &self.codebook
    }
}

/// Codeword indices as `quantize` returned them back to codewords of `codebook`, in the
/// layout `quantize` gave `quantized` (no gradient): VQ and VQ-EMA decode alike.
pub(crate) fn decode_indices(codebook: &Tensor, codes: &Codes, dim: usize) -> Result<Tensor> {
    let Codes::Indices(indices) = codes else {
        let requirement = "a VQ layer decodes codeword indices, not lattice codes";
        return Err(input_shape("codes", codes.tensor(), requirement.into()));
    };
    let (indices, layout) = code_rows(indices, dim, false)?;
    let points = codebook
        .detach()
        .index_select(&indices.to_device(codebook.device())?, 0)?;
    restore(layout, &points, dim)
}

/// Index (`U32`, shape `(N,)`) of the nearest codeword of each row under the rule of
/// `lattice_vq_core::vq::nearest_codewords`: the fast distances `(|z|^2 + |e|^2) - 2 z.e`
/// (one matrix product, as the official code) with each row's argmin and second smallest
/// value, then the host half of `lattice_vq_core::vq_certificate` on the norms and those two
/// values; the rows it does not certify (near ties, duplicated codewords, NaN or overflowing
/// values) are decided by the core on host copies.
///
/// # Errors
/// `lattice_vq_core::Error::NonFiniteCodeword` (checked first) or
/// `lattice_vq_core::Error::NonFiniteLatent`, naming the first bad entry, or a candle error.
pub(crate) fn nearest_codewords(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    match rows.dtype() {
        DType::F64 => nearest_as::<f64>(rows, codebook),
        _ => nearest_as::<f32>(rows, codebook),
    }
}

fn nearest_as<T: LatticeFloat + WithDType>(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    let (rows, codebook) = (rows.detach(), codebook.detach());
    let (codebook_size, dim) = codebook.dims2()?;
    let z_norms = rows.sqr()?.sum_keepdim(1)?;
    let e_norms = codebook.sqr()?.sum(1)?;
    let distances = z_norms
        .broadcast_add(&e_norms)?
        .broadcast_sub(&rows.matmul(&codebook.t()?)?.affine(2.0, 0.0)?)?;
    let indices = distances.argmin_keepdim(1)?;
    let best = distances.gather(&indices, 1)?;
    let second = if codebook_size > 1 {
        // The argmin's entry set to +inf (the distances are not read again), then the minimum.
        let infinite =
            Tensor::full(f64::INFINITY, best.dims(), best.device())?.to_dtype(best.dtype())?;
        distances.scatter_set(&indices, &infinite, 1)?;
        host::<T>(&distances.min_keepdim(1)?)?
    } else {
        Vec::new()
    };
    // TF32 matrix products (CUDA's reduced precision) void the certificate: every row goes to
    // the core then.
    let reduced = T::DTYPE == DType::F32
        && rows.device().is_cuda()
        && candle_core::cuda::gemm_reduced_precision_f32();
    let uncertain = if reduced {
        (0..rows.dim(0)?).collect()
    } else {
        let (z_norms, e_norms, best) = (host::<T>(&z_norms)?, host(&e_norms)?, host(&best)?);
        vq_certificate::uncertified_rows(dim, &z_norms, &e_norms, &best, &second)?
    };
    let indices = indices.squeeze(1)?;
    if uncertain.is_empty() {
        return Ok(indices);
    }
    let ids: Vec<u32> = uncertain.iter().map(|&row| row as u32).collect();
    let ids = Tensor::new(ids.as_slice(), rows.device())?;
    let subset = host::<T>(&rows.index_select(&ids, 0)?)?;
    let answers = vq_certificate::decide_rows(&host(&codebook)?, &subset, &uncertain, dim)?;
    let mut all = indices.to_vec1::<u32>()?;
    for (&row, answer) in uncertain.iter().zip(answers) {
        all[row] = answer as u32;
    }
    Ok(Tensor::new(all, rows.device())?)
}

impl Quantizer for VectorQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.codebook.dtype())?;
        let indices = nearest_codewords(&rows, &self.codebook)?;
        let points = self.codebook.index_select(&indices, 0)?;
        let embedding = (&points - rows.detach())?.sqr()?.mean_all()?;
        let commitment = (points.detach() - &rows)?.sqr()?.mean_all()?;
        let loss = (&embedding + commitment.affine(self.config.commitment_cost, 0.0)?)?;
        let straight_through = (&rows + (&points - &rows)?.detach())?;
        Ok(QuantizerOutput {
            quantized: restore(layout, &straight_through, dim)?,
            points: restore(layout, &points.detach(), dim)?,
            codes: Codes::Indices(restore_codes(layout, &indices.to_dtype(DType::I64)?)?),
            loss,
            parts: LossParts {
                embedding,
                commitment,
                size: zero_like_scalar(&rows)?,
            },
        })
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        decode_indices(&self.codebook, codes, self.dim())
    }
}

/// `Module` view of the layer: the straight-through quantized latents only (the training
/// flag changes nothing for VQ, so candle's `ModuleT` for every `Module` is the same).
impl candle_core::Module for VectorQuantizer {
    fn forward(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.quantize(latents, false)?.quantized)
    }
}
