//! The diagonal lattice basis `B = diag(b)` of Eq. 5 and its [`Lattice`] implementation:
//! the size loss of Eq. 7 and the embedding gradient of Eq. 8 live here, once.

use ndarray::{Array1, ArrayView1, ArrayView2, ArrayViewMut2};

use super::Lattice;
use crate::error::{Error, Result};
use crate::float::{LatticeFloat, from_f64, to_f64};
use crate::shape::check_step_shapes;

/// A lattice `L(B) = { B v : v in Z^D }` with a diagonal basis `B = diag(b)` (paper Eq. 5).
///
/// The diagonal `b` holds the D learnable numbers of an LL-VQ layer. Every entry must be
/// finite, with magnitude between [`LatticeFloat::MIN_BASIS_MAGNITUDE`] and
/// [`LatticeFloat::MAX_BASIS_MAGNITUDE`]: the official code divides by `b` with no guard,
/// so a zero entry there produces infinite codes. Within these bounds `1 / b` is a normal
/// number and `b * v` is finite for every `i32` code.
///
/// **The sign of an entry does not change the lattice**: `b_i Z = -b_i Z`, so `b` and `-b`
/// give the same lattice points for every latent (see [`DiagonalLattice::quantize`]); only
/// the integer codes change sign. Training may therefore flip signs freely (the paper's
/// initialisation straddles zero); compare lattices with [`DiagonalLattice::abs`].
///
/// The reciprocal `1 / b` is computed once at construction, because quantization multiplies
/// by it exactly as the official code does (`round(z * (1 / b))`).
///
/// # Example
/// ```
/// use lattice_vq_core::DiagonalLattice;
///
/// let lattice = DiagonalLattice::<f32>::from_slice(&[0.5, -2.0])?;
/// assert_eq!(lattice.dim(), 2);
/// assert_eq!(lattice.abs().basis().to_vec(), vec![0.5, 2.0]);
/// assert!(DiagonalLattice::<f32>::from_slice(&[0.5, 0.0]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DiagonalLattice<F: LatticeFloat> {
    basis: Vec<F>,
    reciprocal: Vec<F>,
}

