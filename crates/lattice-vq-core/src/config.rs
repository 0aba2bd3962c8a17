//! Configurations shared by every backend: the LL-VQ layer and the two VQ baselines.

use rand::Rng;

use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::init::{BasisInit, sample_basis};
use crate::lattice::DiagonalLattice;

/// Configuration of an LL-VQ layer (paper Section 3, Eq. 6-8).
///
/// Defaults are the paper's sparse LL-VQ: `commitment_cost` (beta) 0.25, `sparsity_cost`
/// (gamma) 1.0, basis initialised in the paper's range ([`BasisInit::PaperRange`]).
/// [`LatticeQuantizerConfig::dense`] gives the "LL-VQ-VAE (dense)" variant.
///
/// # Example
/// ```
/// use lattice_vq_core::{BasisInit, LatticeQuantizerConfig};
/// use rand::SeedableRng;
///
/// let config = LatticeQuantizerConfig::new(512, 64).with_commitment_cost(0.5);
/// config.validate()?;
/// let lattice = config.init_lattice::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0))?;
/// assert_eq!(lattice.dim(), 64);
///
/// let dense = LatticeQuantizerConfig::dense(512, 64);
/// assert_eq!((dense.sparsity_cost, dense.init), (-1.0, BasisInit::Symmetric(1.0)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatticeQuantizerConfig {
    /// K: the codebook size the initialisation range is derived for (Eq. 6).
    pub codebook_size: usize,
    /// D: the dimension of latent vectors (channels of the encoder output).
    pub dim: usize,
    /// beta: weight of the commitment loss (Eq. 8).
    pub commitment_cost: f64,
    /// gamma: weight of the size loss `-||b||_1` (Eq. 7); negative values (-1 for the dense
    /// variant) push the lattice denser instead of sparser.
    pub sparsity_cost: f64,
    /// How the basis is initialised.
    pub init: BasisInit,
}

impl LatticeQuantizerConfig {
    /// The paper's sparse LL-VQ for `codebook_size` (K) codes in `dim` (D) dimensions.
    pub fn new(codebook_size: usize, dim: usize) -> Self {
        Self {
            codebook_size,
            dim,
            commitment_cost: 0.25,
            sparsity_cost: 1.0,
            init: BasisInit::PaperRange,
        }
    }

    /// The paper's dense variant: `sparsity_cost = -1`, basis initialised in `(-1, 1)`.
    pub fn dense(codebook_size: usize, dim: usize) -> Self {
        Self::new(codebook_size, dim)
            .with_sparsity_cost(-1.0)
            .with_init(BasisInit::Symmetric(1.0))
    }

    /// Set beta, the commitment-loss weight.
    pub fn with_commitment_cost(mut self, commitment_cost: f64) -> Self {
        self.commitment_cost = commitment_cost;
        self
    }

    /// Set gamma, the size-loss weight.
    pub fn with_sparsity_cost(mut self, sparsity_cost: f64) -> Self {
        self.sparsity_cost = sparsity_cost;
        self
    }

    /// Set the basis initialisation.
    pub fn with_init(mut self, init: BasisInit) -> Self {
        self.init = init;
        self
    }

    /// Check every field.
    ///
    /// # Errors
    /// [`Error::CodebookTooSmall`] (K < 2), [`Error::ZeroDim`] (D = 0),
    /// [`Error::InvalidConfig`] for a negative or non-finite `commitment_cost`, a
    /// non-finite `sparsity_cost` or an invalid initialisation half-width (see
    /// [`LatticeQuantizerConfig::init_half_width`]).
    pub fn validate(&self) -> Result<()> {
        self.init_half_width()?;
        require_non_negative("commitment_cost", self.commitment_cost)?;
        if !self.sparsity_cost.is_finite() {
            return Err(Error::InvalidConfig {
                field: "sparsity_cost",
                value: self.sparsity_cost.to_string(),
                requirement: "must be finite",
            });
        }
        Ok(())
    }

    /// The half-width `r` of the initialisation range for this config.
    ///
    /// # Errors
    /// As [`BasisInit::half_width`], plus [`Error::InvalidConfig`] if the paper's range lies
    /// outside `f32`'s basis bounds (as a given half-width must not): more than about
    /// `4.6e18` codes in one dimension make it too narrow to sample a basis from.
    pub fn init_half_width(&self) -> Result<f64> {
        if self.dim == 0 {
            return Err(Error::ZeroDim);
        }
        if self.codebook_size < 2 {
            return Err(Error::CodebookTooSmall {
                codebook_size: self.codebook_size,
            });
        }
        let r = self.init.half_width(self.codebook_size, self.dim)?;
        // `BasisInit::half_width` bounds a given half-width but not the paper's range; left
        // unchecked, `validate` passed configs that `init_lattice` then refused. The bounds
        // are f32's, as for a given half-width: a range valid for f32 is valid for f64.
        let valid = 2.0 * f64::from(f32::MIN_BASIS_MAGNITUDE)..=f64::from(f32::MAX_BASIS_MAGNITUDE);
        if valid.contains(&r) {
            Ok(r)
        } else {
            Err(Error::InvalidConfig {
                field: "init half-width",
                value: r.to_string(),
                requirement: "the paper's range 1 / (K^(1/D) - 1) must lie between twice the \
                              minimum and the maximum basis magnitude of f32",
            })
        }
    }

