//! The [`Lattice`] trait: what callers need from any lattice quantizer.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::basis::DiagonalLattice;
use crate::error::Result;
use crate::float::LatticeFloat;
use crate::quantize::Quantized;

/// A lattice quantizer over rows of length [`Lattice::dim`]: latents to integer codes and
/// lattice points, and codes back to points.
///
/// [`DiagonalLattice`] (the paper's learnable lattice) implements it today. Bounded
/// codebooks, classical lattices (E8, D_n, A_n) and general bases with exact closest-point
/// search can implement it later; code written against this trait keeps working.
/// Codes are always integer coordinates in the lattice's own basis, `e = B v`.
///
/// # Example
/// ```
/// use lattice_vq_core::{DiagonalLattice, Lattice};
/// use ndarray::array;
///
/// fn usage<L: Lattice<f32>>(lattice: &L) -> lattice_vq_core::Result<usize> {
///     let q = lattice.quantize(array![[0.4f32, 2.6], [0.1, 2.4]].view())?;
///     assert_eq!(lattice.decode(q.codes.view())?, q.points);
///     Ok(q.codes.rows().into_iter().filter(|row| row[1] == 3).count())
/// }
/// let lattice = DiagonalLattice::<f32>::from_slice(&[1.0, 1.0])?;
/// assert_eq!(usage(&lattice)?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Lattice<F: LatticeFloat> {
    /// The dimension D of the vectors it quantizes.
    fn dim(&self) -> usize;

    /// Whether [`Lattice::quantize`] always returns a closest lattice point (as opposed to
    /// an approximation such as Babai rounding on a non-orthogonal basis).
    fn is_exact(&self) -> bool;

    /// Quantize `(N, D)` latents into `(N, D)` code and point buffers; see
    /// [`DiagonalLattice::quantize_into`] for the contract and errors.
    ///
    /// # Errors
    /// Shape mismatches, empty input, non-finite latents, codes outside `i32`.
    fn quantize_into(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayViewMut2<i32>,
        points: ArrayViewMut2<F>,
    ) -> Result<()>;

    /// Decode `(N, D)` codes into an `(N, D)` point buffer.
    ///
    /// # Errors
    /// Shape mismatches, empty input, codes outside the lattice's range.
    fn decode_into(&self, codes: ArrayView2<i32>, points: ArrayViewMut2<F>) -> Result<()>;

    /// Allocating form of [`Lattice::quantize_into`].
    ///
    /// # Errors
    /// As [`Lattice::quantize_into`].
    fn quantize(&self, latents: ArrayView2<F>) -> Result<Quantized<F>> {
        let mut codes = Array2::zeros(latents.raw_dim());
        let mut points = Array2::zeros(latents.raw_dim());
        self.quantize_into(latents, codes.view_mut(), points.view_mut())?;
        Ok(Quantized { codes, points })
    }

    /// Allocating form of [`Lattice::decode_into`].
    ///
    /// # Errors
    /// As [`Lattice::decode_into`].
    fn decode(&self, codes: ArrayView2<i32>) -> Result<Array2<F>> {
        let mut points = Array2::zeros(codes.raw_dim());
        self.decode_into(codes, points.view_mut())?;
        Ok(points)
    }
}

impl<F: LatticeFloat> Lattice<F> for DiagonalLattice<F> {
    fn dim(&self) -> usize {
        DiagonalLattice::dim(self)
    }

    /// Babai rounding is exact for a diagonal (orthogonal) basis.
    fn is_exact(&self) -> bool {
        true
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
}
