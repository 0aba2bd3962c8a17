//! Babai rounding on a diagonal lattice (paper Eq. 3-4) and decoding of codes (`e = B v`).

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::diagonal::DiagonalLattice;
use super::quantized::Quantized;
use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::shape::{check_latent_slice, check_rows, check_same_shape, check_step_shapes};

/// Rows per task when the `parallel` feature splits a batch across threads.
#[cfg(feature = "parallel")]
const PARALLEL_CHUNK_ROWS: usize = 4096;

impl<F: LatticeFloat> DiagonalLattice<F> {
    /// Quantize each row of `latents` to its closest lattice point by Babai rounding
    /// (Eq. 3-4): `v = round_ties_even(z * (1 / b))`, `e = b * v`.
    ///
    /// For a diagonal basis Babai rounding is exact: `e` is a closest lattice point to `z`.
    /// Ties (`z / b` exactly half-way between integers) round to the even integer, like
    /// `torch.round`. The product with the stored reciprocal reproduces the official
    /// code's `round(z * (1 / w))` bit for bit; it can differ from rounding the exact
    /// quotient `z / b` only for latents within one rounding error of a half-point.
    ///
    /// # Shapes
    /// `latents`: `(N, D)` with `N >= 1` and `D = self.dim()`, any memory layout.
    /// Returns codes and points of shape `(N, D)`.
    ///
    /// # Errors
    /// [`Error::EmptyInput`] if `N == 0`; [`Error::ShapeMismatch`] if the row length is not
    /// D; [`Error::NonFiniteLatent`] for a NaN or infinite latent; [`Error::CodeOverflow`]
    /// if `z / b` does not round to an `i32`. Errors name the first offending row and
    /// column.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    /// use ndarray::array;
    ///
    /// let lattice = DiagonalLattice::<f32>::from_slice(&[1.0, 0.5])?;
    /// let q = lattice.quantize(array![[0.5, 0.8], [1.5, -0.2]].view())?;
    /// assert_eq!(q.codes, array![[0, 2], [2, 0]]); // 0.5 and 1.5 round to even
    /// assert_eq!(q.points, array![[0.0, 1.0], [2.0, 0.0]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quantize(&self, latents: ArrayView2<F>) -> Result<Quantized<F>> {
        let mut codes = Array2::zeros(latents.raw_dim());
        let mut points = Array2::zeros(latents.raw_dim());
        self.quantize_into(latents, codes.view_mut(), points.view_mut())?;
        Ok(Quantized { codes, points })
    }

    /// [`DiagonalLattice::quantize`] into caller-provided buffers; allocates nothing.
    ///
    /// Contiguous (row-major) inputs take a vectorized path that checks a whole row at
    /// once and looks for the offending element only when the row fails; other layouts are
    /// handled element by element. With the `parallel` feature, large contiguous batches
    /// are split across rayon's threads (the reported error is still the first in row
    /// order).
    ///
    /// # Shapes
    /// `latents`, `codes` and `points`: `(N, D)` each, `N >= 1`, `D = self.dim()`.
    ///
    /// # Errors
    /// As [`DiagonalLattice::quantize`], plus [`Error::ShapeMismatch`] if `codes` or
    /// `points` differ in shape from `latents`. After an error the contents of `codes` and
    /// `points` are unspecified.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    /// use ndarray::{array, Array2};
    ///
    /// let lattice = DiagonalLattice::<f64>::from_slice(&[2.0])?;
    /// let latents = array![[2.9], [-5.0]];
    /// let mut codes = Array2::zeros((2, 1));
    /// let mut points = Array2::zeros((2, 1));
    /// lattice.quantize_into(latents.view(), codes.view_mut(), points.view_mut())?;
    /// assert_eq!(codes, array![[1], [-2]]); // -2.5 rounds to even
    /// assert_eq!(points, array![[2.0], [-4.0]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quantize_into(
        &self,
        latents: ArrayView2<F>,
        mut codes: ArrayViewMut2<i32>,
        mut points: ArrayViewMut2<F>,
    ) -> Result<()> {
        check_step_shapes(self.dim(), latents.shape(), codes.shape(), points.shape())?;
        let (basis, reciprocal) = (self.basis_slice(), self.reciprocal_slice());
        if let (Some(z), Some(c), Some(p)) = (
            latents.as_slice(),
            codes.as_slice_mut(),
            points.as_slice_mut(),
        ) {
            return quantize_contiguous(basis, reciprocal, z, c, p);
        }
        for (row, z_row) in latents.outer_iter().enumerate() {
            for (col, &z) in z_row.iter().enumerate() {
                let (code, point) = quantize_element(basis[col], reciprocal[col], z, row, col)?;
                codes[[row, col]] = code;
                points[[row, col]] = point;
            }
        }
        Ok(())
    }

    /// Decode integer codes to lattice points `e = B v` (Eq. 4): the inverse direction of
    /// code indexing.
    ///
    /// # Shapes
    /// `codes`: `(N, D)`, `N >= 1`, `D = self.dim()`. Returns `(N, D)`.
    ///
    /// Every `i32` code decodes to a finite point: the basis bounds guarantee it.
    ///
    /// # Errors
    /// [`Error::EmptyInput`] or [`Error::ShapeMismatch`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    /// use ndarray::array;
    ///
    /// let lattice = DiagonalLattice::<f32>::from_slice(&[0.5, -3.0])?;
    /// let latents = array![[0.7, 4.0]];
    /// let q = lattice.quantize(latents.view())?;
    /// assert_eq!(lattice.decode(q.codes.view())?, q.points);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(&self, codes: ArrayView2<i32>) -> Result<Array2<F>> {
        let mut points = Array2::zeros(codes.raw_dim());
        self.decode_into(codes, points.view_mut())?;
        Ok(points)
    }

    /// [`DiagonalLattice::decode`] into a caller-provided buffer; allocates nothing.
    ///
    /// # Shapes
    /// `codes` and `points`: `(N, D)` each.
    ///
    /// # Errors
    /// As [`DiagonalLattice::decode`], plus [`Error::ShapeMismatch`] if `points` differs in
    /// shape from `codes`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::DiagonalLattice;
    /// use ndarray::{array, Array2};
    ///
    /// let lattice = DiagonalLattice::<f64>::from_slice(&[0.25])?;
    /// let mut points = Array2::zeros((2, 1));
    /// lattice.decode_into(array![[4], [-1]].view(), points.view_mut())?;
    /// assert_eq!(points, array![[1.0], [-0.25]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_into(&self, codes: ArrayView2<i32>, mut points: ArrayViewMut2<F>) -> Result<()> {
        self.check_rows("codes", codes.shape())?;
        check_same_shape("points", points.shape(), codes.shape())?;
        for (code_row, mut point_row) in codes.outer_iter().zip(points.outer_iter_mut()) {
            for ((point, &code), &b) in point_row.iter_mut().zip(code_row).zip(self.basis_slice()) {
                *point = self::point(b, F::from_code(code));
            }
        }
        Ok(())
    }

    /// Check row-major latents (`N * D` values, rows of length D) against every rule of
    /// [`DiagonalLattice::quantize`] without writing anything: the first bad element's error,
    /// computed with exactly the same arithmetic. Backends whose own fast check fails call
    /// it to report the error the core would.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the length is not a multiple of D, [`Error::EmptyInput`],
    /// then as [`DiagonalLattice::quantize`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{DiagonalLattice, Error};
    ///
    /// let lattice = DiagonalLattice::<f32>::from_slice(&[1.0, 1e-3])?;
    /// assert!(lattice.validate_latents(&[0.5, 2.0, 1.0, 1.0]).is_ok());
    /// let err = lattice.validate_latents(&[0.5, 2.0, 1.0, 1e7]).unwrap_err();
    /// assert!(matches!(err, Error::CodeOverflow { row: 1, col: 1, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate_latents(&self, latents: &[F]) -> Result<()> {
        let dim = self.dim();
        check_latent_slice(dim, latents)?;
        let (basis, reciprocal) = (self.basis_slice(), self.reciprocal_slice());
        for (row, z_row) in latents.chunks_exact(dim).enumerate() {
            for (col, &z) in z_row.iter().enumerate() {
                quantize_element(basis[col], reciprocal[col], z, row, col)?;
            }
        }
        Ok(())
    }

    /// Check that a `(N, D)` input has at least one row and `D = self.dim()` columns.
    pub(crate) fn check_rows(&self, what: &'static str, shape: &[usize]) -> Result<()> {
        check_rows(self.dim(), what, shape)
    }
}

