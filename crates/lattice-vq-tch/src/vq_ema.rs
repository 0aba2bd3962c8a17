//! The VQ-VAE baseline whose codebook follows exponential moving averages.

use lattice_vq_core::{QuantizerConfig, VectorQuantizerEmaConfig};
use tch::{Kind, Reduction, Tensor, nn};

use crate::error::Result;
use crate::output::{
    Codes, LossParts, QuantizerOutput, output_from_rows, straight_through, to_rows,
    zero_like_scalar,
};
use crate::quantizer::{Quantizer, module_and_constructor, variables};
use crate::vq::{decode_indices, nearest_codewords};

/// VQ-VAE with an EMA codebook (Van den Oord et al. 2017, appendix), as the official code
/// computes it: non-trainable `embedding.weight` `(K, D)`, `ema_w` `(K, D)` and
/// `ema_cluster_size` `(K,)` under the path (as `QuantizerConfig::tensors` lists them); in
/// training mode one `lattice_vq_core::EmaCodebook::step` after quantizing, in eval mode no
/// change. The loss is `lattice_vq_core::vq_loss::vq_ema_loss`'s. `points` are the codewords
/// before the update; [`Quantizer::decode`] reads the codebook as it is when called.
///
/// # Example
/// ```no_run
/// use lattice_vq_core::{QuantizerConfig, VectorQuantizerEmaConfig};
/// use lattice_vq_tch::{vector_quantizer_ema, Quantizer};
/// use tch::{nn, Device, Kind, Tensor};
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let vq = vector_quantizer_ema(&vs.root(), &VectorQuantizerEmaConfig::new(512, 64))?;
/// let before = vq.codebook().copy();
/// vq.quantize(&Tensor::randn([4, 64, 7, 7], (Kind::Float, Device::Cpu)), false)?;
/// assert!(vq.codebook().equal(&before)); // eval mode: no update
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VectorQuantizerEma {
    codebook: Tensor,
    ema_w: Tensor,
    cluster_size: Tensor,
    config: VectorQuantizerEmaConfig,
}

impl VectorQuantizerEma {
    /// Register the codebook and its EMA state under `path`.
    ///
    /// # Errors
    /// An invalid config or a libtorch error.
    pub fn new(path: &nn::Path, config: &VectorQuantizerEmaConfig) -> Result<Self> {
        config.validate()?;
        let [codebook, ema_w, cluster_size] = variables(QuantizerConfig::VqEma(*config), path)?;
        Ok(Self {
            codebook,
            ema_w,
            cluster_size,
            config: *config,
        })
    }

    /// The codebook `(K, D)`.
    pub fn codebook(&self) -> &Tensor {
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

    /// `EmaCodebook::step` with the batch's assignments, as tensor ops.
    fn update(&self, rows: &Tensor, indices: &Tensor) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let (decay, epsilon) = (self.config.decay, self.config.epsilon);
        let codebook_size = self.config.codebook_size as f64;
        let options = (rows.kind(), rows.device());
        // index_add rather than the official one-hot matmul: the same sums without an
        // (N, K) matrix (4 GiB for an FFHQ batch).
        let counts = Tensor::f_zeros([self.config.codebook_size as i64], options)?.f_index_add(
            0,
            indices,
            &Tensor::f_ones([rows.size()[0]], options)?,
        )?;
        let sums = self.ema_w.f_zeros_like()?.f_index_add(0, indices, rows)?;
        let cluster_size = self
            .cluster_size
            .f_mul_scalar(decay)?
            .f_add(&counts.f_mul_scalar(1.0 - decay)?)?;
        let total = cluster_size.f_sum(cluster_size.kind())?;
        let smoothed = cluster_size
            .f_add_scalar(epsilon)?
            .f_div(&total.f_add_scalar(codebook_size * epsilon)?)?
            .f_mul(&total)?;
        let ema_w = self
            .ema_w
            .f_mul_scalar(decay)?
            .f_add(&sums.f_mul_scalar(1.0 - decay)?)?;
        let codebook = ema_w.f_div(&smoothed.f_unsqueeze(1)?)?;
        self.cluster_size.shallow_clone().f_copy_(&smoothed)?;
        self.ema_w.shallow_clone().f_copy_(&ema_w)?;
        self.codebook.shallow_clone().f_copy_(&codebook)?;
        Ok(())
    }
}

impl Quantizer for VectorQuantizerEma {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.codebook.kind())?;
        let indices = nearest_codewords(&rows, &self.codebook)?;
        let points = self.codebook.f_index_select(0, &indices)?.f_detach()?;
        if train {
            self.update(&rows.f_detach()?, &indices)?;
        }
        let commitment = points.f_mse_loss(&rows, Reduction::Mean)?;
        let loss = commitment.f_mul_scalar(self.config.commitment_cost)?;
        let quantized = straight_through(&rows, &points)?;
        let parts = LossParts {
            embedding: zero_like_scalar(&rows)?,
            commitment,
            size: zero_like_scalar(&rows)?,
        };
        let codes = Codes::Indices(indices.f_to_kind(Kind::Int64)?);
        output_from_rows(layout, dim, (&quantized, &points), codes, loss, parts)
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        decode_indices(&self.codebook, codes, self.dim())
    }
}

module_and_constructor!(
    VectorQuantizerEma,
    vector_quantizer_ema,
    VectorQuantizerEmaConfig
);
