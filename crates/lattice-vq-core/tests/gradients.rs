//! Every hand-written gradient agrees with central finite differences, codes held fixed.

use crate::support::{lattice, lattice_and_latents};
use lattice_vq_core::{DiagonalLattice, Lattice, LatticeQuantizerConfig, Quantized, loss};
use ndarray::{Array1, Array2, Zip};
use proptest::prelude::*;

/// Relative step of the central differences.
const STEP: f64 = 1e-6;

fn assert_close(hand: f64, numeric: f64, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        approx::relative_eq!(hand, numeric, epsilon = 1e-6, max_relative = 1e-6),
        "{what}: hand {hand} vs numeric {numeric}"
    );
    Ok(())
}

/// Lattice points `b * v` for a frozen code matrix.
fn points_for(basis: &Array1<f64>, codes: &Array2<i32>) -> Array2<f64> {
    Array2::from_shape_fn(codes.raw_dim(), |(n, j)| {
        basis[j] * f64::from(codes[[n, j]])
    })
}

/// Central difference of `f` along coordinate `index` of `x`.
fn central_difference<D: ndarray::Dimension>(
    x: &ndarray::Array<f64, D>,
    index: usize,
    f: impl Fn(&ndarray::Array<f64, D>) -> f64,
) -> f64 {
    let h = STEP * (1.0 + x.iter().nth(index).unwrap().abs());
    let mut plus = x.clone();
    let mut minus = x.clone();
    *plus.iter_mut().nth(index).unwrap() += h;
    *minus.iter_mut().nth(index).unwrap() -= h;
    (f(&plus) - f(&minus)) / (2.0 * h)
}

fn config_strategy() -> impl Strategy<Value = LatticeQuantizerConfig> {
    (0.0f64..2.0, -2.0f64..2.0).prop_map(|(beta, gamma)| {
        LatticeQuantizerConfig::new(512, 1)
            .with_commitment_cost(beta)
            .with_sparsity_cost(gamma)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn embedding_gradient_matches_finite_differences((basis, latents) in lattice_and_latents(1..=6, 1..=6, 30.0)) {
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let hand = lattice.embedding_loss_gradient(latents.view(), q.codes.view(), q.points.view()).unwrap();
        let b = Array1::from(basis.clone());
        for j in 0..basis.len() {
            let numeric = central_difference(&b, j, |b| {
                loss::embedding_loss(latents.view(), points_for(b, &q.codes).view()).unwrap()
            });
            assert_close(hand[j], numeric, "d embedding / db")?;
        }
    }

    #[test]
    fn commitment_gradient_matches_finite_differences((basis, latents) in lattice_and_latents(1..=6, 1..=6, 30.0)) {
        let q = lattice(&basis).quantize(latents.view()).unwrap();
        let hand = loss::commitment_loss_latent_grad(latents.view(), q.points.view()).unwrap();
        for index in 0..latents.len() {
            let numeric = central_difference(&latents, index, |z| {
                loss::commitment_loss(z.view(), q.points.view()).unwrap()
            });
            assert_close(*hand.iter().nth(index).unwrap(), numeric, "d commitment / dz")?;
        }
    }

    #[test]
    fn size_gradient_matches_finite_differences((basis, _latents) in lattice_and_latents(1..=8, 1..=1, 1.0)) {
        let hand = lattice(&basis).size_loss_gradient();
        let b = Array1::from(basis.clone());
        for j in 0..basis.len() {
            let numeric = central_difference(&b, j, |b| lattice(b.as_slice().unwrap()).size_loss());
            assert_close(hand[j], numeric, "d size / db")?;
        }
    }

    #[test]
    fn total_quantizer_gradients_match_finite_differences(
        (basis, latents) in lattice_and_latents(1..=5, 1..=5, 30.0),
        config in config_strategy(),
    ) {
        let config = LatticeQuantizerConfig { dim: basis.len(), ..config };
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let grads = loss::quantizer_gradients(&config, &lattice, latents.view(), &q).unwrap();
        // The total as a function of (b, z) with the codes frozen.
        let total = |b: &Array1<f64>, z: &Array2<f64>| {
            let frozen = Quantized { codes: q.codes.clone(), points: points_for(b, &q.codes) };
            let lattice = DiagonalLattice::new(b.clone()).unwrap();
            // Embedding depends on b only, commitment on z only (the stop-gradients).
            let with_b = loss::quantizer_loss(&config, &lattice, latents.view(), &frozen).unwrap();
            let commitment_z = loss::commitment_loss(z.view(), q.points.view()).unwrap();
            with_b.embedding + config.sparsity_cost * with_b.size + config.commitment_cost * commitment_z
        };
        let b = Array1::from(basis.clone());
        for j in 0..basis.len() {
            let numeric = central_difference(&b, j, |b| total(b, &latents));
            assert_close(grads.basis[j], numeric, "d total / db")?;
        }
        for index in 0..latents.len() {
            let numeric = central_difference(&latents, index, |z| total(&b, z));
            assert_close(*grads.latents.iter().nth(index).unwrap(), numeric, "d total / dz")?;
        }
    }

    #[test]
    fn encoder_gradient_is_the_straight_through_one(
        (basis, latents) in lattice_and_latents(1..=5, 1..=5, 30.0),
        config in config_strategy(),
    ) {
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let target = latents.mapv(|z| 0.3 * z - 1.0);
        // Reconstruction surrogate 0.5 * |y - target|^2 with y = z + sg(e - z).
        let offset = &q.points - &latents;
        let surrogate = |z: &Array2<f64>| {
            let y = z + &offset;
            let reconstruction: f64 = Zip::from(&y).and(&target).fold(0.0, |acc, &y, &t| acc + 0.5 * (y - t) * (y - t));
            reconstruction + config.commitment_cost * loss::commitment_loss(z.view(), q.points.view()).unwrap()
        };
        let straight = loss::straight_through(latents.view(), q.points.view()).unwrap();
        let upstream = &straight - &target;
        let hand = loss::encoder_gradient(&config, latents.view(), q.points.view(), upstream.view()).unwrap();
        for index in 0..latents.len() {
            let numeric = central_difference(&latents, index, surrogate);
            assert_close(*hand.iter().nth(index).unwrap(), numeric, "d surrogate / dz")?;
        }
    }

    #[test]
    fn loss_parts_match_a_direct_computation(
        (basis, latents) in lattice_and_latents(1..=6, 1..=6, 30.0),
        config in config_strategy(),
    ) {
        let config = LatticeQuantizerConfig { dim: basis.len(), ..config };
        let lattice = lattice(&basis);
        let q = lattice.quantize(latents.view()).unwrap();
        let parts = loss::quantizer_loss(&config, &lattice, latents.view(), &q).unwrap();
        let mse = Zip::from(&latents).and(&q.points).fold(0.0, |acc, &z, &e| acc + (e - z) * (e - z))
            / latents.len() as f64;
        let size: f64 = -basis.iter().map(|b| b.abs()).sum::<f64>();
        assert_close(parts.embedding, mse, "embedding")?;
        assert_close(parts.commitment, mse, "commitment")?;
        assert_close(parts.size, size, "size")?;
        assert_close(parts.total, mse + config.commitment_cost * mse + config.sparsity_cost * size, "total")?;
    }
}
