//! The bounded lattice against brute force over all of its codewords (K <= 1e5): nearest
//! points with odd and even levels, offsets and exact ties; token indices that are a
//! bijection onto `0..K`; every code reachable; overload; typed errors.

use crate::support::squared_distance;
use lattice_vq_core::{BoundedLattice, Error, Lattice};
use ndarray::{Array1, Array2, ArrayView1};
use proptest::prelude::*;

/// Every codeword of a bounded lattice, row `i` the one of token `i`.
fn codebook(lattice: &BoundedLattice<f64>) -> (Array2<i32>, Array2<f64>) {
    let size = lattice.codebook_size().unwrap() as u64;
    let codes = lattice
        .indices_to_codes(Array1::from_iter(0..size).view())
        .unwrap();
    let points = lattice.decode(codes.view()).unwrap();
    (codes, points)
}

/// The brute-force nearest codeword of `z`: smallest squared distance, ties broken as the
/// lattice's rule says (per dimension, the even digit), checked as a property of the set of
/// minimisers.
fn brute_force(points: &Array2<f64>, z: ArrayView1<f64>) -> (f64, Vec<usize>) {
    let z = z.to_vec();
    let distances: Vec<f64> = points
        .outer_iter()
        .map(|p| squared_distance(&p.to_vec(), &z))
        .collect();
    let best = distances.iter().copied().fold(f64::INFINITY, f64::min);
    let winners = (0..distances.len())
        .filter(|&i| distances[i] == best)
        .collect();
    (best, winners)
}

/// Level counts with `K <= 1e5`, odd and even, as a strategy.
fn levels(max_dim: usize) -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(2u32..=12, 1..=max_dim).prop_filter("K <= 1e5", |l| {
        l.iter().map(|&x| u64::from(x)).product::<u64>() <= 100_000
    })
}

