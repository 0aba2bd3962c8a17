//! The VQ baseline's nearest-codeword search against a brute-force oracle.

use lattice_vq_core::{Error, vq::nearest_codewords};
use ndarray::{Array2, array};
use proptest::prelude::*;

proptest! {
    #[test]
    fn nearest_codeword_is_as_close_as_every_codeword(
        (codebook, latents) in (1usize..=6, 1usize..=40, 1usize..=300).prop_flat_map(|(dim, k, n)| (
            proptest::collection::vec(-1.0f64..1.0, k * dim).prop_map(move |v| Array2::from_shape_vec((k, dim), v).unwrap()),
            proptest::collection::vec(-1.5f64..1.5, n * dim).prop_map(move |v| Array2::from_shape_vec((n, dim), v).unwrap()),
        ))
    ) {
        let indices = nearest_codewords(codebook.view(), latents.view()).unwrap();
        for (z, &index) in latents.outer_iter().zip(&indices) {
            let distance = |k: usize| -> f64 {
                z.iter().zip(codebook.row(k)).map(|(a, b)| (a - b) * (a - b)).sum()
            };
            let best = (0..codebook.nrows()).map(distance).fold(f64::INFINITY, f64::min);
            prop_assert!(distance(index) <= best + 1e-12);
        }
    }
}

#[test]
fn exact_ties_go_to_the_lowest_index() {
    let codebook = array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
    let latents = array![[0.5f32, 0.5], [0.0, 2.0], [3.0, 0.0]];
    let indices = nearest_codewords(codebook.view(), latents.view()).unwrap();
    assert_eq!(indices.to_vec(), vec![0, 1, 0]);
}

