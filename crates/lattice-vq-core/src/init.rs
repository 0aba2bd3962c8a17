//! Initialisation of the basis (paper Eq. 6 and Appendix A.1).

use rand::Rng;

use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::lattice::DiagonalLattice;

/// The half-width `r = 1 / (K^(1/D) - 1)` of the paper's initialisation range (Eq. 6).
///
/// Appendix A.1 derives it by asking that a box of side 1 per dimension hold `K` lattice
/// points when every `|b_i| = r` (`(1/r + 1)^D = K`; the paper's Eq. 10 has a stray `+1`
/// and Eq. 11 a stray minus sign). Computed as `1 / expm1(ln K / D)`, which stays accurate
/// when `K^(1/D)` is close to 1 (large D).
///
/// # Errors
/// [`Error::CodebookTooSmall`] if `codebook_size < 2` (the range would be infinite),
/// [`Error::ZeroDim`] if `dim == 0`.
///
/// # Example
/// ```
/// use lattice_vq_core::init_range;
///
/// let r = init_range(512, 64)?;
/// assert!((r - 9.7673).abs() < 5e-5); // the paper prints 9.76
/// assert_eq!(init_range(4, 2)?, 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init_range(codebook_size: usize, dim: usize) -> Result<f64> {
    if codebook_size < 2 {
        return Err(Error::CodebookTooSmall { codebook_size });
    }
    if dim == 0 {
        return Err(Error::ZeroDim);
    }
    Ok(1.0 / ((codebook_size as f64).ln() / dim as f64).exp_m1())
}

/// How the basis diagonal is initialised: uniformly in `(-r, r)` for a half-width `r`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BasisInit {
    /// The paper's range `r = 1 / (K^(1/D) - 1)` (Eq. 6): the sparse LL-VQ default.
    PaperRange,
    /// A fixed half-width: `Symmetric(1.0)` is the dense variant's `U(-1, 1)` (Table 3).
    Symmetric(f64),
}

impl BasisInit {
    /// The half-width `r` for a codebook of `codebook_size` codes in `dim` dimensions.
    ///
    /// # Errors
    /// As [`init_range`] for [`BasisInit::PaperRange`]; [`Error::InvalidConfig`] if a
    /// symmetric half-width lies outside `f32`'s basis bounds (see [`sample_basis`]).
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::BasisInit;
    ///
    /// assert!((BasisInit::PaperRange.half_width(512, 64)? - 9.7673).abs() < 5e-5);
    /// assert_eq!(BasisInit::Symmetric(1.0).half_width(512, 64)?, 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn half_width(&self, codebook_size: usize, dim: usize) -> Result<f64> {
        match *self {
            BasisInit::PaperRange => init_range(codebook_size, dim),
            BasisInit::Symmetric(bound) => {
                // Check against f32's bounds: a half-width valid for f32 is valid for f64 too.
                let valid =
                    2.0 * f64::from(f32::MIN_BASIS_MAGNITUDE)..=f64::from(f32::MAX_BASIS_MAGNITUDE);
                if valid.contains(&bound) {
                    Ok(bound)
                } else {
                    Err(Error::InvalidConfig {
                        field: "init half-width",
                        value: bound.to_string(),
                        requirement: "must lie between twice the minimum and the maximum basis \
                                      magnitude of f32",
                    })
                }
            }
        }
    }
}

