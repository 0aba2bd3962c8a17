//! The VQ baseline's nearest-codeword search against a brute-force oracle.

use lattice_core::{Error, vq::nearest_codewords};
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
