//! Initialisation (Eq. 6, Appendix A.1).

use lattice_vq_core::{BasisInit, Error, LatticeQuantizerConfig, init_range, sample_basis};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn paper_range_for_512_codes_in_64_dimensions() {
    let r = init_range(512, 64).unwrap();
    assert_eq!(format!("{r:.4}"), "9.7673");
    let direct = 1.0 / (512f64.powf(1.0 / 64.0) - 1.0);
    assert!((r - direct).abs() < 1e-9 * direct);
}

#[test]
fn range_gives_k_points_per_unit_box_as_appendix_a1_derives() {
    for (k, d) in [(2usize, 1usize), (16, 2), (512, 64), (1 << 20, 8)] {
        let r = init_range(k, d).unwrap();
        let points = (1.0 / r + 1.0).powi(d as i32);
        assert!(
            (points - k as f64).abs() < 1e-6 * k as f64,
            "K = {k}, D = {d}: {points}"
        );
    }
}

#[test]
fn sampling_is_reproducible_and_inside_the_range() {
    let r = init_range(512, 64).unwrap();
    let a = sample_basis::<f32, _>(64, r, &mut StdRng::seed_from_u64(2)).unwrap();
    let b = sample_basis::<f32, _>(64, r, &mut StdRng::seed_from_u64(2)).unwrap();
    let c = sample_basis::<f32, _>(64, r, &mut StdRng::seed_from_u64(3)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.basis().iter().all(|&x| (x as f64).abs() < r));
}

#[test]
fn samples_are_uniform_on_the_symmetric_interval() {
    let r = 9.7673;
    let lattice = sample_basis::<f64, _>(200_000, r, &mut StdRng::seed_from_u64(11)).unwrap();
    let n = lattice.dim() as f64;
    let mean = lattice.basis().sum() / n;
    let variance = lattice.basis().mapv(|x| x * x).sum() / n - mean * mean;
    // Uniform(-r, r): mean 0, variance r^2 / 3; tolerances are ~5 standard errors.
    assert!(mean.abs() < 5.0 * r / (3.0 * n).sqrt(), "mean {mean}");
    assert!(
        (variance - r * r / 3.0).abs() < 5.0 * r * r * 0.3 / n.sqrt(),
        "variance {variance}"
    );
    let negative = lattice.basis().iter().filter(|&&x| x < 0.0).count() as f64;
    assert!((negative / n - 0.5).abs() < 0.01);
}

#[test]
fn dense_variant_initialises_in_unit_interval() {
    let config = LatticeQuantizerConfig::dense(512, 64);
    assert_eq!(config.init, BasisInit::Symmetric(1.0));
    assert_eq!(config.sparsity_cost, -1.0);
    let lattice = config
        .init_lattice::<f32, _>(&mut StdRng::seed_from_u64(5))
        .unwrap();
    assert!(lattice.basis().iter().all(|x| x.abs() < 1.0));
    assert!(lattice.basis().iter().any(|x| x.abs() > 0.5));
}

/// Found by fuzzing (fuzz/artifacts/core_lattice/crash-ce4fa30094fb3ad996a1cb74a53f74a50f661fdd):
/// with K = 1.7e19 codes in one dimension the paper's range is 6e-20, below the smallest
/// basis magnitude; `validate` passed the config and `init_lattice` refused it.
#[test]
fn a_paper_range_below_the_basis_bounds_fails_validation() {
    // usize::MAX codes: r = 1 / (K - 1) = 5.4e-20 on 64-bit targets.
    let config = LatticeQuantizerConfig::new(usize::MAX, 1);
    let error = config.validate().unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidConfig {
                field: "init half-width",
                ..
            }
        ),
        "{error}"
    );
    assert!(config.init_half_width().is_err());
    assert!(
        config
            .init_lattice::<f64, _>(&mut StdRng::seed_from_u64(0))
            .is_err()
    );
    // 4e18 codes, r = 2.5e-19: just inside the bounds, so it passes.
    let largest = LatticeQuantizerConfig::new(4_000_000_000_000_000_000, 1);
    largest.validate().unwrap();
    largest
        .init_lattice::<f32, _>(&mut StdRng::seed_from_u64(0))
        .unwrap();
}

#[test]
fn redraw_until_valid_keeps_a_valid_draw_and_redraws_the_whole_basis_otherwise() {
    use lattice_vq_core::{Error, redraw_until_valid};
    let (lattice, redraws) =
        redraw_until_valid(vec![0.5f32, -1.0], || -> Result<Vec<f32>, Error> {
            unreachable!()
        })
        .unwrap();
    assert_eq!((lattice.basis().to_vec(), redraws), (vec![0.5, -1.0], 0));
    // f32's bound is checked on f32 values: 1e-20 is a valid f64 entry but not an f32 one.
    let mut calls = 0;
    let (lattice, redraws) = redraw_until_valid(vec![1e-20f32, 1.0], || {
        calls += 1;
        Ok::<_, Error>(if calls < 3 {
            vec![0.0, 1.0]
        } else {
            vec![2.0, 3.0]
        })
    })
    .unwrap();
    assert_eq!((lattice.basis().to_vec(), redraws), (vec![2.0, 3.0], 3));
    assert_eq!(
        redraw_until_valid(Vec::<f64>::new(), || -> Result<Vec<f64>, Error> {
            unreachable!()
        })
        .unwrap_err(),
        Error::ZeroDim
    );
    assert!(matches!(
        redraw_until_valid(vec![0.0f64], || Ok::<_, Error>(vec![1.0, 1.0])),
        Err(Error::ShapeMismatch {
            what: "redrawn basis",
            ..
        })
    ));
    // The redraw's own error comes back unchanged.
    assert_eq!(
        redraw_until_valid(vec![0.0f64], || Err(Error::CountOverflow)).unwrap_err(),
        Error::CountOverflow
    );
}
