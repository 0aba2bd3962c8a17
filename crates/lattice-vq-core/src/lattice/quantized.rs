//! The result of quantizing a batch: codes and lattice points.

use ndarray::Array2;

/// Integer codes and lattice points of a batch of latent rows.
///
/// # Shapes
/// Both fields are `(N, D)`: row `n` holds `v_n = round(B^-1 z_n)` and `e_n = B v_n`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized<F> {
    /// Integer lattice coordinates `v` (Eq. 3), one row per latent vector.
    pub codes: Array2<i32>,
    /// Lattice points `e = B v` (Eq. 4), one row per latent vector; a zero coordinate is
    /// always `+0.0`, so the points are bit for bit
    /// [`DiagonalLattice::decode`](super::DiagonalLattice::decode) of the codes.
    pub points: Array2<F>,
}
