//! Configuration of the finite-codebook layers: FSQ and the bounded lattice, their level
//! counts and optional projections `D -> d -> D`.

use std::fmt;
use std::str::FromStr;

use crate::config::require_non_negative;
use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::lattice::{BoundedLattice, FiniteScalarQuantizer};
use crate::mixed_radix::MixedRadix;

/// The most dimensions a finite codebook's levels may have (FSQ's recommended sets have at
/// most 8): a fixed capacity keeps [`FiniteQuantizerConfig`], and so every quantizer config,
/// `Copy`.
pub const MAX_LEVEL_DIMS: usize = 16;

/// Level counts `l_i` of a finite product codebook, validated by [`MixedRadix::new`] and
/// small enough for `u64` token indices (`K <= 2^63`, so that adapters can hand indices out
/// as `I64` tensors). Parses from and prints as `8,8,8`.
///
/// # Example
/// ```
/// use lattice_vq_core::Levels;
///
/// let levels: Levels = "8,8,8,5,5,5".parse()?;
/// assert_eq!(levels.as_slice(), &[8, 8, 8, 5, 5, 5]);
/// assert_eq!(levels.codebook_size(), 64_000);
/// assert_eq!(levels.to_string(), "8,8,8,5,5,5");
/// assert!("8,1".parse::<Levels>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Levels {
    counts: [u32; MAX_LEVEL_DIMS],
    len: usize,
}

impl Levels {
    /// The level counts `levels`.
    ///
    /// # Errors
    /// [`MixedRadix::new`]'s errors; [`Error::InvalidConfig`] for more than
    /// [`MAX_LEVEL_DIMS`] counts; [`Error::CodebookOverflow`] for `K > 2^63`.
    pub fn new(levels: &[u32]) -> Result<Self> {
        let radix = MixedRadix::new(levels)?;
        if levels.len() > MAX_LEVEL_DIMS {
            return Err(Error::InvalidConfig {
                field: "levels",
                value: levels.len().to_string(),
                requirement: "at most 16 level counts",
            });
        }
        if radix.codebook_size() > 1 << 63 {
            return Err(Error::CodebookOverflow {
                levels: levels.len(),
                index_type: "i64",
            });
        }
        let mut counts = [0; MAX_LEVEL_DIMS];
        counts[..levels.len()].copy_from_slice(levels);
        Ok(Self {
            counts,
            len: levels.len(),
        })
    }

    /// The counts, one per dimension.
    pub fn as_slice(&self) -> &[u32] {
        &self.counts[..self.len]
    }

    /// d, the number of counts (the codebook's dimension).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: there is at least one count.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `K = prod_i l_i`, exact (at most `2^63`).
    pub fn codebook_size(&self) -> u64 {
        self.as_slice().iter().map(|&l| u64::from(l)).product()
    }

    /// The token index arithmetic.
    pub fn radix(&self) -> MixedRadix {
        MixedRadix::new(self.as_slice()).expect("validated at construction")
    }

    /// The mixed-radix strides `prod_{j < i} l_j` (dimension 0 least significant): a token
    /// is `sum_i k_i * strides[i]`, what [`MixedRadix::index`] computes, for the adapters'
    /// tensor ops. Exact in `i64`: every stride divides `K <= 2^63` and is at most `K / 2`.
    ///
    /// ```
    /// let levels: lattice_vq_core::Levels = "8,5,3".parse()?;
    /// assert_eq!(levels.strides(), vec![1, 8, 40]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn strides(&self) -> Vec<i64> {
        self.as_slice()
            .iter()
            .scan(1i64, |stride, &l| {
                let this = *stride;
                *stride = stride.saturating_mul(i64::from(l));
                Some(this)
            })
            .collect()
    }
}

impl fmt::Display for Levels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.as_slice().iter().map(u32::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Levels {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let counts = text
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<u32>()
                    .map_err(|_| Error::InvalidConfig {
                        field: "levels",
                        value: text.to_string(),
                        requirement: "a comma-separated list of level counts, such as 8,8,8",
                    })
            })
            .collect::<Result<Vec<u32>>>()?;
        Self::new(&counts)
    }
}

