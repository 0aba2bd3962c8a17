//! Every kind of bad input returns its own error variant, never a panic or a wrapped value.

use lattice_vq_core::{
    BasisInit, DiagonalLattice, Error, Lattice, LatticeQuantizerConfig, VectorQuantizerConfig,
    VectorQuantizerEmaConfig, init_range, loss, sample_basis,
};
use ndarray::{Array1, Array2, array};
use rand::SeedableRng;

fn unit_lattice(dim: usize) -> DiagonalLattice<f64> {
    DiagonalLattice::from_slice(&vec![1.0; dim]).unwrap()
}

#[test]
fn non_finite_latents_are_named_by_row_and_column() {
    let lattice = unit_lattice(3);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut z = Array2::zeros((4, 3));
        z[[2, 1]] = bad;
        match lattice.quantize(z.view()) {
            Err(Error::NonFiniteLatent {
                row: 2,
                col: 1,
                value,
            }) => {
                assert!(value.is_nan() == bad.is_nan());
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let z32 = array![[0.0f32, f32::NAN]];
    let err = DiagonalLattice::<f32>::from_slice(&[1.0, 1.0])
        .unwrap()
        .quantize(z32.view());
    assert!(matches!(
        err,
        Err(Error::NonFiniteLatent { row: 0, col: 1, .. })
    ));
}

#[test]
fn invalid_basis_entries_are_rejected() {
    type Expectation = fn(&Error) -> bool;
    let cases: Vec<(Vec<f64>, Expectation)> = vec![
        (vec![1.0, 0.0], |e| {
            matches!(e, Error::BasisOutOfRange { index: 1, .. })
        }),
        (vec![-0.0], |e| {
            matches!(e, Error::BasisOutOfRange { index: 0, .. })
        }),
        (vec![1.0, 1e-310], |e| {
            matches!(e, Error::BasisOutOfRange { index: 1, .. })
        }),
        (vec![1e-160], |e| matches!(e, Error::BasisOutOfRange { .. })),
        (vec![f64::NAN], |e| {
            matches!(e, Error::NonFiniteBasis { index: 0, .. })
        }),
        (vec![1.0, 2.0, f64::NEG_INFINITY], |e| {
            matches!(e, Error::NonFiniteBasis { index: 2, .. })
        }),
        (vec![], |e| matches!(e, Error::ZeroDim)),
    ];
    for (basis, is_expected) in cases {
        let err = DiagonalLattice::from_slice(&basis).unwrap_err();
        assert!(is_expected(&err), "{basis:?}: {err:?}");
    }
    // f32 denormals and the documented minimum itself.
    let denormal = f32::MIN_POSITIVE / 4.0;
    assert!(matches!(
        DiagonalLattice::<f32>::from_slice(&[denormal]),
        Err(Error::BasisOutOfRange { .. })
    ));
    assert!(DiagonalLattice::<f32>::from_slice(&[1.0842022e-19]).is_ok());
    assert!(DiagonalLattice::<f32>::from_slice(&[1.0842021e-19]).is_err());
    // The smallest entry of the official dense checkpoints is accepted.
    assert!(DiagonalLattice::<f32>::from_slice(&[4.456_556_7e-7]).is_ok());
}

#[test]
fn set_basis_rejects_bad_bases_and_keeps_the_old_one() {
    let mut lattice = unit_lattice(2);
    assert!(matches!(
        lattice.set_basis(array![1.0].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        lattice.set_basis(array![1.0, 0.0].view()),
        Err(Error::BasisOutOfRange { .. })
    ));
    assert_eq!(lattice, unit_lattice(2));
}

#[test]
fn codes_outside_i32_overflow_with_an_error_at_the_exact_boundary() {
    let lattice = unit_lattice(1);
    let ok = [
        2_147_483_647.0,
        2_147_483_647.4,
        -2_147_483_648.0,
        -2_147_483_648.5,
    ];
    let expected = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];
    for (z, code) in ok.iter().zip(expected) {
        let q = lattice.quantize(array![[*z]].view()).unwrap();
        assert_eq!(q.codes[[0, 0]], code, "z = {z}");
    }
    // 2147483647.5 rounds to the even 2^31, which does not fit.
    for z in [2_147_483_647.5, 2_147_483_648.0, -2_147_483_649.0, 1e300] {
        match lattice.quantize(array![[0.0, z]].t()) {
            Err(Error::CodeOverflow {
                row: 1,
                col: 0,
                value,
            }) => assert_eq!(value, z),
            other => panic!("z = {z}: {other:?}"),
        }
    }
    // A tiny basis turns ordinary latents into huge codes (f32, contiguous path).
    let tiny = DiagonalLattice::<f32>::from_slice(&[1.0, 1e-6]).unwrap();
    let err = tiny
        .quantize(array![[1.0f32, 1.0], [1.0, 1e4]].view())
        .unwrap_err();
    assert!(
        matches!(err, Error::CodeOverflow { row: 1, col: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn huge_bases_are_rejected_so_points_of_every_code_stay_finite() {
    // 1 / 2e38 would be denormal in f32 and 2e38 * 2 overflows.
    let err = DiagonalLattice::<f32>::from_slice(&[1.0, 2e38]).unwrap_err();
    assert!(
        matches!(err, Error::BasisOutOfRange { index: 1, .. }),
        "{err:?}"
    );
    assert!(DiagonalLattice::<f32>::from_slice(&[9.223_372e18]).is_ok());
    assert!(DiagonalLattice::<f32>::from_slice(&[9.223_373e18]).is_err());
    let largest = DiagonalLattice::<f32>::from_slice(&[-9.223_372e18]).unwrap();
    let points = largest.decode(array![[i32::MIN, i32::MAX]].t()).unwrap();
    assert!(points.iter().all(|p| p.is_finite()));
}

#[test]
fn mismatched_shapes_and_empty_inputs_are_errors() {
    let lattice = unit_lattice(4);
    let wrong_dim = Array2::<f64>::zeros((3, 5));
    assert!(matches!(
        lattice.quantize(wrong_dim.view()),
        Err(Error::ShapeMismatch {
            what: "latents",
            ..
        })
    ));
    let empty = Array2::<f64>::zeros((0, 4));
    assert!(matches!(
        lattice.quantize(empty.view()),
        Err(Error::EmptyInput { what: "latents" })
    ));
    let z = Array2::<f64>::zeros((3, 4));
    let mut codes = Array2::<i32>::zeros((2, 4));
    let mut points = Array2::<f64>::zeros((3, 4));
    let err = lattice
        .quantize_into(z.view(), codes.view_mut(), points.view_mut())
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { what: "codes", .. }));
    let mut codes = Array2::<i32>::zeros((3, 4));
    let mut short_points = Array2::<f64>::zeros((3, 3));
    let err = lattice
        .quantize_into(z.view(), codes.view_mut(), short_points.view_mut())
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { what: "points", .. }));
    assert!(matches!(
        lattice.decode(Array2::zeros((2, 3)).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        lattice.decode(Array2::zeros((0, 4)).view()),
        Err(Error::EmptyInput { .. })
    ));

    let q = lattice.quantize(z.view()).unwrap();
    assert!(matches!(
        loss::embedding_loss(z.view(), wrong_dim.view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        loss::embedding_loss(empty.view(), empty.view()),
        Err(Error::EmptyInput { .. })
    ));
    assert!(matches!(
        lattice.embedding_loss_gradient(wrong_dim.view(), q.codes.view(), q.points.view()),
        Err(Error::ShapeMismatch { .. })
    ));
    let config = LatticeQuantizerConfig::new(512, 4);
    let err = loss::encoder_gradient(
        &config,
        z.view(),
        q.points.view(),
        Array2::zeros((3, 3)).view(),
    );
    assert!(matches!(
        err,
        Err(Error::ShapeMismatch {
            what: "upstream gradient",
            ..
        })
    ));
}

#[test]
fn invalid_initialisation_and_configs_are_errors() {
    assert!(matches!(
        init_range(1, 64),
        Err(Error::CodebookTooSmall { codebook_size: 1 })
    ));
    assert!(matches!(
        init_range(0, 64),
        Err(Error::CodebookTooSmall { .. })
    ));
    assert!(matches!(init_range(512, 0), Err(Error::ZeroDim)));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    assert!(matches!(
        sample_basis::<f32, _>(0, 1.0, &mut rng),
        Err(Error::ZeroDim)
    ));
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e39, 1e30] {
        assert!(
            matches!(
                sample_basis::<f32, _>(4, bad, &mut rng),
                Err(Error::InvalidConfig { .. })
            ),
            "{bad}"
        );
    }
    let bad_configs = [
        LatticeQuantizerConfig::new(1, 64),
        LatticeQuantizerConfig::new(512, 0),
        LatticeQuantizerConfig::new(512, 64).with_commitment_cost(-0.1),
        LatticeQuantizerConfig::new(512, 64).with_commitment_cost(f64::NAN),
        LatticeQuantizerConfig::new(512, 64).with_sparsity_cost(f64::INFINITY),
        LatticeQuantizerConfig::new(512, 64).with_init(BasisInit::Symmetric(0.0)),
        LatticeQuantizerConfig::new(512, 64).with_init(BasisInit::Symmetric(f64::NAN)),
    ];
    for config in bad_configs {
        assert!(config.validate().is_err(), "{config:?}");
        assert!(
            config.init_lattice::<f32, _>(&mut rng).is_err(),
            "{config:?}"
        );
    }
    assert!(VectorQuantizerConfig::new(1, 64).validate().is_err());
    assert!(
        VectorQuantizerConfig::new(512, 64)
            .with_commitment_cost(-1.0)
            .validate()
            .is_err()
    );
    for config in [
        VectorQuantizerEmaConfig::new(512, 64).with_decay(1.0),
        VectorQuantizerEmaConfig::new(512, 64).with_decay(-0.1),
        VectorQuantizerEmaConfig::new(512, 64).with_epsilon(0.0),
        VectorQuantizerEmaConfig::new(512, 0),
    ] {
        assert!(config.validate().is_err(), "{config:?}");
    }
}

#[test]
fn error_messages_are_lowercase_and_name_the_invariant() {
    let lattice = unit_lattice(1);
    let errors = [
        DiagonalLattice::<f64>::from_slice(&[0.0]).unwrap_err(),
        DiagonalLattice::<f64>::from_slice(&[f64::NAN]).unwrap_err(),
        lattice.quantize(array![[f64::NAN]].view()).unwrap_err(),
        lattice.quantize(array![[1e12]].view()).unwrap_err(),
        lattice.quantize(Array2::zeros((0, 1)).view()).unwrap_err(),
        init_range(1, 1).unwrap_err(),
        DiagonalLattice::new(Array1::<f64>::zeros(0)).unwrap_err(),
        lattice.codes_to_indices(array![[0]].view()).unwrap_err(),
        Error::IndexOutOfRange {
            row: 0,
            index: 9,
            codebook_size: 4,
        },
        lattice_vq_core::VqVaeConfig::fashion_mnist()
            .check_image_shape(&[1, 1, 27, 27])
            .unwrap_err(),
    ];
    let invariants = [
        "<= |b| <=",
        "must be finite",
        "must be finite",
        "must fit in i32",
        "at least one row",
        "at least 2",
        "at least 1",
        "needs a bounded lattice",
        "must be below the codebook size",
        "positive multiples of 2",
    ];
    for (err, invariant) in errors.iter().zip(invariants) {
        let message = err.to_string();
        assert!(
            message.starts_with(|c: char| !c.is_uppercase()),
            "{message}"
        );
        assert!(
            message.contains(invariant),
            "{message:?} should mention {invariant:?}"
        );
    }
}

#[test]
fn non_finite_codewords_are_errors_naming_the_codeword() {
    // Issue 11 (D7): a NaN codeword was skipped silently (its distances compare false).
    use lattice_vq_core::vq::{check_codebook, nearest_codewords};
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut codebook = Array2::<f32>::zeros((4, 3));
        codebook[[2, 1]] = bad;
        let latents = Array2::<f32>::ones((5, 3));
        let err = nearest_codewords(codebook.view(), latents.view()).unwrap_err();
        match &err {
            Error::NonFiniteCodeword {
                index: 2,
                col: 1,
                value,
            } => assert_eq!(value.is_nan(), bad.is_nan()),
            other => panic!("{bad}: {other:?}"),
        }
        assert!(
            err.to_string().contains("codebook entries must be finite"),
            "{err}"
        );
        // (Compared as text: a NaN value makes the errors unequal under `==`.)
        let same = |other: Result<_, Error>| other.unwrap_err().to_string() == err.to_string();
        assert!(same(check_codebook(codebook.view())));
        // The codebook is checked before the latents.
        let mut bad_latents = latents.clone();
        bad_latents[[0, 0]] = f32::NAN;
        assert!(same(
            nearest_codewords(codebook.view(), bad_latents.view()).map(|_| ())
        ));
    }
    let one_bad = array![[f64::INFINITY]];
    assert!(matches!(
        nearest_codewords(one_bad.view(), array![[1.0]].view()),
        Err(Error::NonFiniteCodeword {
            index: 0,
            col: 0,
            ..
        })
    ));
}