impl<F: LatticeFloat> DiagonalLattice<F> {
    /// Build the lattice with diagonal `basis` (Eq. 5).
    ///
    /// # Shapes
    /// `basis`: `(D,)`, `D >= 1`.
    ///
    /// # Errors
    /// [`Error::ZeroDim`] for an empty basis, [`Error::NonFiniteBasis`] for a NaN or
    /// infinite entry, [`Error::BasisOutOfRange`] for an entry with
    /// `|b_i| < F::MIN_BASIS_MAGNITUDE` (zero and denormals included) or
    /// `|b_i| > F::MAX_BASIS_MAGNITUDE`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{DiagonalLattice, Error};
    /// use ndarray::array;
    ///
    /// let lattice = DiagonalLattice::new(array![1.0f64, 0.25])?;
    /// assert_eq!(lattice.reciprocal().to_vec(), vec![1.0, 4.0]);
    /// let err = DiagonalLattice::new(array![1.0f64, f64::NAN]).unwrap_err();
    /// assert!(matches!(err, Error::NonFiniteBasis { index: 1, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(basis: Array1<F>) -> Result<Self> {
        validate_basis(basis.view())?;
        let basis = basis.to_vec();
        let reciprocal = reciprocal_of(&basis);
        Ok(Self { basis, reciprocal })
    }

    /// [`DiagonalLattice::new`] from a slice.
    ///
    /// # Errors
    /// As [`DiagonalLattice::new`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    ///
    /// let lattice = DiagonalLattice::<f32>::from_slice(&[9.77; 64])?;
    /// assert_eq!(lattice.dim(), 64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_slice(basis: &[F]) -> Result<Self> {
        Self::new(Array1::from(basis.to_vec()))
    }

    /// Replace the basis in place (after an optimiser step), validating it as
    /// [`DiagonalLattice::new`] does. On error the lattice is left unchanged.
    ///
    /// # Errors
    /// As [`DiagonalLattice::new`], plus [`Error::ShapeMismatch`] if the length changes.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    /// use ndarray::array;
    ///
    /// let mut lattice = DiagonalLattice::new(array![1.0f32, 1.0])?;
    /// lattice.set_basis(array![2.0f32, 0.5].view())?;
    /// assert_eq!(lattice.reciprocal().to_vec(), vec![0.5, 2.0]);
    /// assert!(lattice.set_basis(array![0.0f32, 1.0].view()).is_err());
    /// assert_eq!(lattice.basis().to_vec(), vec![2.0, 0.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_basis(&mut self, basis: ArrayView1<F>) -> Result<()> {
        if basis.len() != self.dim() {
            return Err(Error::ShapeMismatch {
                what: "basis",
                expected: vec![self.dim()],
                found: vec![basis.len()],
            });
        }
        validate_basis(basis)?;
        self.basis = basis.to_vec();
        self.reciprocal = reciprocal_of(&self.basis);
        Ok(())
    }

    /// The dimension D (length of the basis diagonal).
    pub fn dim(&self) -> usize {
        self.basis.len()
    }

    /// The basis diagonal `b`, shape `(D,)`.
    pub fn basis(&self) -> ArrayView1<'_, F> {
        ArrayView1::from(&self.basis[..])
    }

    /// The basis diagonal as a slice.
    pub fn basis_slice(&self) -> &[F] {
        &self.basis
    }

    /// The elementwise reciprocal `1 / b` used by quantization, shape `(D,)`.
    pub fn reciprocal(&self) -> ArrayView1<'_, F> {
        ArrayView1::from(&self.reciprocal[..])
    }

    /// The reciprocal `1 / b` as a slice.
    pub fn reciprocal_slice(&self) -> &[F] {
        &self.reciprocal
    }

    /// The same lattice with every basis entry made positive: a canonical form, since the
    /// sign of an entry does not change the lattice.
    pub fn abs(&self) -> Self {
        Self {
            basis: self.basis.iter().map(|b| b.abs()).collect(),
            reciprocal: self.reciprocal.iter().map(|r| r.abs()).collect(),
        }
    }

    /// `ln |det B| = sum_i ln |b_i|`: the log-volume of a lattice cell. Point density is
    /// `1 / |det B|`, which the size loss (Eq. 7) pushes down.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    ///
    /// let lattice = DiagonalLattice::<f64>::from_slice(&[2.0, -4.0])?;
    /// assert!((lattice.log_abs_determinant() - 8f64.ln()).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_abs_determinant(&self) -> F {
        self.basis
            .iter()
            .fold(F::zero(), |acc, b| acc + b.abs().ln())
    }
}

/// `1 / b`, rounded once, as the official code computes it.
fn reciprocal_of<F: LatticeFloat>(basis: &[F]) -> Vec<F> {
    basis.iter().map(|&b| F::one() / b).collect()
}

/// Check the invariants of a basis diagonal: non-empty, finite, magnitudes within bounds.
pub(super) fn validate_basis<F: LatticeFloat>(basis: ArrayView1<F>) -> Result<()> {
    if basis.is_empty() {
        return Err(Error::ZeroDim);
    }
    for (index, &b) in basis.iter().enumerate() {
        let value = b.to_f64().unwrap_or(f64::NAN);
        if !b.is_finite() {
            return Err(Error::NonFiniteBasis { index, value });
        }
        if !(F::MIN_BASIS_MAGNITUDE..=F::MAX_BASIS_MAGNITUDE).contains(&b.abs()) {
            return Err(Error::BasisOutOfRange {
                index,
                value,
                min: F::MIN_BASIS_MAGNITUDE.to_f64().unwrap_or(0.0),
                max: F::MAX_BASIS_MAGNITUDE.to_f64().unwrap_or(f64::MAX),
            });
        }
    }
    Ok(())
}

