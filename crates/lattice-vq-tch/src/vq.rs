//! The VQ-VAE baseline: a K x D codebook trained by the embedding loss.

use lattice_core::VectorQuantizerConfig;
use tch::{Kind, Reduction, Tensor, nn};

use crate::error::Result;
use crate::output::{LossParts, QuantizerOutput, first_true, to_rows, zero_like_scalar};
use crate::quantizer::Quantizer;

/// Vector quantizer of the VQ-VAE (paper Eq. 1-2), as the official code computes it.
///
/// The codebook is `embedding.weight`, `(K, D)`, initialised `U(-1/K, 1/K)`. Nearest
/// codewords by `|z|^2 + |e|^2 - 2 z.e`; exact ties go to the lowest index (`argmin`).
/// Loss `mean((e - sg z)^2) + commitment_cost * mean((sg e - z)^2)`; straight-through
/// output. Codes are the codeword indices (`Int64`).
///
/// # Example
/// ```no_run
/// use lattice_core::VectorQuantizerConfig;
/// use lattice_vq_tch::{Quantizer, VectorQuantizer};
/// use tch::{nn, Device, Kind, Tensor};
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let vq = VectorQuantizer::new(&vs.root(), &VectorQuantizerConfig::new(512, 64))?;
/// let out = vq.forward_t(&Tensor::randn([4, 64], (Kind::Float, Device::Cpu)), true)?;
/// assert_eq!(out.codes.size(), vec![4]);
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

/// Index of the nearest codeword of each row, exactly as the official code computes it.
///
/// # Errors
/// Non-finite latents (`lattice_core::Error::NonFiniteLatent`) or a libtorch error.
pub(crate) fn nearest_codewords(rows: &Tensor, codebook: &Tensor) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let finite = rows.f_isfinite()?;
    if !bool::try_from(finite.f_all()?)? {
        let dim = rows.size()[1];
        let (row, col) = first_true(&finite.f_logical_not()?, dim)?.unwrap_or((0, 0));
        let value = rows.f_double_value(&[row as i64, col as i64])?;
        return Err(lattice_core::Error::NonFiniteLatent { row, col, value }.into());
    }
    let kind = Some(rows.kind());
    let distances = rows
        .f_square()?
        .f_sum_dim_intlist(1, true, kind)?
        .f_add(&codebook.f_square()?.f_sum_dim_intlist(1, false, kind)?)?
        .f_sub(&rows.f_matmul(&codebook.f_tr()?)?.f_mul_scalar(2.0)?)?;
    Ok(distances.f_argmin(1, false)?)
}

impl Quantizer for VectorQuantizer {
    fn dim(&self) -> i64 {
        self.config.dim as i64
    }

    fn forward_t(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim)?;
        let indices = nearest_codewords(&rows, &self.codebook)?;
        let points = self.codebook.f_index_select(0, &indices)?;
        let embedding = points.f_mse_loss(&rows.f_detach()?, Reduction::Mean)?;
        let commitment = points.f_detach()?.f_mse_loss(&rows, Reduction::Mean)?;
        let loss = embedding.f_add(&commitment.f_mul_scalar(self.config.commitment_cost)?)?;
        let straight_through = rows.f_add(&points.f_sub(&rows)?.f_detach()?)?;
        Ok(QuantizerOutput {
            quantized: layout.restore(&straight_through, dim)?,
            codes: layout.codes(&indices.f_to_kind(Kind::Int64)?)?,
            loss,
            parts: LossParts {
                embedding,
                commitment,
                size: zero_like_scalar(&rows)?,
            },
        })
    }
}