/// Quantize one scalar with full checks; the specification that the fast path must match.
#[inline]
fn quantize_element<F: LatticeFloat>(
    b: F,
    reciprocal: F,
    z: F,
    row: usize,
    col: usize,
) -> Result<(i32, F)> {
    let as_f64 = |x: F| x.to_f64().unwrap_or(f64::NAN);
    if !z.is_finite() {
        return Err(Error::NonFiniteLatent {
            row,
            col,
            value: as_f64(z),
        });
    }
    let scaled = z * reciprocal;
    let v = scaled.round_ties_even_fast();
    if !(v >= F::CODE_MIN && v < F::CODE_MAX_EXCLUSIVE) {
        return Err(Error::CodeOverflow {
            row,
            col,
            value: as_f64(scaled),
        });
    }
    Ok((v.to_code_unchecked(), point(b, v)))
}

/// The lattice point `b * v` of an integral `v`, with a zero point always `+0.0`.
///
/// `v` from rounding carries the latent's sign even when it is zero (`round(-0.1) = -0.0`)
/// while the code does not, so `b * v` could be `-0.0` where [`DiagonalLattice::decode`]
/// gives `+0.0` (issue 11, D14). Adding `+0.0` changes nothing but the sign of a zero (IEEE
/// `-0.0 + 0.0 = +0.0`), so quantize and decode, which both call this, agree bit for bit
/// whatever the signs of `b` and of zero; it is one addition in the vectorized loop.
#[inline(always)]
fn point<F: LatticeFloat>(b: F, v: F) -> F {
    b * v + F::zero()
}

