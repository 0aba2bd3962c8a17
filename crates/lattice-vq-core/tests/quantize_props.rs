//! Properties of Babai rounding on a diagonal lattice, against slow, obviously right oracles.

use crate::support::{distance_to_half_point, lattice, lattice_and_latents, squared_distance};
use lattice_vq_core::{DiagonalLattice, Lattice};
use ndarray::{Array2, ShapeBuilder};
use proptest::prelude::*;

/// All offsets in {-1, 0, 1}^dim.
fn neighbourhood(dim: usize) -> Vec<Vec<i32>> {
    let mut offsets = vec![vec![]];
    for _ in 0..dim {
        offsets = offsets
            .into_iter()
            .flat_map(|prefix| {
                (-1..=1).map(move |step| {
                    let mut next = prefix.clone();
                    next.push(step);
                    next
                })
            })
            .collect();
    }
    offsets
}

proptest! {
    #[test]
    fn babai_point_is_at_least_as_close_as_its_whole_neighbourhood(
        (basis, latents) in lattice_and_latents(1..=6, 1..=4, 100.0)
    ) {
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let offsets = neighbourhood(basis.len());
        for (row, z) in latents.outer_iter().enumerate() {
            let z = z.to_vec();
            let babai = squared_distance(&z, &q.points.row(row).to_vec());
            for offset in &offsets {
                let candidate: Vec<f64> = basis
                    .iter()
                    .zip(q.codes.row(row))
                    .zip(offset)
                    .map(|((b, &v), &u)| b * f64::from(v + u))
                    .collect();
                let other = squared_distance(&z, &candidate);
                prop_assert!(babai <= other * (1.0 + 1e-12) + 1e-12,
                    "row {row}: babai {babai} > neighbour {offset:?} at {other}");
            }
        }
    }

    #[test]
    fn codes_match_the_official_formula_round_of_z_times_reciprocal(
        (basis, latents) in lattice_and_latents(1..=8, 1..=8, 1000.0)
    ) {
        let f32_basis: Vec<f32> = basis.iter().map(|&b| b as f32).collect();
        let lattice = DiagonalLattice::<f32>::from_slice(&f32_basis).unwrap();
        let latents = latents.mapv(|z| z as f32);
        let q = lattice.quantize(latents.view()).unwrap();
        for ((&z, &code), col) in latents.iter().zip(q.codes.iter()).zip((0..basis.len()).cycle()) {
            let b = f32_basis[col];
            let expected = (z * (1.0 / b)).round_ties_even();
            prop_assert_eq!(code, expected as i32);
        }
        prop_assert_eq!(lattice.decode(q.codes.view()).unwrap(), q.points);
    }

    #[test]
    fn quantizing_a_lattice_point_returns_it((basis, latents) in lattice_and_latents(1..=8, 1..=8, 1000.0)) {
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let again = lattice.quantize(q.points.view()).unwrap();
        prop_assert_eq!(&again.codes, &q.codes);
        prop_assert_eq!(&again.points, &q.points);
    }

    #[test]
    fn quantizing_a_lattice_point_returns_it_f32((basis, latents) in lattice_and_latents(1..=8, 1..=8, 1000.0)) {
        let basis: Vec<f32> = basis.iter().map(|&b| b as f32).collect();
        let lattice = DiagonalLattice::<f32>::from_slice(&basis).unwrap();
        let q = lattice.quantize(latents.mapv(|z| z as f32).view()).unwrap();
        let again = lattice.quantize(q.points.view()).unwrap();
        prop_assert_eq!(&again.codes, &q.codes);
        prop_assert_eq!(&again.points, &q.points);
    }

    #[test]
    fn translation_by_a_lattice_vector_shifts_the_code(
        (basis, latents) in lattice_and_latents(1..=6, 1..=4, 100.0),
        shift in proptest::collection::vec(-50i32..=50, 6),
    ) {
        let lattice = lattice(&basis);
        let dim = basis.len();
        // Near a half-point the shifted latent can legitimately round the other way.
        prop_assume!(latents.iter().zip((0..dim).cycle())
            .all(|(&z, j)| distance_to_half_point(z / basis[j]) > 1e-6));
        let shifted = Array2::from_shape_fn(latents.raw_dim(), |(n, j)| {
            latents[[n, j]] + basis[j] * f64::from(shift[j])
        });
        let q = lattice.quantize(latents.view()).unwrap();
        let qs = lattice.quantize(shifted.view()).unwrap();
        for ((n, j), &code) in q.codes.indexed_iter() {
            prop_assert_eq!(qs.codes[[n, j]], code + shift[j]);
            let expected = q.points[[n, j]] + basis[j] * f64::from(shift[j]);
            prop_assert!((qs.points[[n, j]] - expected).abs() <= 1e-9 * (1.0 + expected.abs()));
        }
    }

    #[test]
    fn quantization_is_odd_in_the_latents((basis, latents) in lattice_and_latents(1..=8, 1..=8, 1000.0)) {
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let negated = lattice.quantize(latents.mapv(|z| -z).view()).unwrap();
        prop_assert_eq!(negated.codes, q.codes.mapv(|v| -v));
        prop_assert_eq!(negated.points, q.points.mapv(|e| -e));
    }

    #[test]
    fn flipping_basis_signs_keeps_points_and_flips_codes(
        (basis, latents) in lattice_and_latents(1..=8, 1..=8, 1000.0),
        flips in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let flipped: Vec<f64> = basis.iter().zip(&flips).map(|(&b, &f)| if f { -b } else { b }).collect();
        let q = lattice(&basis).quantize(latents.view()).unwrap();
        let qf = lattice(&flipped).quantize(latents.view()).unwrap();
        for ((n, j), &code) in q.codes.indexed_iter() {
            let expected = if flips[j] { -code } else { code };
            prop_assert_eq!(qf.codes[[n, j]], expected);
            prop_assert_eq!(qf.points[[n, j]].to_bits(), q.points[[n, j]].to_bits());
        }
        prop_assert_eq!(lattice(&basis).abs(), lattice(&flipped).abs());
    }

    #[test]
    fn decode_of_codes_equals_points((basis, latents) in lattice_and_latents(1..=8, 1..=16, 1e6)) {
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        prop_assert_eq!(lattice.decode(q.codes.view()).unwrap(), q.points);
    }

    #[test]
    fn every_memory_layout_gives_the_same_result((basis, latents) in lattice_and_latents(1..=8, 1..=16, 1000.0)) {
        let lattice = lattice(&basis);
        let expected = lattice.quantize(latents.view()).unwrap();
        // Column-major input and column-major output buffers take the element-wise path.
        let mut fortran = Array2::zeros(latents.raw_dim().f());
        fortran.assign(&latents);
        let mut codes = Array2::zeros(latents.raw_dim().f());
        let mut points = Array2::zeros(latents.raw_dim().f());
        lattice.quantize_into(fortran.view(), codes.view_mut(), points.view_mut()).unwrap();
        prop_assert_eq!(&codes, &expected.codes);
        prop_assert_eq!(&points, &expected.points);
        let mut decoded = Array2::zeros(latents.raw_dim().f());
        lattice.decode_into(codes.view(), decoded.view_mut()).unwrap();
        prop_assert_eq!(decoded, expected.points.clone());
        // Through the trait, as generic callers use it.
        let via_trait = Lattice::quantize(&lattice, latents.view()).unwrap();
        prop_assert_eq!(via_trait, expected);
    }
}

