//! The [`Lattice`] trait's contract, written once against `L: Lattice<f64>` and checked on
//! every implementation ([`DiagonalLattice`], [`BoundedLattice`], [`FiniteScalarQuantizer`]).

use crate::support::lattice_and_latents;
use lattice_vq_core::{
    BoundedLattice, DiagonalLattice, Error, FiniteScalarQuantizer, Lattice, loss,
};
use ndarray::{Array1, Array2, array};
use proptest::prelude::*;

/// Relative step of the central differences.
const STEP: f64 = 1e-6;

/// Central difference of `f` along parameter `index`.
fn central_difference(parameters: &[f64], index: usize, f: impl Fn(&[f64]) -> f64) -> f64 {
    let h = STEP * (1.0 + parameters[index].abs());
    let (mut plus, mut minus) = (parameters.to_vec(), parameters.to_vec());
    plus[index] += h;
    minus[index] -= h;
    (f(&plus) - f(&minus)) / (2.0 * h)
}

fn close(hand: f64, numeric: f64) -> bool {
    approx::relative_eq!(hand, numeric, epsilon = 1e-6, max_relative = 1e-6)
}

/// Every rule of the trait for one lattice and one batch of latents.
fn check_contract<L: Lattice<f64>>(
    lattice: &L,
    latents: &Array2<f64>,
) -> Result<(), TestCaseError> {
    let dim = lattice.dim();
    prop_assert_eq!(latents.ncols(), dim);

    // Quantize, then decode: the points again, bit for bit.
    let q = lattice.quantize(latents.view()).unwrap();
    prop_assert_eq!(lattice.decode(q.codes.view()).unwrap(), q.points.clone());
    prop_assert!(
        lattice
            .validate_latents(latents.as_slice().unwrap())
            .is_ok()
    );

    // Rebuilt from its own parameters: the same lattice.
    let parameters = lattice.parameters().to_vec();
    let rebuilt = lattice.with_parameters(&parameters).unwrap();
    prop_assert_eq!(rebuilt.parameters(), lattice.parameters());
    prop_assert_eq!(rebuilt.quantize(latents.view()).unwrap(), q.clone());
    let longer: Vec<f64> = parameters.iter().chain(&[1.0]).copied().collect();
    prop_assert!(
        matches!(
            lattice.with_parameters(&longer),
            Err(Error::ShapeMismatch { .. })
        ),
        "parameters of another length must be refused"
    );

    // d(embedding)/d(parameters) with the codes held fixed.
    let hand = lattice
        .embedding_loss_gradient(latents.view(), q.codes.view(), q.points.view())
        .unwrap();
    prop_assert_eq!(hand.len(), parameters.len());
    for j in 0..parameters.len() {
        let numeric = central_difference(&parameters, j, |p| {
            let moved = lattice.with_parameters(p).unwrap();
            let points = moved.decode(q.codes.view()).unwrap();
            loss::embedding_loss(latents.view(), points.view()).unwrap()
        });
        prop_assert!(
            close(hand[j], numeric),
            "d embedding / dp_{}: {} vs {}",
            j,
            hand[j],
            numeric
        );
    }

    // d(size)/d(parameters).
    let hand = lattice.size_loss_gradient();
    prop_assert_eq!(hand.len(), parameters.len());
    for j in 0..parameters.len() {
        let numeric = central_difference(&parameters, j, |p| {
            lattice.with_parameters(p).unwrap().size_loss()
        });
        prop_assert!(
            close(hand[j], numeric),
            "d size / dp_{}: {} vs {}",
            j,
            hand[j],
            numeric
        );
    }
    Ok(())
}

