//! Nearest-codeword search of the VQ-VAE baseline (paper Eq. 1): the `O(K)` search the
//! learnable lattice replaces with `O(1)` rounding.

use ndarray::{Array1, ArrayView2, ArrayViewMut1, Axis};

use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::quantize::check_same_shape;

/// Rows handled per matrix product, so the `(rows, K)` distance block stays in cache-sized
/// memory instead of an `(N, K)` matrix.
const BLOCK_ROWS: usize = 256;

/// Index of the nearest codeword of each latent row, by squared Euclidean distance (Eq. 1).
///
/// Distances are computed as the official code does, `|z|^2 + |e_k|^2 - 2 z . e_k`, with
/// the dot products as one matrix product per block of rows. Exact ties go to the lowest
/// index, like `torch.argmin` (the official VQ-EMA checkpoint has duplicate codewords).
///
/// # Shapes
/// `codebook`: `(K, D)`, `K >= 1`; `latents`: `(N, D)`, `N >= 1`. Returns `(N,)`.
///
/// # Errors
/// [`Error::EmptyInput`] for an empty codebook or batch, [`Error::ShapeMismatch`] if the
/// dimensions differ, [`Error::NonFiniteLatent`] for a NaN or infinite latent.
///
/// # Example
/// ```
/// use lattice_core::vq::nearest_codewords;
/// use ndarray::array;
///
/// let codebook = array![[0.0f32, 0.0], [1.0, 1.0], [1.0, 1.0]];
/// let indices = nearest_codewords(codebook.view(), array![[0.9, 0.8], [0.1, 0.0]].view())?;
/// assert_eq!(indices.to_vec(), vec![1, 0]); // the tie between 1 and 2 goes to 1
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nearest_codewords<F: LatticeFloat + ndarray::LinalgScalar>(
    codebook: ArrayView2<F>,
    latents: ArrayView2<F>,
) -> Result<Array1<usize>> {
    let mut indices = Array1::zeros(latents.nrows());
    nearest_codewords_into(codebook, latents, indices.view_mut())?;
    Ok(indices)
}

/// [`nearest_codewords`] into a caller-provided index buffer of shape `(N,)`.
///
/// Allocates one `(256, K)` distance block per call, not per row.
///
/// # Errors
/// As [`nearest_codewords`], plus [`Error::ShapeMismatch`] for a wrong `indices` length.
///
/// # Example
/// ```
/// use lattice_core::vq::nearest_codewords_into;
/// use ndarray::{array, Array1};
///
/// let mut indices = Array1::zeros(1);
/// nearest_codewords_into(array![[0.0f64], [4.0]].view(), array![[3.0]].view(), indices.view_mut())?;
/// assert_eq!(indices[0], 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nearest_codewords_into<F: LatticeFloat + ndarray::LinalgScalar>(
    codebook: ArrayView2<F>,
    latents: ArrayView2<F>,
    mut indices: ArrayViewMut1<usize>,
) -> Result<()> {
    if codebook.nrows() == 0 {
        return Err(Error::EmptyInput { what: "codebook" });
    }
    if latents.nrows() == 0 {
        return Err(Error::EmptyInput { what: "latents" });
    }
    if latents.ncols() != codebook.ncols() {
        return Err(Error::ShapeMismatch {
            what: "latents",
            expected: vec![latents.nrows(), codebook.ncols()],
            found: latents.shape().to_vec(),
        });
    }
    check_same_shape("indices", indices.shape(), &[latents.nrows()])?;
    let codeword_norms: Array1<F> = codebook.rows().into_iter().map(|e| e.dot(&e)).collect();
    let two = F::one() + F::one();
    for (block_index, block) in latents.axis_chunks_iter(Axis(0), BLOCK_ROWS).enumerate() {
        let first_row = block_index * BLOCK_ROWS;
        let dots = block.dot(&codebook.t());
        for (offset, (z, dot_row)) in block.outer_iter().zip(dots.outer_iter()).enumerate() {
            let row = first_row + offset;
            if let Some(col) = z.iter().position(|x| !x.is_finite()) {
                let value = z[col].to_f64().unwrap_or(f64::NAN);
                return Err(Error::NonFiniteLatent { row, col, value });
            }
            let z_norm = z.dot(&z);
            let mut best = (0, F::infinity());
            for (k, (&dot, &e_norm)) in dot_row.iter().zip(&codeword_norms).enumerate() {
                let distance = z_norm + e_norm - two * dot;
                // Strict `<` keeps the lowest index on exact ties, as torch.argmin does.
                if distance < best.1 {
                    best = (k, distance);
                }
            }
            indices[row] = best.0;
        }
    }
    Ok(())
}