#[test]
fn large_contiguous_batches_report_the_first_bad_row_and_column() {
    // Big enough to be split into several chunks when the `parallel` feature is on.
    let dim = 8;
    let lattice = DiagonalLattice::<f32>::from_slice(&[0.5; 8]).unwrap();
    let mut latents =
        Array2::from_shape_fn((40_000, dim), |(n, j)| ((n * 7 + j) % 100) as f32 - 50.0);
    latents[[31_234, 5]] = f32::NAN;
    latents[[35_000, 1]] = f32::INFINITY;
    let err = lattice.quantize(latents.view()).unwrap_err();
    assert!(
        matches!(
            err,
            lattice_vq_core::Error::NonFiniteLatent {
                row: 31_234,
                col: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn large_contiguous_batches_match_the_element_wise_path() {
    let dim = 64;
    let basis: Vec<f32> = (0..dim).map(|j| 0.1 + j as f32 * 0.37).collect();
    let lattice = DiagonalLattice::<f32>::from_slice(&basis).unwrap();
    let latents = Array2::from_shape_fn((20_000, dim), |(n, j)| {
        ((n * 31 + j * 17) % 997) as f32 * 0.013 - 6.0
    });
    let fast = lattice.quantize(latents.view()).unwrap();
    let mut column_major = Array2::zeros(latents.raw_dim().f());
    column_major.assign(&latents);
    let slow = lattice.quantize(column_major.view()).unwrap();
    assert_eq!(fast, slow);
}

proptest! {
    #[test]
    fn codes_beyond_the_fast_range_are_exact_or_overflow_errors(
        latents in proptest::collection::vec(
            prop_oneof![-3e9f32..3e9, -1e7f32..1e7, -100.0f32..100.0], 1..48),
        scale in 0.25f32..4.0,
    ) {
        let dim = latents.len();
        let lattice = DiagonalLattice::<f32>::from_slice(&vec![scale; dim]).unwrap();
        let z = Array2::from_shape_vec((1, dim), latents.clone()).unwrap();
        let expected: Vec<f32> = latents.iter().map(|&z| (z * (1.0 / scale)).round_ties_even()).collect();
        let first_overflow = expected.iter().position(|&v| !(-2_147_483_648.0..2_147_483_648.0).contains(&v));
        match (lattice.quantize(z.view()), first_overflow) {
            (Ok(q), None) => {
                for (j, &v) in expected.iter().enumerate() {
                    prop_assert_eq!(q.codes[[0, j]], v as i32);
                    prop_assert_eq!(q.points[[0, j]], scale * v);
                }
            }
            (Err(lattice_vq_core::Error::CodeOverflow { row: 0, col, .. }), Some(first)) => {
                prop_assert_eq!(col, first);
            }
            (other, first) => prop_assert!(false, "{other:?} with first overflow {first:?}"),
        }
    }
}

/// Latents that round to code 0 from either side (and signed zeros), mixed with ordinary
/// values, in `[-scale, scale]`.
fn near_zero_or_any(scale: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        -0.49f64..0.49,
        -1e-30f64..1e-30,
        -scale..scale,
    ]
}

/// `decode(quantize(z).codes)` and `quantize(z).points`, bit for bit (issue 11, D14).
fn assert_decode_is_bit_identical<F: lattice_vq_core::LatticeFloat>(
    lattice: &DiagonalLattice<F>,
    latents: &Array2<F>,
    to_bits: fn(F) -> u64,
) -> Result<(), TestCaseError> {
    let q = lattice.quantize(latents.view()).unwrap();
    let decoded = lattice.decode(q.codes.view()).unwrap();
    for ((index, &point), &again) in q.points.indexed_iter().zip(&decoded) {
        prop_assert_eq!(
            to_bits(point),
            to_bits(again),
            "at {:?}: z = {:?}, code {}, point {:?}, decoded {:?}",
            index,
            latents[index],
            q.codes[index],
            point,
            again
        );
    }
    // The element-wise path (column-major buffers) gives the same bits.
    let mut fortran = Array2::zeros(latents.raw_dim().f());
    fortran.assign(latents);
    let mut codes = Array2::zeros(latents.raw_dim().f());
    let mut points = Array2::zeros(latents.raw_dim().f());
    lattice
        .quantize_into(fortran.view(), codes.view_mut(), points.view_mut())
        .unwrap();
    for (&slow, &fast) in points.iter().zip(&q.points) {
        prop_assert_eq!(to_bits(slow), to_bits(fast));
    }
    Ok(())
}

proptest! {
    #[test]
    fn decode_of_codes_is_bit_identical_to_points_f64(
        (basis, latents) in (1usize..=8, 1usize..=16).prop_flat_map(|(dim, rows)| (
            proptest::collection::vec(crate::support::basis_entry(), dim),
            proptest::collection::vec(near_zero_or_any(1e3), dim * rows)
                .prop_map(move |v| Array2::from_shape_vec((rows, dim), v).unwrap()),
        ))
    ) {
        let latents = Array2::from_shape_fn(latents.raw_dim(), |(n, j)| latents[[n, j]] * basis[j].abs());
        assert_decode_is_bit_identical(&lattice(&basis), &latents, f64::to_bits)?;
    }

    #[test]
    fn decode_of_codes_is_bit_identical_to_points_f32(
        (basis, latents) in (1usize..=8, 1usize..=16).prop_flat_map(|(dim, rows)| (
            proptest::collection::vec(crate::support::basis_entry(), dim),
            proptest::collection::vec(near_zero_or_any(1e3), dim * rows)
                .prop_map(move |v| Array2::from_shape_vec((rows, dim), v).unwrap()),
        )),
        // Rows with a code beyond the vectorized path's range are redone element by element.
        large in proptest::option::of(1e7f64..1e9),
    ) {
        let basis: Vec<f32> = basis.iter().map(|&b| b as f32).collect();
        let lattice = DiagonalLattice::<f32>::from_slice(&basis).unwrap();
        let mut latents = Array2::from_shape_fn(latents.raw_dim(), |(n, j)| {
            (latents[[n, j]] * f64::from(basis[j].abs())) as f32
        });
        if let Some(large) = large {
            latents[[0, 0]] = (large * f64::from(basis[0].abs())) as f32;
        }
        assert_decode_is_bit_identical(&lattice, &latents, |x| u64::from(x.to_bits()))?;
    }
}

#[test]
fn a_latent_rounding_to_zero_from_below_decodes_to_the_same_bits() {
    // The case of issue 11 (D14): basis [1.0], latent -0.1 gave point -0.0, decode +0.0.
    for basis in [1.0f64, -1.0, 0.5] {
        let lattice = DiagonalLattice::<f64>::from_slice(&[basis]).unwrap();
        for z in [-0.1, 0.1, -0.0, 0.0, -1e-300] {
            let q = lattice.quantize(ndarray::array![[z]].view()).unwrap();
            let decoded = lattice.decode(q.codes.view()).unwrap();
            assert_eq!(
                q.points[[0, 0]].to_bits(),
                decoded[[0, 0]].to_bits(),
                "basis {basis}, z {z}: point {:?}, decoded {:?}",
                q.points[[0, 0]],
                decoded[[0, 0]]
            );
            assert_eq!(q.points[[0, 0]].to_bits(), 0.0f64.to_bits(), "zero is +0.0");
        }
    }
}
