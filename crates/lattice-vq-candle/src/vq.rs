//! The VQ-VAE baseline: a K x D codebook trained by the embedding loss.

use candle_core::WithDType;
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use lattice_vq_core::LatticeFloat;
use lattice_vq_core::vq::FastSearchBound;
use lattice_vq_core::{QuantizerConfig, VectorQuantizerConfig};
use ndarray::{Array2, LinalgScalar};

use crate::error::{Error, Result};
use crate::output::{
    Codes, LossParts, QuantizerOutput, code_rows, first_non_finite, restore, restore_codes,
    sum_is_finite, to_rows, zero_like_scalar,
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
        return Err(Error::InputShape {
            what: "codes",
            found: codes.tensor().dims().to_vec(),
            requirement: "a VQ layer decodes codeword indices, not lattice codes".into(),
        });
    };
    let (indices, layout) = code_rows(indices, dim, false)?;
    let points = codebook
        .detach()
        .index_select(&indices.to_device(codebook.device())?, 0)?;
    restore(layout, &points, dim)
}

/// Index (`U32`, shape `(N,)`) of the nearest codeword of each row under the rule of
/// `lattice_vq_core::vq::nearest_codewords`: the fast distances `(|z|^2 + |e|^2) - 2 z.e`
/// (one matrix product, as the official code), each row's argmin certified by
/// `lattice_vq_core::vq::FastSearchBound` (second smallest `> best + tau`; a NaN or
/// infinite latent or codeword voids it). Only when some row is not certified are the
/// inputs checked (the first bad entry is an error) and those rows decided on the host by
/// the core.
///
/// # Errors
/// `lattice_vq_core::Error::NonFiniteCodeword` (checked first) or
/// `lattice_vq_core::Error::NonFiniteLatent`, naming the first bad entry, or a candle error.
pub(crate) fn nearest_codewords(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    let (rows, codebook) = (rows.detach(), codebook.detach());
    let (n, dim) = rows.dims2()?;
    let device = rows.device();
    let z_norms = rows.sqr()?.sum_keepdim(1)?;
    let e_norms = codebook.sqr()?.sum(1)?;
    let distances = z_norms
        .broadcast_add(&e_norms)?
        .broadcast_sub(&rows.matmul(&codebook.t()?)?.affine(2.0, 0.0)?)?;
    let indices = distances.argmin_keepdim(1)?;
    let certified = match fast_search_bound(rows.dtype(), dim, device) {
        Some(bound) => certified_rows(&bound, &distances, &indices, &z_norms, &codebook, &e_norms)?,
        None => Tensor::zeros((n, 1), DType::U8, device)?,
    };
    let indices = indices.squeeze(1)?;
    let certified_count = certified
        .to_dtype(DType::F64)?
        .sum_all()?
        .to_scalar::<f64>()?;
    if certified_count == n as f64 {
        return Ok(indices);
    }
    let certified = certified.squeeze(1)?;
    match rows.dtype() {
        DType::F64 => decide_on_host::<f64>(&rows, &codebook, &indices, &certified),
        _ => decide_on_host::<f32>(&rows, &codebook, &indices, &certified),
    }
}

/// The certificate's factors for `dtype`, or `None` when it proves nothing: a dimension
/// too large for it, or CUDA `f32` matrix products in reduced (TF32) precision.
fn fast_search_bound(
    dtype: DType,
    dim: usize,
    device: &candle_core::Device,
) -> Option<FastSearchBound<f64>> {
    let widen = |b: FastSearchBound<f32>| FastSearchBound {
        norm_factor: f64::from(b.norm_factor),
        scale_factor: f64::from(b.scale_factor),
        distance_factor: f64::from(b.distance_factor),
        floor: f64::from(b.floor),
        max_scale: f64::from(b.max_scale),
    };
    match dtype {
        DType::F64 => FastSearchBound::<f64>::new(dim),
        _ if device.is_cuda() && candle_core::cuda::gemm_reduced_precision_f32() => None,
        _ => FastSearchBound::<f32>::new(dim).map(widen),
    }
}

/// `(N, 1)` `U8`: 1 where the fast argmin is certified. Overwrites the argmin's entry of
/// `distances` (which the caller no longer reads) with `+inf`.
fn certified_rows(
    bound: &FastSearchBound<f64>,
    distances: &Tensor,
    indices: &Tensor,
    z_norms: &Tensor,
    codebook: &Tensor,
    e_norms: &Tensor,
) -> Result<Tensor> {
    let best = distances.gather(indices, 1)?;
    let infinite =
        Tensor::full(f64::INFINITY, best.dims(), best.device())?.to_dtype(best.dtype())?;
    distances.scatter_set(indices, &infinite, 1)?;
    let second = distances.min_keepdim(1)?;
    // tau = f_n (B* + 2 sqrt(A B*)) + f_s (A + B*) + f_d |best| + floor, B* = max |e|^2,
    // plus 0 * sum(codebook): NaN for a NaN or infinite codeword, whatever `max` makes of it.
    let poison = codebook.sum_all()?.affine(0.0, 0.0)?.reshape(1)?;
    let max_norm = e_norms.max_keepdim(0)?.broadcast_add(&poison)?;
    let cross = z_norms
        .sqrt()?
        .broadcast_mul(&max_norm.sqrt()?)?
        .affine(2.0, 0.0)?
        .broadcast_add(&max_norm)?;
    let scale = z_norms.broadcast_add(&max_norm)?;
    let tau = ((cross.affine(bound.norm_factor, 0.0)?
        + scale.affine(bound.scale_factor, bound.floor)?)?
        + best.abs()?.affine(bound.distance_factor, 0.0)?)?;
    let window = (&best + tau)?;
    let finite_scale = scale.le(bound.max_scale)?;
    Ok(second.gt(&window)?.mul(&finite_scale)?)
}

/// The codebook, then the latents checked (the first bad entry is an error; a sum is finite
/// when no term is NaN or infinite, unless it overflowed: then the entries are scanned), then
/// the rows whose `certified` flag is 0 decided by `lattice_vq_core::vq::nearest_codewords`
/// on host copies; the others keep `indices`.
fn decide_on_host<T: LatticeFloat + WithDType + LinalgScalar>(
    rows: &Tensor,
    codebook: &Tensor,
    indices: &Tensor,
    certified: &Tensor,
) -> Result<Tensor> {
    let host = |t: &Tensor| -> Result<Array2<T>> {
        let values = t.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()?;
        Ok(Array2::from_shape_vec(t.dims2()?, values).map_err(candle_core::Error::wrap)?)
    };
    let codebook = host(codebook)?;
    lattice_vq_core::vq::check_codebook(codebook.view())?;
    if !sum_is_finite(rows)?
        && let Some(error) = first_non_finite(rows)?
    {
        return Err(error.into());
    }
    let uncertain: Vec<u32> = certified
        .to_vec1::<u8>()?
        .iter()
        .enumerate()
        .filter(|&(_, &flag)| flag == 0)
        .map(|(row, _)| row as u32)
        .collect();
    let subset = rows.index_select(&Tensor::new(uncertain.as_slice(), rows.device())?, 0)?;
    let answers = lattice_vq_core::vq::nearest_codewords(codebook.view(), host(&subset)?.view())?;
    let mut all = indices.to_vec1::<u32>()?;
    for (&row, &answer) in uncertain.iter().zip(&answers) {
        all[row as usize] = answer as u32;
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
