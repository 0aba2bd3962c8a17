//! The VQ-EMA codebook step: the hand-worked example of the adapters' EMA tests
//! (crates/lattice-vq-testkit/src/suites/ema.rs, crates/lattice-vq-testkit/src/oracle.rs),
//! exactly, and its errors.

use lattice_vq_core::{EmaCodebook, Error, VectorQuantizerEmaConfig};
use ndarray::{Array1, Array2, array};

fn tiny<F: lattice_vq_core::LatticeFloat>() -> EmaCodebook<F> {
    let config = VectorQuantizerEmaConfig::new(2, 1)
        .with_decay(0.5)
        .with_epsilon(1e-3);
    let f = |x: f64| F::from_f64(x).unwrap();
    EmaCodebook::new(
        config,
        array![[f(0.0)], [f(10.0)]],
        array![[f(1.0)], [f(2.0)]],
        array![f(0.0), f(0.0)],
    )
    .unwrap()
}

/// The adapters' tests' formulas, in f64.
fn expected() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (decay, eps, k) = (0.5f64, 1e-3f64, 2.0f64);
    let raw: Vec<f64> = [2.0, 1.0]
        .iter()
        .map(|c| decay * 0.0 + (1.0 - decay) * c)
        .collect();
    let n: f64 = raw.iter().sum();
    let cluster: Vec<f64> = raw.iter().map(|c| (c + eps) / (n + k * eps) * n).collect();
    let ema_w: Vec<f64> = [1.0, 2.0]
        .iter()
        .zip([3.0, 9.0])
        .map(|(w, s)| decay * w + (1.0 - decay) * s)
        .collect();
    let codebook: Vec<f64> = ema_w.iter().zip(&cluster).map(|(w, c)| w / c).collect();
    (cluster, ema_w, codebook)
}

#[test]
fn one_step_matches_the_formula_exactly_in_f64() {
    let mut ema = tiny::<f64>();
    // Rows 1 and 2 go to codeword 0, row 9 to codeword 1.
    ema.step(array![[1.0], [2.0], [9.0]].view(), array![0, 0, 1].view())
        .unwrap();
    let (cluster, ema_w, codebook) = expected();
    assert_eq!(ema.cluster_size().to_vec(), cluster);
    assert_eq!(ema.ema_w().iter().copied().collect::<Vec<_>>(), ema_w);
    assert_eq!(ema.codebook().iter().copied().collect::<Vec<_>>(), codebook);
}

#[test]
fn one_step_in_f32_is_within_the_adapters_tolerance() {
    let mut ema = tiny::<f32>();
    ema.step(
        array![[1.0f32], [2.0], [9.0]].view(),
        array![0, 0, 1].view(),
    )
    .unwrap();
    let (cluster, ema_w, codebook) = expected();
    let check = |got: Vec<f32>, expected: &[f64]| {
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (f64::from(*g) - e).abs() < 1e-6 * e.abs().max(1.0),
                "{got:?} vs {expected:?}"
            );
        }
    };
    check(ema.cluster_size().to_vec(), &cluster);
    check(ema.ema_w().iter().copied().collect(), &ema_w);
    check(ema.codebook().iter().copied().collect(), &codebook);
}

#[test]
fn unused_codewords_decay_and_stay_finite_over_many_steps() {
    let config = VectorQuantizerEmaConfig::new(3, 2);
    let mut ema = EmaCodebook::new(
        config,
        Array2::from_elem((3, 2), 0.5f64),
        Array2::from_elem((3, 2), 0.5),
        Array1::zeros(3),
    )
    .unwrap();
    let rows = array![[1.0, 2.0], [3.0, 4.0]];
    for _ in 0..50 {
        ema.step(rows.view(), array![0, 0].view()).unwrap();
    }
    assert!(ema.codebook().iter().all(|x| x.is_finite()));
    // Codeword 0 converges towards the mean of its rows.
    assert!(
        (ema.codebook()[[0, 0]] - 2.0).abs() < 0.5,
        "{:?}",
        ema.codebook()
    );
    // Laplace smoothing keeps the total: the sizes sum to n.
    let total: f64 = ema.cluster_size().sum();
    assert!((total - (1.0 - 0.99f64.powi(50)) * 2.0).abs() < 1e-9);
}

#[test]
fn bad_steps_are_typed_errors_and_change_nothing() {
    let mut ema = tiny::<f64>();
    let before = ema.clone();
    assert_eq!(
        ema.step(array![[1.0], [2.0]].view(), array![0, 2].view()),
        Err(Error::IndexOutOfRange {
            row: 1,
            index: 2,
            codebook_size: 2
        })
    );
    assert!(matches!(
        ema.step(array![[1.0, 2.0]].view(), array![0].view()),
        Err(Error::ShapeMismatch { what: "rows", .. })
    ));
    assert!(matches!(
        ema.step(array![[1.0]].view(), array![0, 1].view()),
        Err(Error::ShapeMismatch {
            what: "indices",
            ..
        })
    ));
    assert!(matches!(
        ema.step(Array2::zeros((0, 1)).view(), Array1::zeros(0).view()),
        Err(Error::EmptyInput { what: "rows" })
    ));
    assert_eq!(ema, before);
    let config = VectorQuantizerEmaConfig::new(2, 1);
    assert!(matches!(
        EmaCodebook::new(
            config,
            Array2::<f32>::zeros((2, 1)),
            Array2::zeros((3, 1)),
            Array1::zeros(2)
        ),
        Err(Error::ShapeMismatch { what: "ema_w", .. })
    ));
    assert!(matches!(
        EmaCodebook::new(
            config.with_decay(1.0),
            Array2::<f32>::zeros((2, 1)),
            Array2::zeros((2, 1)),
            Array1::zeros(2)
        ),
        Err(Error::InvalidConfig { field: "decay", .. })
    ));
    assert!(
        Error::IndexOutOfRange {
            row: 1,
            index: 2,
            codebook_size: 2
        }
        .to_string()
        .contains("indices must be below the codebook size 2")
    );
}