/// A power of two of either sign: with these steps, dyadic offsets and dyadic latents every
/// operation of quantization is exact in f64, so ties are exact too.
fn dyadic_step() -> impl Strategy<Value = f64> {
    (-3i32..=3, any::<bool>()).prop_map(|(e, negative)| {
        let m = 2f64.powi(e);
        if negative { -m } else { m }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Dyadic grids: the nearest point is found exactly, ties included (the latents are
    /// multiples of 1/64 near the box, so many lie exactly half-way between two levels).
    #[test]
    fn bounded_quantization_equals_brute_force_with_exact_ties(
        (levels, steps, offsets, latents) in levels(4).prop_flat_map(|levels| {
            let dim = levels.len();
            (
                Just(levels),
                proptest::collection::vec(dyadic_step(), dim),
                proptest::collection::vec((-32i32..=32).prop_map(|c| f64::from(c) / 16.0), dim),
                proptest::collection::vec((-1200i32..=1200).prop_map(|z| f64::from(z) / 64.0), dim * 12),
            )
        }),
        learned in any::<bool>(),
    ) {
        let dim = levels.len();
        let lattice = if learned {
            BoundedLattice::with_offset(&levels, &steps, &offsets).unwrap()
        } else {
            BoundedLattice::new(&levels, &steps).unwrap()
        };
        let latents = Array2::from_shape_vec((12, dim), latents).unwrap();
        let (book_codes, book_points) = codebook(&lattice);
        let q = lattice.quantize(latents.view()).unwrap();
        let indices = lattice.codes_to_indices(q.codes.view()).unwrap();
        for (n, z) in latents.outer_iter().enumerate() {
            let (best, winners) = brute_force(&book_points, z);
            let ours = indices[n] as usize;
            prop_assert_eq!(book_codes.row(ours), q.codes.row(n));
            prop_assert!(winners.contains(&ours), "row {}: {:?} is not among {:?}", n, ours, winners);
            prop_assert_eq!(squared_distance(&q.points.row(n).to_vec(), &z.to_vec()), best);
            // Ties: among the minimisers, the one whose tied digits are even.
            for &other in &winners {
                for col in 0..dim {
                    let (a, b) = (q.codes[[n, col]], book_codes[[other, col]]);
                    prop_assert!(a == b || a % 2 == 0, "row {} col {}: tie broken to odd {}", n, col, a);
                }
            }
        }
    }

    /// Any steps, offsets and latents: the point found is as close as the brute-force
    /// minimum up to rounding, and the same codeword wherever the minimum is clear.
    #[test]
    fn bounded_quantization_equals_brute_force(
        (levels, steps, offsets, latents) in levels(3).prop_flat_map(|levels| {
            let dim = levels.len();
            (
                Just(levels),
                proptest::collection::vec(crate::support::basis_entry(), dim),
                proptest::collection::vec(-30.0f64..30.0, dim),
                proptest::collection::vec(-150.0f64..150.0, dim * 16),
            )
        }),
    ) {
        let dim = levels.len();
        let lattice = BoundedLattice::with_offset(&levels, &steps, &offsets).unwrap();
        let latents = Array2::from_shape_vec((16, dim), latents).unwrap();
        let (_, book_points) = codebook(&lattice);
        let q = lattice.quantize(latents.view()).unwrap();
        for (n, z) in latents.outer_iter().enumerate() {
            let (best, winners) = brute_force(&book_points, z);
            let ours = squared_distance(&q.points.row(n).to_vec(), &z.to_vec());
            prop_assert!(ours <= best + 1e-9 * (1.0 + best), "row {}: {} vs {}", n, ours, best);
            let clear = book_points
                .outer_iter()
                .map(|p| squared_distance(&p.to_vec(), &z.to_vec()))
                .filter(|&d| d > best)
                .fold(f64::INFINITY, f64::min)
                > best + 1e-6 * (1.0 + best);
            if clear && winners.len() == 1 {
                prop_assert_eq!(book_points.row(winners[0]), q.points.row(n));
            }
        }
    }

    /// Token indices: a bijection onto 0..K in counting order, every code reachable by
    /// quantizing its own point, round trips through codes and indices.
    #[test]
    fn every_code_is_reachable_and_indices_are_a_bijection(
        (levels, steps) in levels(4).prop_flat_map(|levels| {
            let dim = levels.len();
            (Just(levels), proptest::collection::vec(crate::support::basis_entry(), dim))
        }),
    ) {
        let lattice = BoundedLattice::new(&levels, &steps).unwrap();
        let size = lattice.codebook_size().unwrap() as usize;
        let (codes, points) = codebook(&lattice);
        let q = lattice.quantize(points.view()).unwrap();
        prop_assert_eq!(&q.codes, &codes);
        let indices = lattice.codes_to_indices(codes.view()).unwrap();
        prop_assert_eq!(indices.to_vec(), (0..size as u64).collect::<Vec<_>>());
        let mut distinct: Vec<Vec<i32>> = codes.outer_iter().map(|c| c.to_vec()).collect();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), size);
        prop_assert_eq!(lattice.overloaded(points.view()).unwrap(), 0);
        // The fused pass gives the same codes, points and indices.
        let mut fused = (Array2::zeros(codes.raw_dim()), Array2::zeros(points.raw_dim()), Array1::zeros(size));
        let overloaded = lattice
            .quantize_indices_into(points.view(), fused.0.view_mut(), fused.1.view_mut(), fused.2.view_mut())
            .unwrap();
        prop_assert_eq!(overloaded, 0);
        prop_assert_eq!((&fused.0, &fused.1, &fused.2), (&codes, &points, &indices));
    }

    /// Overload: a scalar is counted exactly when it lies more than half a step beyond the
    /// outermost point of its dimension.
    #[test]
    fn overload_counts_the_scalars_outside_the_box(
        (levels, steps, latents) in levels(4).prop_flat_map(|levels| {
            let dim = levels.len();
            (
                Just(levels),
                proptest::collection::vec(crate::support::basis_entry(), dim),
                proptest::collection::vec(-200.0f64..200.0, dim * 10),
            )
        }),
    ) {
        let dim = levels.len();
        let lattice = BoundedLattice::new(&levels, &steps).unwrap();
        let latents = Array2::from_shape_vec((10, dim), latents).unwrap();
        let naive = latents
            .outer_iter()
            .flat_map(|z| {
                z.iter()
                    .zip(&levels)
                    .zip(&steps)
                    .map(|((&z, &l), &b)| u64::from((z / b.abs()).abs() > f64::from(l) / 2.0))
                    .collect::<Vec<_>>()
            })
            .sum::<u64>();
        prop_assert_eq!(lattice.overloaded(latents.view()).unwrap(), naive);
    }
}

#[test]
fn odd_and_even_boxes_are_centred_on_the_offset() {
    let lattice = BoundedLattice::<f64>::with_offset(&[3, 4], &[2.0, 1.0], &[1.0, -1.0]).unwrap();
    let all = lattice
        .indices_to_codes(Array1::from_iter(0..12).view())
        .unwrap();
    let points = lattice.decode(all.view()).unwrap();
    let mut first: Vec<f64> = points.column(0).to_vec();
    let mut second: Vec<f64> = points.column(1).to_vec();
    first.sort_by(f64::total_cmp);
    first.dedup();
    second.sort_by(f64::total_cmp);
    second.dedup();
    assert_eq!(first, vec![-1.0, 1.0, 3.0]);
    assert_eq!(second, vec![-2.5, -1.5, -0.5, 0.5]);
}

#[test]
fn bad_levels_steps_offsets_and_codes_are_typed_errors() {
    assert_eq!(
        BoundedLattice::<f32>::new(&[], &[]).unwrap_err(),
        Error::ZeroDim
    );
    assert!(matches!(
        BoundedLattice::<f32>::new(&[1, 4], &[1.0, 1.0]),
        Err(Error::InvalidConfig {
            field: "levels",
            ..
        })
    ));
    assert!(matches!(
        BoundedLattice::<f32>::new(&[(1 << 24) + 2], &[1.0]),
        Err(Error::InvalidConfig {
            field: "levels",
            ..
        })
    ));
    assert!(BoundedLattice::<f64>::new(&[(1 << 24) + 2], &[1.0]).is_ok());
    assert!(matches!(
        BoundedLattice::<f32>::new(&[3, 4], &[1.0]),
        Err(Error::ShapeMismatch { what: "step", .. })
    ));
    assert!(matches!(
        BoundedLattice::<f32>::new(&[3], &[0.0]),
        Err(Error::BasisOutOfRange { index: 0, .. })
    ));
    assert!(matches!(
        BoundedLattice::<f32>::with_offset(&[3, 3], &[1.0, 1.0], &[0.0, f32::NAN]),
        Err(Error::OffsetOutOfRange { index: 1, .. })
    ));
    assert!(matches!(
        BoundedLattice::<f32>::new(&[u32::MAX / 2; 5], &[1.0; 5]),
        Err(Error::CodebookOverflow {
            index_type: "u128",
            ..
        })
    ));
    let lattice = BoundedLattice::<f32>::new(&[3, 4], &[1.0, 1.0]).unwrap();
    assert_eq!(
        lattice
            .decode(ndarray::array![[0, 3], [3, 0]].view())
            .unwrap_err(),
        Error::CodeOutOfRange {
            row: 1,
            col: 0,
            code: 3,
            levels: 3
        }
    );
    assert!(matches!(
        lattice.indices_to_codes(ndarray::array![11u64, 12].view()),
        Err(Error::TokenOutOfRange {
            row: 1,
            index: 12,
            codebook_size: 12
        })
    ));
    assert!(matches!(
        lattice.quantize(ndarray::array![[0.0f32, f32::INFINITY]].view()),
        Err(Error::NonFiniteLatent { row: 0, col: 1, .. })
    ));
    let err = lattice.with_parameters(&[1.0]).unwrap_err();
    assert!(matches!(
        err,
        Error::ShapeMismatch {
            what: "parameters",
            ..
        }
    ));
    // A codebook of 2^64 codes still has u64 indices; one of 2^66 has a size but none.
    let big = BoundedLattice::<f64>::new(&[1 << 16; 4], &[1.0; 4]).unwrap();
    let top = big
        .codes_to_indices(ndarray::array![[65535, 65535, 65535, 65535]].view())
        .unwrap();
    assert_eq!(top[0], u64::MAX);
    let bigger =
        BoundedLattice::<f64>::new(&[1 << 16, 1 << 16, 1 << 16, 1 << 18], &[1.0; 4]).unwrap();
    let latents = Array2::zeros((1, 4));
    let mut out = (
        Array2::zeros((1, 4)),
        Array2::zeros((1, 4)),
        Array1::zeros(1),
    );
    assert!(matches!(
        bigger.quantize_indices_into(
            latents.view(),
            out.0.view_mut(),
            out.1.view_mut(),
            out.2.view_mut()
        ),
        Err(Error::CodebookOverflow {
            index_type: "u64",
            ..
        })
    ));
}

#[test]
fn ties_round_to_the_even_digit() {
    // Odd levels (points -2..=2): 0.5 lies between digits 2 and 3, -0.5 between 1 and 2; both
    // go to 2. Even levels (points -3, -1, 1, 3): -2 between digits 0 and 1 goes to 0, 2
    // between 2 and 3 to 2.
    let lattice = BoundedLattice::<f32>::new(&[5, 4], &[1.0, 2.0]).unwrap();
    let q = lattice
        .quantize(ndarray::array![[0.5f32, -2.0], [-0.5, 2.0]].view())
        .unwrap();
    assert_eq!(q.codes, ndarray::array![[2, 0], [2, 2]]);
}