impl<F: LatticeFloat> Lattice<F> for DiagonalLattice<F> {
    fn dim(&self) -> usize {
        DiagonalLattice::dim(self)
    }

    /// Babai rounding is exact for a diagonal (orthogonal) basis.
    fn is_exact(&self) -> bool {
        true
    }

    /// The basis diagonal `b`.
    fn parameters(&self) -> &[F] {
        self.basis_slice()
    }

    /// A diagonal lattice with basis `parameters`, validated as [`DiagonalLattice::new`].
    fn with_parameters(&self, parameters: &[F]) -> Result<Self> {
        if parameters.len() != self.dim() {
            return Err(Error::ShapeMismatch {
                what: "parameters",
                expected: vec![self.dim()],
                found: vec![parameters.len()],
            });
        }
        Self::from_slice(parameters)
    }

    fn validate_latents(&self, latents: &[F]) -> Result<()> {
        DiagonalLattice::validate_latents(self, latents)
    }

    fn quantize_into(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayViewMut2<i32>,
        points: ArrayViewMut2<F>,
    ) -> Result<()> {
        DiagonalLattice::quantize_into(self, latents, codes, points)
    }

    fn decode_into(&self, codes: ArrayView2<i32>, points: ArrayViewMut2<F>) -> Result<()> {
        DiagonalLattice::decode_into(self, codes, points)
    }

    /// `d(embedding)/db_j = 2/(ND) sum_n (e_nj - z_nj) v_nj`, accumulated in `f64`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{DiagonalLattice, Lattice};
    /// use ndarray::array;
    ///
    /// let lattice = DiagonalLattice::<f64>::from_slice(&[1.0])?;
    /// let latents = array![[2.25]];
    /// let q = lattice.quantize(latents.view())?; // v = 2, e = 2
    /// let grad = lattice.embedding_loss_gradient(latents.view(), q.codes.view(), q.points.view())?;
    /// assert_eq!(grad[0], 2.0 * (2.0 - 2.25) * 2.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn embedding_loss_gradient(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayView2<i32>,
        points: ArrayView2<F>,
    ) -> Result<Array1<F>> {
        check_step_shapes(self.dim(), latents.shape(), codes.shape(), points.shape())?;
        let mut sums = vec![0.0f64; self.dim()];
        for ((z_row, v_row), e_row) in latents
            .outer_iter()
            .zip(codes.outer_iter())
            .zip(points.outer_iter())
        {
            for (((sum, &z), &v), &e) in sums.iter_mut().zip(z_row).zip(v_row).zip(e_row) {
                *sum += (to_f64(e) - to_f64(z)) * f64::from(v);
            }
        }
        let scale = 2.0 / latents.len() as f64;
        Ok(sums.into_iter().map(|sum| from_f64(scale * sum)).collect())
    }

    /// Eq. 7: `-||diag(B)||_1 = -sum_i |b_i|`, summed in `f64`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{DiagonalLattice, Lattice};
    ///
    /// let lattice = DiagonalLattice::<f32>::from_slice(&[2.0, -0.5])?;
    /// assert_eq!(lattice.size_loss(), -2.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn size_loss(&self) -> F {
        let sum: f64 = self.basis().iter().map(|b| to_f64(b.abs())).sum();
        from_f64(-sum)
    }

    /// `d(size)/db_i = -sign(b_i)` (never 0: basis entries are non-zero).
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{DiagonalLattice, Lattice};
    ///
    /// let lattice = DiagonalLattice::<f32>::from_slice(&[2.0, -0.5])?;
    /// assert_eq!(lattice.size_loss_gradient().to_vec(), vec![-1.0, 1.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn size_loss_gradient(&self) -> Array1<F> {
        self.basis().mapv(|b| -b.signum())
    }
}
