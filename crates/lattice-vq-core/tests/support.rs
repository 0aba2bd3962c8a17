//! Strategies and helpers shared by the test modules.

use lattice_vq_core::DiagonalLattice;
use ndarray::Array2;
use proptest::prelude::*;

/// A basis entry of either sign with magnitude in [0.05, 20].
pub fn basis_entry() -> impl Strategy<Value = f64> {
    (0.05f64..20.0, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m })
}

/// A diagonal lattice of dimension `dims` (f64) with rows of latents in [-scale, scale].
pub fn lattice_and_latents(
    dims: std::ops::RangeInclusive<usize>,
    rows: std::ops::RangeInclusive<usize>,
    scale: f64,
) -> impl Strategy<Value = (Vec<f64>, Array2<f64>)> {
    (dims, rows).prop_flat_map(move |(dim, rows)| {
        (
            proptest::collection::vec(basis_entry(), dim),
            proptest::collection::vec(-scale..scale, dim * rows)
                .prop_map(move |values| Array2::from_shape_vec((rows, dim), values).unwrap()),
        )
    })
}

/// Build a lattice the strategy guarantees to be valid.
pub fn lattice(basis: &[f64]) -> DiagonalLattice<f64> {
    DiagonalLattice::from_slice(basis).expect("strategy produces valid bases")
}

/// Squared distance in f64.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Distance of `x` from the nearest rounding half-point `k + 0.5`.
pub fn distance_to_half_point(x: f64) -> f64 {
    (x - x.floor() - 0.5).abs()
}