#[test]
fn bad_inputs_are_errors() {
    let codebook = Array2::<f64>::zeros((4, 2));
    assert!(matches!(
        nearest_codewords(codebook.view(), Array2::zeros((3, 3)).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        nearest_codewords(codebook.view(), Array2::zeros((0, 2)).view()),
        Err(Error::EmptyInput { .. })
    ));
    assert!(matches!(
        nearest_codewords(
            Array2::<f64>::zeros((0, 2)).view(),
            Array2::zeros((1, 2)).view()
        ),
        Err(Error::EmptyInput { .. })
    ));
    let mut latents = Array2::<f64>::zeros((300, 2));
    latents[[299, 1]] = f64::NAN;
    assert!(matches!(
        nearest_codewords(codebook.view(), latents.view()),
        Err(Error::NonFiniteLatent {
            row: 299,
            col: 1,
            ..
        })
    ));
}

#[test]
fn large_finite_latents_find_the_codeword_they_equal() {
    // Issue 11 (D7): |z|^2 overflowed (1e40 > f32::MAX), every distance was NaN and the
    // search fell back to codeword 0 even for a latent equal to another codeword.
    let codebook = array![[0.0f32, 0.0], [1e20, -1e20], [-1e20, 1e20], [3e38, 3e38]];
    let latents = array![[1e20f32, -1e20], [-1e20, 1e20], [3e38, 3e38], [1.0, 0.0]];
    let indices = nearest_codewords(codebook.view(), latents.view()).unwrap();
    assert_eq!(indices.to_vec(), vec![1, 2, 3, 0]);
    // In f64 the squares overflow from about 1e154 on.
    let codebook = array![
        [0.0f64, 0.0],
        [1e160, -1e160],
        [-1e300, 1e300],
        [1e300, 1e300]
    ];
    let latents = array![
        [1e160f64, -1e160],
        [-1e300, 1e300],
        [9e299, 1e300],
        [1e-300, 0.0]
    ];
    let indices = nearest_codewords(codebook.view(), latents.view()).unwrap();
    assert_eq!(indices.to_vec(), vec![1, 2, 3, 0]);
}

/// Values `n * 2^-10` with integer `|n| <= 2^23`: exact in `f32`, and every squared
/// distance between two of them (at most 64 dimensions) is exact in `f64` and in `i128`.
fn grid_value(n: i64) -> f32 {
    n as f32 / 1024.0
}

/// The exact nearest codeword (lowest index among exact ties), in integer arithmetic.
fn exact_nearest(codebook: &[Vec<i64>], z: &[i64]) -> usize {
    let distance = |e: &Vec<i64>| -> i128 {
        z.iter()
            .zip(e)
            .map(|(&a, &b)| i128::from(a - b) * i128::from(a - b))
            .sum()
    };
    let mut best = (0, distance(&codebook[0]));
    for (k, e) in codebook.iter().enumerate().skip(1) {
        let d = distance(e);
        if d < best.1 {
            best = (k, d);
        }
    }
    best.0
}

proptest! {
    #[test]
    fn near_ties_far_from_the_origin_match_exact_arithmetic(
        (dim, centre, offsets, rows) in (1usize..=64, 1usize..=24, 1usize..=12).prop_flat_map(|(dim, k, n)| (
            Just(dim),
            // A common far-away centre: |z|^2 is ~1e9, and f32's |z|^2 + |e|^2 - 2 z.e
            // loses the small differences that decide the nearest codeword.
            proptest::collection::vec(-(1i64 << 23) + 8..(1i64 << 23) - 8, dim),
            // Codewords and latents differ from it by a few grid steps: many exact ties
            // and duplicated codewords.
            proptest::collection::vec(proptest::collection::vec(-3i64..=3, dim), k),
            proptest::collection::vec(proptest::collection::vec(-3i64..=3, dim), n),
        ))
    ) {
        let shift = |d: &Vec<i64>| -> Vec<i64> { centre.iter().zip(d).map(|(c, o)| c + o).collect() };
        let codebook_int: Vec<Vec<i64>> = offsets.iter().map(shift).collect();
        let latents_int: Vec<Vec<i64>> = rows.iter().map(shift).collect();
        let to_array = |rows: &[Vec<i64>]| {
            Array2::from_shape_fn((rows.len(), dim), |(r, c)| grid_value(rows[r][c]))
        };
        let indices = nearest_codewords(to_array(&codebook_int).view(), to_array(&latents_int).view()).unwrap();
        for (row, z) in latents_int.iter().enumerate() {
            prop_assert_eq!(indices[row], exact_nearest(&codebook_int, z), "row {}", row);
        }
        // The same in f64 (here the fast path's own arithmetic is exact far more often).
        let to_array64 = |rows: &[Vec<i64>]| to_array(rows).mapv(f64::from);
        let indices = nearest_codewords(to_array64(&codebook_int).view(), to_array64(&latents_int).view()).unwrap();
        for (row, z) in latents_int.iter().enumerate() {
            prop_assert_eq!(indices[row], exact_nearest(&codebook_int, z), "f64 row {}", row);
        }
    }
}

#[test]
fn slice_forms_agree_with_the_array_forms_and_check_their_shapes() {
    use lattice_vq_core::vq::{check_codebook_in_slice, nearest_codewords_in_slices};
    // The squares of the last latent overflow f64: the rule scales it.
    let codebook = [0.0f64, 0.0, 1.0, 1.0, 1e200, 1e200];
    let latents = [0.9, 0.8, 0.1, 0.0, 1e200, 1e200];
    assert_eq!(
        nearest_codewords_in_slices(&codebook, &latents, 2).unwrap(),
        vec![1, 0, 2]
    );
    for dim in [0, 4] {
        assert!(matches!(
            nearest_codewords_in_slices(&codebook, &latents, dim),
            Err(Error::ShapeMismatch { .. })
        ));
    }
    assert!(matches!(
        check_codebook_in_slice(&[1.0f32, f32::NAN], 1),
        Err(Error::NonFiniteCodeword {
            index: 1,
            col: 0,
            ..
        })
    ));
}