    /// Validate, then sample the initial basis `b ~ U(-r, r)` (Eq. 6) from `rng`.
    ///
    /// # Errors
    /// As [`LatticeQuantizerConfig::validate`] and [`sample_basis`].
    pub fn init_lattice<F: LatticeFloat, R: Rng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<DiagonalLattice<F>> {
        self.validate()?;
        sample_basis(self.dim, self.init_half_width()?, rng)
    }
}

/// Configuration of the VQ-VAE baseline quantizer (a K x D codebook trained by its loss).
///
/// Defaults follow the official code: `commitment_cost` 0.25, codebook initialised
/// `U(-1/K, 1/K)`.
///
/// # Example
/// ```
/// use lattice_vq_core::VectorQuantizerConfig;
///
/// let config = VectorQuantizerConfig::new(512, 64);
/// config.validate()?;
/// assert_eq!(config.init_half_width(), 1.0 / 512.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorQuantizerConfig {
    /// K: number of codewords.
    pub codebook_size: usize,
    /// D: codeword dimension.
    pub dim: usize,
    /// beta: weight of the commitment loss.
    pub commitment_cost: f64,
}

impl VectorQuantizerConfig {
    /// K codewords of dimension D with the official defaults.
    pub fn new(codebook_size: usize, dim: usize) -> Self {
        Self {
            codebook_size,
            dim,
            commitment_cost: 0.25,
        }
    }

    /// Set beta, the commitment-loss weight.
    pub fn with_commitment_cost(mut self, commitment_cost: f64) -> Self {
        self.commitment_cost = commitment_cost;
        self
    }

    /// Half-width of the codebook initialisation, `1 / K`.
    pub fn init_half_width(&self) -> f64 {
        1.0 / self.codebook_size as f64
    }

    /// Check every field.
    ///
    /// # Errors
    /// [`Error::CodebookTooSmall`] (K < 2: a one-word codebook quantizes nothing),
    /// [`Error::ZeroDim`], [`Error::InvalidConfig`] for a bad `commitment_cost`.
    pub fn validate(&self) -> Result<()> {
        validate_codebook(self.codebook_size, self.dim)?;
        require_non_negative("commitment_cost", self.commitment_cost)
    }
}

/// Configuration of the VQ-VAE baseline with an exponential-moving-average codebook.
///
/// Defaults follow the official code: `commitment_cost` 0.25, `decay` 0.99, `epsilon` 1e-5
/// (Laplace smoothing of cluster sizes), codebook and EMA sums initialised `N(0, 1)`.
///
/// # Example
/// ```
/// use lattice_vq_core::VectorQuantizerEmaConfig;
///
/// let config = VectorQuantizerEmaConfig::new(512, 64).with_decay(0.95);
/// config.validate()?;
/// assert!(VectorQuantizerEmaConfig::new(512, 64).with_decay(1.5).validate().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorQuantizerEmaConfig {
    /// K: number of codewords.
    pub codebook_size: usize,
    /// D: codeword dimension.
    pub dim: usize,
    /// beta: weight of the commitment loss (the only loss of this quantizer).
    pub commitment_cost: f64,
    /// EMA decay of cluster sizes and sums, in `[0, 1)`.
    pub decay: f64,
    /// Laplace smoothing added to cluster sizes, `> 0`.
    pub epsilon: f64,
}

impl VectorQuantizerEmaConfig {
    /// K codewords of dimension D with the official defaults.
    pub fn new(codebook_size: usize, dim: usize) -> Self {
        Self {
            codebook_size,
            dim,
            commitment_cost: 0.25,
            decay: 0.99,
            epsilon: 1e-5,
        }
    }

    /// Set beta, the commitment-loss weight.
    pub fn with_commitment_cost(mut self, commitment_cost: f64) -> Self {
        self.commitment_cost = commitment_cost;
        self
    }

    /// Set the EMA decay.
    pub fn with_decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }

    /// Set the Laplace smoothing epsilon.
    pub fn with_epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Check every field.
    ///
    /// # Errors
    /// [`Error::CodebookTooSmall`], [`Error::ZeroDim`], [`Error::InvalidConfig`] for a bad
    /// `commitment_cost`, a `decay` outside `[0, 1)` or a non-positive `epsilon`.
    pub fn validate(&self) -> Result<()> {
        validate_codebook(self.codebook_size, self.dim)?;
        require_non_negative("commitment_cost", self.commitment_cost)?;
        if !(0.0..1.0).contains(&self.decay) {
            return Err(Error::InvalidConfig {
                field: "decay",
                value: self.decay.to_string(),
                requirement: "must be in [0, 1)",
            });
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::InvalidConfig {
                field: "epsilon",
                value: self.epsilon.to_string(),
                requirement: "must be finite and positive",
            });
        }
        Ok(())
    }
}

fn validate_codebook(codebook_size: usize, dim: usize) -> Result<()> {
    if codebook_size < 2 {
        return Err(Error::CodebookTooSmall { codebook_size });
    }
    if dim == 0 {
        return Err(Error::ZeroDim);
    }
    Ok(())
}

pub(crate) fn require_non_negative(field: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field,
            value: value.to_string(),
            requirement: "must be finite and non-negative",
        })
    }
}
