//! The VQ baselines' losses: values by hand, gradients against central finite differences
//! with the assignments held fixed.

use lattice_vq_core::vq_loss::{assigned_codewords, vq_ema_loss, vq_gradients, vq_loss};
use lattice_vq_core::{Error, VectorQuantizerConfig, VectorQuantizerEmaConfig, vq};
use ndarray::{Array2, array};
use proptest::prelude::*;

const STEP: f64 = 1e-6;

/// The VQ loss total with the assignments `indices` frozen.
fn total(
    config: &VectorQuantizerConfig,
    codebook: &Array2<f64>,
    z: &Array2<f64>,
    indices: &[usize],
) -> f64 {
    let e = assigned_codewords(codebook.view(), ndarray::ArrayView1::from(indices)).unwrap();
    vq_loss(config, z.view(), e.view()).unwrap().total
}

fn central(x: &Array2<f64>, index: usize, f: impl Fn(&Array2<f64>) -> f64) -> f64 {
    let h = STEP * (1.0 + x.iter().nth(index).unwrap().abs());
    let (mut plus, mut minus) = (x.clone(), x.clone());
    *plus.iter_mut().nth(index).unwrap() += h;
    *minus.iter_mut().nth(index).unwrap() -= h;
    (f(&plus) - f(&minus)) / (2.0 * h)
}

fn batch() -> impl Strategy<Value = (Array2<f64>, Array2<f64>, f64)> {
    (1usize..=4, 2usize..=5, 1usize..=6, 0.0f64..2.0).prop_flat_map(|(d, k, n, beta)| {
        (
            proptest::collection::vec(-3.0f64..3.0, k * d)
                .prop_map(move |v| Array2::from_shape_vec((k, d), v).unwrap()),
            proptest::collection::vec(-3.0f64..3.0, n * d)
                .prop_map(move |v| Array2::from_shape_vec((n, d), v).unwrap()),
            Just(beta),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn vq_gradients_match_finite_differences((codebook, z, beta) in batch()) {
        let config = VectorQuantizerConfig::new(codebook.nrows(), codebook.ncols()).with_commitment_cost(beta);
        let indices = vq::nearest_codewords(codebook.view(), z.view()).unwrap().to_vec();
        let grads = vq_gradients(&config, codebook.view(), z.view(), ndarray::ArrayView1::from(&indices[..])).unwrap();
        // Embedding reaches the codebook only; commitment the latents only (stop-gradients):
        // so the finite differences of each part are taken with the other side frozen.
        for index in 0..codebook.len() {
            let numeric = central(&codebook, index, |c| {
                let e = assigned_codewords(c.view(), ndarray::ArrayView1::from(&indices[..])).unwrap();
                vq_loss(&config, z.view(), e.view()).unwrap().embedding
            });
            let hand = *grads.codebook.iter().nth(index).unwrap();
            prop_assert!(approx::relative_eq!(hand, numeric, epsilon = 1e-6, max_relative = 1e-6), "{} vs {}", hand, numeric);
        }
        let e = assigned_codewords(codebook.view(), ndarray::ArrayView1::from(&indices[..])).unwrap();
        for index in 0..z.len() {
            let numeric = central(&z, index, |z| {
                beta * lattice_vq_core::loss::commitment_loss(z.view(), e.view()).unwrap()
            });
            let hand = *grads.latents.iter().nth(index).unwrap();
            prop_assert!(approx::relative_eq!(hand, numeric, epsilon = 1e-6, max_relative = 1e-6), "{} vs {}", hand, numeric);
        }
        // The total is embedding + beta * commitment.
        let parts = vq_loss(&config, z.view(), e.view()).unwrap();
        prop_assert!((parts.total - (parts.embedding + beta * parts.commitment)).abs() < 1e-12);
        prop_assert!((total(&config, &codebook, &z, &indices) - parts.total).abs() < 1e-12);
    }
}

#[test]
fn values_are_means_over_all_elements() {
    let config = VectorQuantizerConfig::new(2, 2);
    let z = array![[1.0f32, 0.0], [0.0, 3.0]];
    let e = array![[0.0f32, 0.0], [0.0, 1.0]];
    let loss = vq_loss(&config, z.view(), e.view()).unwrap();
    assert_eq!(loss.embedding, (1.0 + 4.0) / 4.0);
    assert_eq!(loss.commitment, loss.embedding);
    assert_eq!(loss.total, 1.25 + 0.25 * 1.25);
    let ema = vq_ema_loss(&VectorQuantizerEmaConfig::new(2, 2), z.view(), e.view()).unwrap();
    assert_eq!(
        (ema.embedding, ema.commitment, ema.total),
        (0.0, 1.25, 0.25 * 1.25)
    );
}

#[test]
fn unused_codewords_get_no_gradient_and_bad_indices_are_errors() {
    let config = VectorQuantizerConfig::new(3, 1);
    let codebook = array![[0.0f64], [5.0], [9.0]];
    let grads = vq_gradients(
        &config,
        codebook.view(),
        array![[1.0], [2.0]].view(),
        array![0, 0].view(),
    )
    .unwrap();
    assert_eq!(grads.codebook.row(1).to_vec(), vec![0.0]);
    assert_eq!(grads.codebook.row(2).to_vec(), vec![0.0]);
    assert_eq!(
        vq_gradients(
            &config,
            codebook.view(),
            array![[1.0]].view(),
            array![3].view()
        ),
        Err(Error::IndexOutOfRange {
            row: 0,
            index: 3,
            codebook_size: 3
        })
    );
    assert!(matches!(
        vq_gradients(
            &config,
            codebook.view(),
            array![[1.0, 2.0]].view(),
            array![0].view()
        ),
        Err(Error::ShapeMismatch {
            what: "latents",
            ..
        })
    ));
    assert!(matches!(
        assigned_codewords(codebook.view(), ndarray::Array1::<usize>::zeros(0).view()),
        Err(Error::EmptyInput { what: "indices" })
    ));
}