/// Which finite codebook a [`FiniteQuantizerConfig`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FiniteKind {
    /// FSQ (vector-quantize-pytorch's formulation): tanh bound, fixed unit steps, no loss.
    Fsq,
    /// The bounded lattice with learned steps (offsets fixed at 0).
    Bounded,
    /// The bounded lattice with learned steps and learned offsets.
    BoundedWithOffset,
}

/// Configuration of a finite-codebook layer (FSQ or the bounded lattice).
///
/// `dim` (D) is the latent width the layer takes; the codebook has `d = levels.len()`
/// dimensions. When `D != d` the layer projects `D -> d` before quantizing and `d -> D`
/// after (linear layers with bias, as vector-quantize-pytorch's FSQ does).
///
/// The bounded lattice's losses are the LL-VQ ones: embedding + `commitment_cost` (beta) *
/// commitment + `sparsity_cost` (gamma) * size (`-sum_i |b_i|`, default weight 0: a box
/// needs no pressure to grow). Its steps start at `initial_step` and its offsets at 0. The
/// default step is FSQ's finest point spacing, `1 / floor(l / 2)` for the largest `l` (0.25
/// for 8 levels: an 8-level dimension starts at `[-0.875, 0.875]`, FSQ's points span
/// `[-1, 0.75]`), so the box starts at the scale of FSQ's and of the projection's first
/// outputs. Unit steps let the box start far wider than those outputs: on Fashion-MNIST
/// (levels 8,8,8, the paper's model, one epoch) the layer then used 5 to 25 of its 512
/// codes (docs/reproducing.md, "Finite codebooks"). FSQ has no loss and nothing to learn
/// but the projections.
///
/// # Example
/// ```
/// use lattice_vq_core::{FiniteKind, FiniteQuantizerConfig};
///
/// let fsq = FiniteQuantizerConfig::fsq("8,5,5,5".parse()?, 64);
/// assert!(fsq.has_projections());
/// assert_eq!(fsq.codebook_size(), 1000);
/// let bounded = FiniteQuantizerConfig::bounded("8,8,8".parse()?, 3).with_learned_offset();
/// assert_eq!(bounded.kind, FiniteKind::BoundedWithOffset);
/// bounded.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FiniteQuantizerConfig {
    /// FSQ or the bounded lattice.
    pub kind: FiniteKind,
    /// The level counts; `d = levels.len()`.
    pub levels: Levels,
    /// D: the width of the latents the layer takes.
    pub dim: usize,
    /// beta: weight of the commitment loss (bounded lattice only).
    pub commitment_cost: f64,
    /// gamma: weight of the size loss (bounded lattice only).
    pub sparsity_cost: f64,
    /// The steps' initial value (bounded lattice only; default `1 / floor(l / 2)` for the
    /// largest `l`).
    pub initial_step: f64,
}

/// FSQ's finest point spacing over `levels`: its points in a dimension of `l` levels are
/// `(k - floor(l / 2)) / floor(l / 2)`.
fn finest_fsq_spacing(levels: Levels) -> f64 {
    let widest = levels.as_slice().iter().copied().max().unwrap_or(2);
    1.0 / f64::from(widest / 2)
}

impl FiniteQuantizerConfig {
    /// FSQ with `levels` for D-wide latents.
    pub fn fsq(levels: Levels, dim: usize) -> Self {
        Self {
            kind: FiniteKind::Fsq,
            levels,
            dim,
            commitment_cost: 0.25,
            sparsity_cost: 0.0,
            initial_step: finest_fsq_spacing(levels),
        }
    }

    /// The bounded lattice with learned steps, for D-wide latents.
    pub fn bounded(levels: Levels, dim: usize) -> Self {
        Self {
            kind: FiniteKind::Bounded,
            ..Self::fsq(levels, dim)
        }
    }