/// Sample a basis diagonal uniformly from `(-half_width, half_width)` (Eq. 6) with the
/// caller's RNG, so a seeded RNG gives a reproducible layer.
///
/// Draws are made in `f64` and rounded to `F`. A draw whose magnitude is below
/// [`LatticeFloat::MIN_BASIS_MAGNITUDE`] or not below `half_width` (after rounding to `F`)
/// is drawn again: the distribution differs from `U(-r, r)` only on a set of probability
/// below `1e-18`, and the result is always a valid lattice (the official code can draw an
/// exact zero and then divide by it).
///
/// # Shapes
/// Returns a lattice of dimension `dim`.
///
/// # Errors
/// [`Error::ZeroDim`] if `dim == 0`; [`Error::InvalidConfig`] unless
/// `2 * F::MIN_BASIS_MAGNITUDE <= half_width <= F::MAX_BASIS_MAGNITUDE` (NaN fails).
///
/// # Example
/// ```
/// use lattice_vq_core::{init_range, sample_basis};
/// use rand::SeedableRng;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(2);
/// let r = init_range(512, 64)?;
/// let lattice = sample_basis::<f32, _>(64, r, &mut rng)?;
/// assert!(lattice.basis().iter().all(|b| b.abs() < r as f32));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sample_basis<F, R>(dim: usize, half_width: f64, rng: &mut R) -> Result<DiagonalLattice<F>>
where
    F: LatticeFloat,
    R: Rng + ?Sized,
{
    if dim == 0 {
        return Err(Error::ZeroDim);
    }
    let min = F::MIN_BASIS_MAGNITUDE.to_f64().unwrap_or(f64::MAX);
    let max = F::MAX_BASIS_MAGNITUDE.to_f64().unwrap_or(0.0);
    let bound = F::from_f64(half_width).filter(|_| (2.0 * min..=max).contains(&half_width));
    let Some(bound) = bound else {
        return Err(Error::InvalidConfig {
            field: "init half-width",
            value: half_width.to_string(),
            requirement: "must lie between twice the minimum and the maximum basis magnitude",
        });
    };
    let basis: Vec<F> = (0..dim)
        .map(|_| {
            loop {
                let draw = rng.random_range(-half_width..half_width);
                let value = F::from_f64(draw).unwrap_or_else(F::zero);
                if value.abs() >= F::MIN_BASIS_MAGNITUDE && value.abs() < bound {
                    break value;
                }
            }
        })
        .collect();
    DiagonalLattice::new(basis.into())
}

/// The basis rule of Eq. 6's initialisation as the tch and candle layers apply it: keep the
/// drawn basis `initial` if [`DiagonalLattice`] accepts it, otherwise call `redraw` for a
/// whole new draw (on the backend's own generator, `U(-r, r)`) until one is accepted.
///
/// A draw is refused only when an entry's magnitude is below
/// [`LatticeFloat::MIN_BASIS_MAGNITUDE`] (a probability below `1e-18` per entry for the
/// paper's ranges): the official code would then divide by zero. The whole basis is drawn
/// again, not the offending entry, so a backend's generator advances exactly as it does
/// today. Returns the accepted lattice and the number of redraws. Validate the
/// initialisation half-width first ([`crate::LatticeQuantizerConfig::validate`]): with a
/// range that cannot give a valid basis this loops forever.
///
/// # Errors
/// [`Error::ZeroDim`] for an empty basis, [`Error::ShapeMismatch`] if a redraw changes the
/// length (both returned at once, without redrawing); any error of `redraw`.
///
/// # Example
/// ```
/// use lattice_vq_core::init::redraw_until_valid;
///
/// let mut draws = vec![vec![0.5f32, -0.25], vec![0.0f32, 1.0]];
/// let (lattice, redraws) =
///     redraw_until_valid(vec![1e-30f32, 2.0], || Ok::<_, lattice_vq_core::Error>(draws.pop().unwrap()))?;
/// assert_eq!((lattice.basis().to_vec(), redraws), (vec![0.5, -0.25], 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn redraw_until_valid<F, E>(
    initial: Vec<F>,
    mut redraw: impl FnMut() -> std::result::Result<Vec<F>, E>,
) -> std::result::Result<(DiagonalLattice<F>, usize), E>
where
    F: LatticeFloat,
    E: From<Error>,
{
    let dim = initial.len();
    let mut basis = initial;
    let mut redraws = 0;
    loop {
        if basis.len() != dim {
            return Err(Error::ShapeMismatch {
                what: "redrawn basis",
                expected: vec![dim],
                found: vec![basis.len()],
            }
            .into());
        }
        match DiagonalLattice::from_slice(&basis) {
            Ok(lattice) => return Ok((lattice, redraws)),
            Err(Error::ZeroDim) => return Err(Error::ZeroDim.into()),
            Err(_) => {
                basis = redraw()?;
                redraws += 1;
            }
        }
    }
}
