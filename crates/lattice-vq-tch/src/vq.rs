//! The VQ-VAE baseline: a K x D codebook trained by the embedding loss.

use lattice_vq_core::VectorQuantizerConfig;
use lattice_vq_core::vq::FastSearchBound;
use tch::{Kind, Tensor, nn};

use crate::error::Result;
use crate::output::{
    Codes, LossParts, QuantizerOutput, first_true, host, index_rows, output_from_rows, restore,
    straight_through, to_rows, vq_losses, zero_like_scalar,
};
use crate::quantizer::{Quantizer, module_and_constructor};

/// Vector quantizer of the VQ-VAE (paper Eq. 1-2), as the official code computes it.
///
/// The codebook is `embedding.weight`, `(K, D)`, initialised `U(-1/K, 1/K)`. Nearest
/// codewords as `lattice_vq_core::vq::nearest_codewords` defines them; NaN or infinite
/// codewords and latents are errors. Losses as `lattice_vq_core::vq_loss` specifies them;
/// straight-through output. Codes are the codeword indices (`Int64`, [`Codes::Indices`]);
/// `points` and [`Quantizer::decode`] are the codewords they pick.
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
    /// Register the codebook under `path`, initialised `U(-1/K, 1/K)`.
    ///
    /// # Errors
    /// An invalid config or a libtorch error.
    pub fn new(path: &nn::Path, config: &VectorQuantizerConfig) -> Result<Self> {
        config.validate()?;
        let half_width = config.init_half_width();
        let shape = [config.codebook_size as i64, config.dim as i64];
        let init = nn::Init::Uniform {
            lo: -half_width,
            up: half_width,
        };
        let codebook = path.sub("embedding").f_var("weight", &shape, init)?;
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

/// Index (`Int64`, shape `(N,)`) of the nearest codeword of each row under the rule of
/// `lattice_vq_core::vq` (lowest index among exact ties), which this function provably
/// follows:
///
/// - The fast distances `(|z|^2 + |e|^2) - 2 z.e` (one matrix product, as the official
///   code) give each row's two smallest values by `topk(2)` in place of `argmin`, one
///   pass and no `(N, K)` copy. A row is certified when `second > best + tau`, `tau` from
///   `lattice_vq_core::vq::FastSearchBound` (the proof is there; it assumes IEEE `f32`
///   matrix products, libtorch's default, which `TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1`
///   would void): then the smallest is the rule's answer. `tau` costs a few `(N,)` ops.
/// - Whether the latents and the codebook are finite and whether every row is certified
///   come back to the host in one transfer, as the finiteness check alone did before.
/// - Rows that are not certified (near ties, duplicated codewords, squares that overflow)
///   are copied to the host and decided by `lattice_vq_core::vq::nearest_codewords`.
///
/// # Errors
/// `lattice_vq_core::Error::NonFiniteCodeword` (checked first) or
/// `lattice_vq_core::Error::NonFiniteLatent`, naming the first bad entry, or a libtorch error.
pub(crate) fn nearest_codewords(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let (n, dim) = (rows.size()[0], rows.size()[1]);
    let codebook_size = codebook.size()[0];
    let kind = Some(rows.kind());
    let z_norms = rows.f_square()?.f_sum_dim_intlist(1, true, kind)?;
    let e_norms = codebook.f_square()?.f_sum_dim_intlist(1, false, kind)?;
    let distances = z_norms
        .f_add(&e_norms)?
        .f_sub(&rows.f_matmul(&codebook.f_tr()?)?.f_mul_scalar(2.0)?)?;
    let (smallest, positions) = distances.f_topk(codebook_size.min(2), 1, false, true)?;
    let indices = positions.f_select(1, 0)?;
    let best = smallest.f_narrow(1, 0, 1)?;
    let certified = match fast_search_bound(rows.kind(), dim as usize) {
        Some(bound) if codebook_size >= 2 => {
            let second = smallest.f_narrow(1, 1, 1)?;
            certified_rows(&bound, &best, &second, &z_norms, &e_norms)?
        }
        // One codeword: nothing to decide.
        _ if codebook_size == 1 => Tensor::f_ones([n, 1], (Kind::Bool, rows.device()))?,
        _ => Tensor::f_zeros([n, 1], (Kind::Bool, rows.device()))?,
    };
    let finite_rows = rows.f_isfinite()?;
    let checks = Tensor::f_stack(
        &[
            codebook.f_isfinite()?.f_all()?,
            finite_rows.f_all()?,
            certified.f_all()?,
        ],
        0,
    )?;
    let checks = Vec::<bool>::try_from(&checks)?;
    if !checks[0] {
        lattice_vq_core::vq::check_codebook_in_slice(&host::<f64>(codebook)?, dim as usize)?;
    }
    if !checks[1] {
        let (row, col) = first_true(&finite_rows.f_logical_not()?, dim)?.unwrap_or((0, 0));
        let value = rows.f_double_value(&[row as i64, col as i64])?;
        return Err(lattice_vq_core::Error::NonFiniteLatent { row, col, value }.into());
    }
    if checks[2] {
        return Ok(indices);
    }
    decide_on_host(rows, codebook, &indices, &certified.f_squeeze_dim(1)?)
}

/// The certificate's factors for `kind`, or `None` when the dimension is too large for it.
fn fast_search_bound(kind: Kind, dim: usize) -> Option<FastSearchBound<f64>> {
    match kind {
        Kind::Double => FastSearchBound::<f64>::new(dim),
        _ => FastSearchBound::<f32>::new(dim).map(|b| FastSearchBound {
            norm_factor: f64::from(b.norm_factor),
            scale_factor: f64::from(b.scale_factor),
            distance_factor: f64::from(b.distance_factor),
            floor: f64::from(b.floor),
            max_scale: f64::from(b.max_scale),
        }),
    }
}

/// `(N, 1)` `Bool`: whether each row's smallest fast distance `best` is certified against
/// the next one, `second`.
fn certified_rows(
    bound: &FastSearchBound<f64>,
    best: &Tensor,
    second: &Tensor,
    z_norms: &Tensor,
    e_norms: &Tensor,
) -> Result<Tensor> {
    // tau = f_n (B* + 2 sqrt(A B*)) + f_s (A + B*) + f_d |best| + floor, B* = max |e|^2.
    let max_norm = e_norms.f_amax(0, true)?;
    let cross = z_norms
        .f_sqrt()?
        .f_mul(&max_norm.f_sqrt()?)?
        .f_mul_scalar(2.0)?
        .f_add(&max_norm)?;
    let scale = z_norms.f_add(&max_norm)?;
    let tau = cross
        .f_mul_scalar(bound.norm_factor)?
        .f_add(&scale.f_mul_scalar(bound.scale_factor)?)?
        .f_add(&best.f_abs()?.f_mul_scalar(bound.distance_factor)?)?
        .f_add_scalar(bound.floor)?;
    let window = best.f_add(&tau)?;
    Ok(second
        .f_gt_tensor(&window)?
        .f_logical_and(&scale.f_le(bound.max_scale)?)?)
}

/// The rows whose `certified` flag is false, decided by
/// `lattice_vq_core::vq::nearest_codewords` on host copies; the others keep `indices`.
fn decide_on_host(
    rows: &Tensor,
    codebook: &Tensor,
    indices: &Tensor,
    certified: &Tensor,
) -> Result<Tensor> {
    let uncertain = certified.f_logical_not()?.f_nonzero()?.f_squeeze_dim(1)?;
    let subset = rows.f_index_select(0, &uncertain)?;
    let dim = rows.size()[1] as usize;
    let answers = match rows.kind() {
        Kind::Double => lattice_vq_core::vq::nearest_codewords_in_slices(
            &host::<f64>(codebook)?,
            &host::<f64>(&subset)?,
            dim,
        )?,
        _ => lattice_vq_core::vq::nearest_codewords_in_slices(
            &host::<f32>(codebook)?,
            &host::<f32>(&subset)?,
            dim,
        )?,
    };
    let mut all = Vec::<i64>::try_from(indices)?;
    for (&row, &answer) in Vec::<i64>::try_from(&uncertain)?.iter().zip(&answers) {
        all[row as usize] = answer as i64;
    }
    Ok(Tensor::from_slice(&all).f_to_device(rows.device())?)
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