/// The index methods of an unbounded lattice: no codebook, typed errors.
fn check_unbounded<L: Lattice<f64>>(lattice: &L) {
    assert_eq!(lattice.codebook_size(), None);
    let codes = Array2::<i32>::zeros((2, lattice.dim()));
    let err = lattice.codes_to_indices(codes.view()).unwrap_err();
    assert_eq!(
        err,
        Error::UnboundedLattice {
            what: "codes_to_indices"
        }
    );
    assert_eq!(
        err.to_string(),
        "codes_to_indices needs a bounded lattice: this lattice has no finite codebook"
    );
    let indices = Array1::<u64>::zeros(2);
    assert_eq!(
        lattice.indices_to_codes(indices.view()).unwrap_err(),
        Error::UnboundedLattice {
            what: "indices_to_codes"
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn diagonal_lattice_keeps_the_trait_contract((basis, latents) in lattice_and_latents(1..=6, 1..=6, 30.0)) {
        check_contract(&DiagonalLattice::from_slice(&basis).unwrap(), &latents)?;
    }

    #[test]
    fn bounded_lattice_keeps_the_trait_contract(
        (basis, latents) in lattice_and_latents(1..=6, 1..=6, 30.0),
        levels in proptest::collection::vec(2u32..=9, 6),
        offset in proptest::collection::vec(-3.0f64..3.0, 6),
    ) {
        let levels = &levels[..basis.len()];
        check_contract(&BoundedLattice::new(levels, &basis).unwrap(), &latents)?;
        let learned = BoundedLattice::with_offset(levels, &basis, &offset[..basis.len()]).unwrap();
        check_contract(&learned, &latents)?;
    }

    #[test]
    fn fsq_keeps_the_trait_contract(
        (basis, latents) in lattice_and_latents(1..=6, 1..=6, 3.0),
        levels in proptest::collection::vec(2u32..=9, 6),
    ) {
        check_contract(&FiniteScalarQuantizer::new(&levels[..basis.len()]).unwrap(), &latents)?;
    }
}

#[test]
fn diagonal_lattice_is_unbounded() {
    check_unbounded(&DiagonalLattice::<f64>::from_slice(&[0.5, -2.0]).unwrap());
}

#[test]
fn diagonal_parameters_are_the_basis_and_are_validated_like_the_constructor() {
    let lattice = DiagonalLattice::<f32>::from_slice(&[0.5, -2.0]).unwrap();
    assert_eq!(Lattice::parameters(&lattice), &[0.5, -2.0]);
    assert!(Lattice::is_exact(&lattice));
    let moved = lattice.with_parameters(&[0.25, 4.0]).unwrap();
    assert_eq!(moved, DiagonalLattice::from_slice(&[0.25, 4.0]).unwrap());
    assert_eq!(
        lattice.with_parameters(&[0.25, 0.0]).unwrap_err(),
        DiagonalLattice::<f32>::from_slice(&[0.25, 0.0]).unwrap_err()
    );
    assert!(matches!(
        lattice.with_parameters(&[f32::NAN, 1.0]),
        Err(Error::NonFiniteBasis { index: 0, .. })
    ));
}

#[test]
fn the_trait_reports_the_same_latent_errors_as_the_lattice() {
    let lattice = DiagonalLattice::<f32>::from_slice(&[1.0, 1e-3]).unwrap();
    let latents = [0.5, 2.0, 1.0, 1e7];
    assert_eq!(
        Lattice::validate_latents(&lattice, &latents),
        DiagonalLattice::validate_latents(&lattice, &latents)
    );
    assert!(matches!(
        Lattice::validate_latents(&lattice, &latents),
        Err(Error::CodeOverflow { row: 1, col: 1, .. })
    ));
}

#[test]
fn the_generic_losses_take_a_lattice_through_the_trait() {
    // quantizer_loss and quantizer_gradients through a `dyn`-free generic wrapper.
    fn size_part<L: Lattice<f64>>(lattice: &L) -> f64 {
        let config = lattice_vq_core::LatticeQuantizerConfig::new(512, lattice.dim());
        let latents = array![[0.5, 2.5]];
        let q = lattice.quantize(latents.view()).unwrap();
        loss::quantizer_loss(&config, lattice, latents.view(), &q)
            .unwrap()
            .size
    }
    let lattice = DiagonalLattice::<f64>::from_slice(&[1.0, -2.0]).unwrap();
    assert_eq!(size_part(&lattice), -3.0);
    assert_eq!(lattice.size_loss(), -3.0);
}
