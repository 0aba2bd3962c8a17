//! Token indices of product codebooks against enumeration of every code.

use lattice_vq_core::Error;
use lattice_vq_core::mixed_radix::MixedRadix;
use ndarray::{Array1, Array2};
use proptest::prelude::*;

/// Every code of `levels` in counting order, dimension 0 fastest: the `n`-th is index `n`.
fn enumerate(levels: &[u32]) -> Array2<i32> {
    let size: usize = levels.iter().map(|&l| l as usize).product();
    let mut codes = Array2::zeros((size, levels.len()));
    let mut digits = vec![0i32; levels.len()];
    for n in 0..size {
        codes.row_mut(n).assign(&ndarray::ArrayView1::from(&digits));
        for (digit, &level) in digits.iter_mut().zip(levels) {
            *digit += 1;
            if *digit < level as i32 {
                break;
            }
            *digit = 0;
        }
    }
    codes
}

proptest! {
    #[test]
    fn indices_are_a_bijection_onto_zero_to_k_and_round_trip(
        levels in proptest::collection::vec(2u32..=7, 1..=5),
    ) {
        let radix = MixedRadix::new(&levels).unwrap();
        let codes = enumerate(&levels);
        prop_assert_eq!(radix.codebook_size(), codes.nrows() as u128);
        let indices = radix.indices(codes.view()).unwrap();
        let expected: Array1<u64> = (0..codes.nrows() as u64).collect();
        prop_assert_eq!(&indices, &expected);
        prop_assert_eq!(radix.codes(indices.view()).unwrap(), codes);
    }

    #[test]
    fn large_codebooks_round_trip(
        levels in proptest::collection::vec(2u32..=1 << 16, 1..=4),
        seed in any::<u64>(),
    ) {
        let radix = MixedRadix::new(&levels).unwrap();
        let k = radix.codebook_size();
        let index = (u128::from(seed) % k) as u64;
        let digits = radix.digits(index).unwrap();
        prop_assert_eq!(radix.index(&digits).unwrap(), index);
        for (&digit, &level) in digits.iter().zip(&levels) {
            prop_assert!(digit >= 0 && (digit as u32) < level);
        }
    }
}

#[test]
fn dimension_zero_is_least_significant_as_in_vector_quantize_pytorch() {
    // FSQ's basis for levels [8, 5, 5, 5] is cumprod([1, 8, 5, 5]) = [1, 8, 40, 200].
    let radix = MixedRadix::new(&[8, 5, 5, 5]).unwrap();
    assert_eq!(radix.index(&[1, 2, 3, 4]).unwrap(), 1 + 16 + 120 + 800);
    assert_eq!(radix.digits(999).unwrap(), vec![7, 4, 4, 4]);
}

#[test]
fn sizes_are_exact_and_overflow_is_an_error() {
    // 2^64 codes: the largest index is u64::MAX.
    let radix = MixedRadix::new(&[1 << 16; 4]).unwrap();
    assert_eq!(radix.codebook_size(), 1u128 << 64);
    assert_eq!(radix.index(&[65535; 4]).unwrap(), u64::MAX);
    assert_eq!(radix.digits(u64::MAX).unwrap(), vec![65535; 4]);
    // 2^65 codes: a size, but no u64 indices.
    let radix = MixedRadix::new(&[1 << 16, 1 << 16, 1 << 16, 1 << 16, 2]).unwrap();
    assert_eq!(radix.codebook_size(), 1u128 << 65);
    let err = radix.index(&[0; 5]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CodebookOverflow {
                index_type: "u64",
                ..
            }
        ),
        "{err}"
    );
    // Beyond u128.
    let err = MixedRadix::new(&[1 << 31; 5]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CodebookOverflow {
                index_type: "u128",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_levels_codes_and_tokens_are_typed_errors() {
    assert!(matches!(MixedRadix::new(&[]), Err(Error::ZeroDim)));
    for bad in [[8, 1], [8, 0], [8, (1 << 31) + 1]] {
        let err = MixedRadix::new(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidConfig {
                    field: "levels",
                    ..
                }
            ),
            "{err}"
        );
    }
    let radix = MixedRadix::new(&[8, 5]).unwrap();
    let codes = ndarray::array![[7, 4], [0, 5]];
    let err = radix.indices(codes.view()).unwrap_err();
    assert_eq!(
        err,
        Error::CodeOutOfRange {
            row: 1,
            col: 1,
            code: 5,
            levels: 5
        }
    );
    assert_eq!(
        err.to_string(),
        "code 5 at row 1, column 1 is out of range: codes must lie in 0..5"
    );
    let err = radix.index(&[-1, 0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CodeOutOfRange {
                code: -1,
                col: 0,
                ..
            }
        ),
        "{err}"
    );
    let err = radix
        .indices(ndarray::array![[1, 2, 3]].view())
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    let err = radix
        .codes(ndarray::array![3u64, 40, 39].view())
        .unwrap_err();
    assert_eq!(
        err,
        Error::TokenOutOfRange {
            row: 1,
            index: 40,
            codebook_size: 40
        }
    );
}