    /// Learn the offsets too (the bounded lattice; FSQ is unchanged).
    pub fn with_learned_offset(mut self) -> Self {
        if self.kind == FiniteKind::Bounded {
            self.kind = FiniteKind::BoundedWithOffset;
        }
        self
    }

    /// Set beta.
    pub fn with_commitment_cost(mut self, commitment_cost: f64) -> Self {
        self.commitment_cost = commitment_cost;
        self
    }

    /// Set gamma.
    pub fn with_sparsity_cost(mut self, sparsity_cost: f64) -> Self {
        self.sparsity_cost = sparsity_cost;
        self
    }

    /// Set the steps' initial value (default: FSQ's finest point spacing, see the type).
    pub fn with_initial_step(mut self, initial_step: f64) -> Self {
        self.initial_step = initial_step;
        self
    }

    /// d: the codebook's dimension.
    pub fn codebook_dim(&self) -> usize {
        self.levels.len()
    }

    /// K.
    pub fn codebook_size(&self) -> u64 {
        self.levels.codebook_size()
    }

    /// Whether the layer projects `D -> d -> D`.
    pub fn has_projections(&self) -> bool {
        self.dim != self.codebook_dim()
    }

    /// Whether the layer is a bounded lattice (it has steps, and losses).
    pub fn is_bounded(&self) -> bool {
        self.kind != FiniteKind::Fsq
    }

    /// Check every field.
    ///
    /// # Errors
    /// [`Error::ZeroDim`] (D = 0); [`Error::InvalidConfig`] for a negative or non-finite
    /// `commitment_cost`, a non-finite `sparsity_cost`, or an `initial_step` the bounded
    /// lattice refuses as a step in `f32`.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(Error::ZeroDim);
        }
        require_non_negative("commitment_cost", self.commitment_cost)?;
        if !self.sparsity_cost.is_finite() {
            return Err(Error::InvalidConfig {
                field: "sparsity_cost",
                value: self.sparsity_cost.to_string(),
                requirement: "must be finite",
            });
        }
        let step = self.initial_step as f32;
        if !(step.is_finite()
            && (f32::MIN_BASIS_MAGNITUDE..=f32::MAX_BASIS_MAGNITUDE).contains(&step.abs()))
        {
            return Err(Error::InvalidConfig {
                field: "initial_step",
                value: self.initial_step.to_string(),
                requirement: "must be a valid step: finite, 1.1e-19 <= |step| <= 9.2e18",
            });
        }
        Ok(())
    }

    /// The core FSQ of these levels.
    ///
    /// # Errors
    /// As [`FiniteScalarQuantizer::new`].
    pub fn fsq_quantizer<F: LatticeFloat>(&self) -> Result<FiniteScalarQuantizer<F>> {
        FiniteScalarQuantizer::new(self.levels.as_slice())
    }

    /// The core bounded lattice of these levels with `parameters` (steps, then offsets when
    /// learned), as [`crate::Lattice::parameters`] orders them.
    ///
    /// # Errors
    /// As [`BoundedLattice::new`] and [`BoundedLattice::with_offset`];
    /// [`Error::ShapeMismatch`] for parameters of another length.
    pub fn bounded_lattice<F: LatticeFloat>(&self, parameters: &[F]) -> Result<BoundedLattice<F>> {
        let d = self.codebook_dim();
        let levels = self.levels.as_slice();
        match (self.kind, parameters.len()) {
            (FiniteKind::BoundedWithOffset, n) if n == 2 * d => {
                BoundedLattice::with_offset(levels, &parameters[..d], &parameters[d..])
            }
            (FiniteKind::Bounded | FiniteKind::Fsq, n) if n == d => {
                BoundedLattice::new(levels, parameters)
            }
            (kind, n) => Err(Error::ShapeMismatch {
                what: "parameters",
                expected: vec![if kind == FiniteKind::BoundedWithOffset {
                    2 * d
                } else {
                    d
                }],
                found: vec![n],
            }),
        }
    }
}
