//! Shape checks shared by the lattices, the losses and the VQ search.

use crate::error::{Error, Result};

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
