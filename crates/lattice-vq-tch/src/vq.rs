//! The VQ-VAE baseline: a K x D codebook trained by the embedding loss.

use lattice_vq_core::{LatticeFloat, QuantizerConfig, VectorQuantizerConfig, vq_certificate};
use tch::kind::Element;
use tch::{Kind, Tensor, nn};

use crate::error::Result;
use crate::output::{
    Codes, LossParts, QuantizerOutput, host, index_rows, output_from_rows, restore,
    straight_through, to_rows, vq_losses, zero_like_scalar,
};
use crate::quantizer::{Quantizer, module_and_constructor, variables};

/// Vector quantizer of the VQ-VAE (paper Eq. 1-2), as the official code computes it: the
/// codebook `embedding.weight` `(K, D)` (as `QuantizerConfig::tensors` initialises it), the
/// assignment of `lattice_vq_core::vq::nearest_codewords`, the loss of
/// `lattice_vq_core::vq_loss::vq_loss`, straight-through output. Codes are codeword indices
/// ([`Codes::Indices`], `Int64`).
///
/// # Example
/// ```no_run
/// use lattice_vq_core::VectorQuantizerConfig;
/// use lattice_vq_tch::{vector_quantizer, Quantizer};
/// use tch::{nn, Device, Kind, Tensor};
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let vq = vector_quantizer(&vs.root(), &VectorQuantizerConfig::new(512, 64))?;
/// // (B, T, D) sequences: 4 sequences of 10 tokens.
/// let out = vq.quantize(&Tensor::randn([4, 10, 64], (Kind::Float, Device::Cpu)), true)?;
/// assert_eq!(out.codes.indices().unwrap().size(), vec![4, 10]);
/// assert!(vq.decode(&out.codes)?.equal(&out.points));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VectorQuantizer {
    codebook: Tensor,
    config: VectorQuantizerConfig,
}

impl VectorQuantizer {
    /// Register the codebook under `path`.
    ///
    /// # Errors
    /// An invalid config or a libtorch error.
    pub fn new(path: &nn::Path, config: &VectorQuantizerConfig) -> Result<Self> {
        config.validate()?;
        let [codebook] = variables(QuantizerConfig::Vq(*config), path)?;
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

/// Index (`Int64`, `(N,)`) of each row's nearest codeword under the rule of
/// `lattice_vq_core::vq`: the fast distances on the device (one matrix product and `topk(2)`,
/// as the official code's `argmin`), then `lattice_vq_core::vq_certificate` (IEEE `f32`
/// products assumed: `TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1` would void it).
///
/// # Errors
/// The core's `NonFiniteCodeword` or `NonFiniteLatent`, or a libtorch error.
pub(crate) fn nearest_codewords(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    match rows.kind() {
        Kind::Double => nearest_as::<f64>(rows, codebook),
        _ => nearest_as::<f32>(rows, codebook),
    }
}

fn nearest_as<T: Element + Copy + LatticeFloat>(
    rows: &Tensor,
    codebook: &Tensor,
) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let (kind, dim) = (Some(rows.kind()), rows.size()[1]);
    let z_norms = rows.f_square()?.f_sum_dim_intlist(1, false, kind)?;
    let e_norms = codebook.f_square()?.f_sum_dim_intlist(1, false, kind)?;
    let distances = z_norms
        .f_unsqueeze(1)?
        .f_add(&e_norms)?
        .f_sub(&rows.f_matmul(&codebook.f_tr()?)?.f_mul_scalar(2.0)?)?;
    let (smallest, positions) = distances.f_topk(codebook.size()[0].min(2), 1, false, true)?;
    let indices = positions.f_select(1, 0)?;
    let second = match smallest.size()[1] {
        2 => host::<T>(&smallest.f_select(1, 1)?)?,
        _ => Vec::new(),
    };
    let uncertain = vq_certificate::uncertified_rows(
        dim as usize,
        &host::<T>(&z_norms)?,
        &host::<T>(&e_norms)?,
        &host::<T>(&smallest.f_select(1, 0)?)?,
        &second,
    )?;
    if uncertain.is_empty() {
        return Ok(indices);
    }
    let ids: Vec<i64> = uncertain.iter().map(|&row| row as i64).collect();
    let ids = Tensor::from_slice(&ids).f_to_device(rows.device())?;
    let subset = host::<T>(&rows.f_index_select(0, &ids)?)?;
    let answers =
        vq_certificate::decide_rows(&host::<T>(codebook)?, &subset, &uncertain, dim as usize)?;
    let answers: Vec<i64> = answers.iter().map(|&k| k as i64).collect();
    let answers = Tensor::from_slice(&answers).f_to_device(rows.device())?;
    Ok(indices.f_index_copy(0, &ids, &answers)?)
}

impl Quantizer for VectorQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.codebook.kind())?;
        let indices = nearest_codewords(&rows, &self.codebook)?;
        let points = self.codebook.f_index_select(0, &indices)?;
        let (embedding, commitment) = vq_losses(&points, &rows)?;
        let loss = embedding.f_add(&commitment.f_mul_scalar(self.config.commitment_cost)?)?;
        let quantized = straight_through(&rows, &points)?;
        let parts = LossParts {
            embedding,
            commitment,
            size: zero_like_scalar(&rows)?,
        };
        let codes = Codes::Indices(indices.f_to_kind(Kind::Int64)?);
        let points = points.f_detach()?;
        output_from_rows(layout, dim, (&quantized, &points), codes, loss, parts)
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        decode_indices(&self.codebook, codes, self.dim())
    }
}

/// The codewords of `codebook` that indices pick, detached, in the indices' layout.
pub(crate) fn decode_indices(codebook: &Tensor, codes: &Codes, dim: usize) -> Result<Tensor> {
    let (indices, layout) = index_rows(codes, codebook.size()[0] as usize)?;
    restore(
        layout,
        &codebook.f_detach()?.f_index_select(0, &indices)?,
        dim,
    )
}

module_and_constructor!(VectorQuantizer, vector_quantizer, VectorQuantizerConfig);
