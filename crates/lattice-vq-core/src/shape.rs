//! Shape checks shared by the lattices, the losses and the VQ search.

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::float::{LatticeFloat, to_f64};

/// Require an `(N, D)` input with `N >= 1` and `D = dim`.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `what` if the row length is not `dim`, then
/// [`Error::EmptyInput`] if there are no rows.
pub(crate) fn check_rows(dim: usize, what: &'static str, shape: &[usize]) -> Result<()> {
    if shape[1] != dim {
        return Err(Error::ShapeMismatch {
            what,
            expected: vec![shape[0], dim],
            found: shape.to_vec(),
        });
    }
    if shape[0] == 0 {
        return Err(Error::EmptyInput { what });
    }
    Ok(())
}

/// Require `found == expected` for an output buffer.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `what`.
pub(crate) fn check_same_shape(
    what: &'static str,
    found: &[usize],
    expected: &[usize],
) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected: expected.to_vec(),
            found: found.to_vec(),
        })
    }
}

/// Require `latents`, `codes` and `points` of one `(N, D)` shape with `N >= 1` and `D = dim`:
/// the inputs of a lattice's quantizer step and embedding gradient.
///
/// # Errors
/// As [`check_rows`] for the latents, [`Error::ShapeMismatch`] naming the buffer that
/// differs.
pub(crate) fn check_step_shapes(
    dim: usize,
    latents: &[usize],
    codes: &[usize],
    points: &[usize],
) -> Result<()> {
    check_rows(dim, "latents", latents)?;
    check_same_shape("codes", codes, latents)?;
    check_same_shape("points", points, latents)
}

/// Require row-major latents (`N * D` values) to be whole rows of `dim`, at least one.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the length is not a multiple of `dim`, then
/// [`Error::EmptyInput`].
pub(crate) fn check_latent_slice<F>(dim: usize, latents: &[F]) -> Result<()> {
    if !latents.len().is_multiple_of(dim) {
        return Err(Error::ShapeMismatch {
            what: "latents",
            expected: vec![latents.len() / dim, dim],
            found: vec![latents.len()],
        });
    }
    if latents.is_empty() {
        return Err(Error::EmptyInput { what: "latents" });
    }
    Ok(())
}

/// The first non-finite latent of `(N, D)` rows, in row order, as
/// [`Error::NonFiniteLatent`].
///
/// # Errors
/// That error.
pub(crate) fn check_finite_latents<F: LatticeFloat>(latents: ArrayView2<F>) -> Result<()> {
    for (row, z_row) in latents.outer_iter().enumerate() {
        if let Some(col) = z_row.iter().position(|z| !z.is_finite()) {
            return Err(Error::NonFiniteLatent {
                row,
                col,
                value: to_f64(z_row[col]),
            });
        }
    }
    Ok(())
}

/// Row-major latents (`N * D` values) against the rules of a lattice whose quantization
/// accepts every finite latent (the bounded lattice, FSQ): whole rows, at least one, finite.
///
/// # Errors
/// As [`check_latent_slice`], then [`check_finite_latents`].
pub(crate) fn check_finite_latent_slice<F: LatticeFloat>(dim: usize, latents: &[F]) -> Result<()> {
    check_latent_slice(dim, latents)?;
    let rows = ArrayView2::from_shape((latents.len() / dim, dim), latents)
        .expect("whole rows, checked above");
    check_finite_latents(rows)
}