/// Contiguous rows, optionally split across threads.
fn quantize_contiguous<F: LatticeFloat>(
    basis: &[F],
    reciprocal: &[F],
    latents: &[F],
    codes: &mut [i32],
    points: &mut [F],
) -> Result<()> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let dim = basis.len();
        let chunk = dim * PARALLEL_CHUNK_ROWS;
        if latents.len() > 2 * chunk && rayon::current_num_threads() > 1 {
            let first_error = latents
                .par_chunks(chunk)
                .zip(codes.par_chunks_mut(chunk))
                .zip(points.par_chunks_mut(chunk))
                .enumerate()
                .find_map_first(|(index, ((z, c), p))| {
                    quantize_rows(basis, reciprocal, z, c, p, index * PARALLEL_CHUNK_ROWS).err()
                });
            return first_error.map_or(Ok(()), Err);
        }
    }
    quantize_rows(basis, reciprocal, latents, codes, points, 0)
}

/// The hot loop: rows of length `D` laid out contiguously, starting at row `first_row`.
///
/// Every element takes the vectorizable path ([`LatticeFloat::to_code_fast`]); one flag per
/// row, folded with non-short-circuiting `&`, records whether all its codes were within
/// that path's exact range (NaN and infinities fail it). A flagged row is redone by
/// [`quantize_element`], which converts large codes exactly or names the offending element.
#[inline]
fn quantize_rows<F: LatticeFloat>(
    basis: &[F],
    reciprocal: &[F],
    latents: &[F],
    codes: &mut [i32],
    points: &mut [F],
    first_row: usize,
) -> Result<()> {
    let dim = basis.len();
    let rows = latents
        .chunks_exact(dim)
        .zip(codes.chunks_exact_mut(dim))
        .zip(points.chunks_exact_mut(dim));
    for (offset, ((z_row, code_row), point_row)) in rows.enumerate() {
        let mut fast_path_exact = true;
        let lanes = z_row
            .iter()
            .zip(reciprocal)
            .zip(basis)
            .zip(code_row.iter_mut())
            .zip(point_row.iter_mut());
        for ((((&z, &r), &b), code), point) in lanes {
            let v = (z * r).round_ties_even_fast();
            fast_path_exact &= v.abs() < F::FAST_CODE_LIMIT;
            *code = v.to_code_fast();
            *point = self::point(b, v);
        }
        if !fast_path_exact {
            let row = first_row + offset;
            for (col, &z) in z_row.iter().enumerate() {
                (code_row[col], point_row[col]) =
                    quantize_element(basis[col], reciprocal[col], z, row, col)?;
            }
        }
    }
    Ok(())
}
