//! The host half of the adapters' nearest-codeword search: which rows the fast search on the
//! device has certified ([`uncertified_rows`]), and the [rule](crate::vq) for the others
//! ([`decide_rows`]).
//!
//! An adapter computes the fast distances `(|z|^2 + |e|^2) - 2 z.e` with one matrix product
//! on its device, keeps each row's smallest and second smallest value, and copies `|z|^2`,
//! `|e|^2` and those two values (`O(N + K)` numbers, against the `O(N K)` distances) to the
//! host. A row is certified when its second smallest distance exceeds the smallest by more
//! than [`FastSearchBound::tolerance`]: then the fast argmin is the rule's answer. NaN or
//! infinite latents and codewords, and squares that overflow, never certify, so the layers
//! need no other finiteness check on their fast path.

use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::shape::check_same_shape;
use crate::vq::{FastSearchBound, check_codebook_in_slice, nearest_codewords_in_slices};

/// The rows whose fast argmin is not certified, in increasing order.
///
/// `row_norms`, `best` and `second` hold each row's computed `|z|^2` and its smallest and
/// second smallest fast distance (`second` empty for a one-codeword codebook: nothing to
/// decide); `codeword_norms` holds every codeword's computed `|e|^2`. Every row is
/// uncertified when `dim` is too large for [`FastSearchBound`] or a codeword norm is NaN;
/// a row is when its tolerance is infinite (NaN or infinite latent, overflowed square).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `best` and `row_norms`, or a non-empty `second` and `best`,
/// differ in length.
///
/// # Example
/// ```
/// use lattice_vq_core::vq_certificate::uncertified_rows;
///
/// // Codewords 0 and 4 on a line; rows 1.0 (clear), 2.0 (a tie) and NaN.
/// let row_norms = [1.0f32, 4.0, f32::NAN];
/// let (best, second) = ([1.0, 4.0, f32::NAN], [9.0, 4.0, f32::NAN]);
/// assert_eq!(uncertified_rows(1, &row_norms, &[0.0, 16.0], &best, &second)?, vec![1, 2]);
/// # Ok::<(), lattice_vq_core::Error>(())
/// ```
pub fn uncertified_rows<F: LatticeFloat>(
    dim: usize,
    row_norms: &[F],
    codeword_norms: &[F],
    best: &[F],
    second: &[F],
) -> Result<Vec<usize>> {
    check_same_shape("best distances", &[best.len()], &[row_norms.len()])?;
    if !second.is_empty() {
        check_same_shape("second distances", &[second.len()], &[best.len()])?;
    }
    let max_norm = codeword_norms.iter().try_fold(F::zero(), |max, &norm| {
        (!norm.is_nan()).then(|| max.max(norm))
    });
    let (Some(bound), Some(max_norm)) = (FastSearchBound::<F>::new(dim), max_norm) else {
        return Ok((0..best.len()).collect());
    };
    Ok((0..best.len())
        .filter(|&row| {
            let second = second.get(row).copied().unwrap_or(F::infinity());
            let window = best[row] + bound.tolerance(row_norms[row], max_norm, best[row]);
            // Written so that NaN anywhere leaves the row uncertified.
            !(second > window && window.is_finite())
        })
        .collect())
}

/// The rule's nearest codeword of each of `rows` (row-major, `dim` wide: the uncertified
/// rows of a layer's input, which are row `ids[i]` of it), after checking the codebook and
/// then those rows. Every NaN or infinite latent is in an uncertified row, so the first one
/// here is the first of the whole input.
///
/// # Errors
/// [`Error::NonFiniteCodeword`] (checked first), or [`Error::NonFiniteLatent`] naming the
/// row by its id; [`Error::ShapeMismatch`] for lengths that `dim` does not divide or `ids`
/// of another length than the rows.
///
/// # Example
/// ```
/// use lattice_vq_core::{vq_certificate::decide_rows, Error};
///
/// let codebook = [0.0f32, 4.0];
/// assert_eq!(decide_rows(&codebook, &[2.0, 3.0], &[1, 5], 1)?, vec![0, 1]);
/// let err = decide_rows(&codebook, &[2.0, f32::NAN], &[1, 5], 1).unwrap_err();
/// assert!(matches!(err, Error::NonFiniteLatent { row: 5, col: 0, .. }));
/// # Ok::<(), Error>(())
/// ```
pub fn decide_rows<F: LatticeFloat>(
    codebook: &[F],
    rows: &[F],
    ids: &[usize],
    dim: usize,
) -> Result<Vec<usize>> {
    check_codebook_in_slice(codebook, dim)?;
    check_same_shape("row ids", &[ids.len() * dim], &[rows.len()])?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    nearest_codewords_in_slices(codebook, rows, dim).map_err(|error| match error {
        // The rule names the first non-finite entry by its row in `rows`: give its id.
        Error::NonFiniteLatent { row, col, value } => Error::NonFiniteLatent {
            row: ids[row],
            col,
            value,
        },
        other => other,
    })
}
