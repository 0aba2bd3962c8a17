//! FSQ on its own: the reference formula written out in f64, every code reachable, token
//! indices a bijection onto `0..K`, typed errors. Parity with vector-quantize-pytorch is
//! `fsq_peer.rs`.

use lattice_vq_core::{Error, FiniteScalarQuantizer, Lattice};
use ndarray::{Array1, Array2, array};
use proptest::prelude::*;

/// FSQ's digit of `z` for `l` levels, straight from the paper's definition in f64.
fn reference_digit(l: u32, z: f64) -> i32 {
    let half_range = f64::from(l - 1) * (1.0 + 1e-3) / 2.0;
    let half_step = if l.is_multiple_of(2) { 0.5 } else { 0.0 };
    let y = (z + (half_step / half_range).atanh()).tanh() * half_range - half_step;
    y.round_ties_even() as i32 + (l / 2) as i32
}

fn levels() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(2u32..=16, 1..=4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fsq_digits_and_points_follow_the_formula(
        (levels, latents) in levels().prop_flat_map(|levels| {
            let dim = levels.len();
            (Just(levels), proptest::collection::vec(-6.0f64..6.0, dim * 20))
        }),
    ) {
        let dim = levels.len();
        let fsq = FiniteScalarQuantizer::<f64>::new(&levels).unwrap();
        let latents = Array2::from_shape_vec((20, dim), latents).unwrap();
        let q = fsq.quantize(latents.view()).unwrap();
        let bounded = fsq.bounded(latents.view()).unwrap();
        for ((n, col), &z) in latents.indexed_iter() {
            let l = levels[col];
            prop_assert_eq!(q.codes[[n, col]], reference_digit(l, z));
            let w = f64::from(l / 2);
            prop_assert_eq!(q.points[[n, col]], (f64::from(q.codes[[n, col]]) - w) / w);
            // The point is the bound rounded to its nearest level.
            prop_assert!((bounded[[n, col]] * w - (q.points[[n, col]] * w)).abs() <= 0.5 + 1e-12);
            prop_assert!((-1.0..=1.0).contains(&q.points[[n, col]]));
        }
        prop_assert_eq!(fsq.overloaded(latents.view()).unwrap(), 0);
    }

    #[test]
    fn every_fsq_code_is_reachable_and_indices_are_a_bijection(levels in levels()) {
        let fsq = FiniteScalarQuantizer::<f64>::new(&levels).unwrap();
        let size = fsq.codebook_size().unwrap() as u64;
        let codes = fsq.indices_to_codes(Array1::from_iter(0..size).view()).unwrap();
        prop_assert_eq!(fsq.codes_to_indices(codes.view()).unwrap().to_vec(), (0..size).collect::<Vec<_>>());
        // The latent whose bound lands exactly on each level: z = atanh((k - w + s) / h) - shift.
        let latents = Array2::from_shape_fn(codes.raw_dim(), |(n, col)| {
            let l = levels[col];
            let half_range = f64::from(l - 1) * (1.0 + 1e-3) / 2.0;
            let half_step = if l.is_multiple_of(2) { 0.5 } else { 0.0 };
            let y = f64::from(codes[[n, col]]) - f64::from(l / 2);
            ((y + half_step) / half_range).atanh() - (half_step / half_range).atanh()
        });
        prop_assert_eq!(fsq.quantize(latents.view()).unwrap().codes, codes);
    }
}

#[test]
fn fsq_handles_far_latents_and_refuses_bad_input() {
    let fsq = FiniteScalarQuantizer::<f32>::new(&[8, 5]).unwrap();
    let q = fsq
        .quantize(array![[f32::MAX, -f32::MAX], [-1e30, 1e30]].view())
        .unwrap();
    assert_eq!(q.codes, array![[7, 0], [0, 4]]);
    assert_eq!(q.points, array![[0.75, -1.0], [-1.0, 1.0]]);
    assert!(matches!(
        fsq.quantize(array![[0.0f32, f32::NAN]].view()),
        Err(Error::NonFiniteLatent { row: 0, col: 1, .. })
    ));
    assert!(matches!(
        fsq.decode(array![[8, 0]].view()),
        Err(Error::CodeOutOfRange {
            row: 0,
            col: 0,
            code: 8,
            levels: 8
        })
    ));
    assert!(matches!(
        fsq.indices_to_codes(array![40u64].view()),
        Err(Error::TokenOutOfRange { index: 40, .. })
    ));
    assert!(matches!(
        FiniteScalarQuantizer::<f32>::new(&[8, 1]),
        Err(Error::InvalidConfig {
            field: "levels",
            ..
        })
    ));
    assert_eq!(
        FiniteScalarQuantizer::<f32>::new(&[]).unwrap_err(),
        Error::ZeroDim
    );
    assert!(fsq.parameters().is_empty() && !fsq.is_exact());
    assert_eq!(fsq.size_loss(), 0.0);
}

#[test]
fn large_level_counts_stay_inside_the_box() {
    // The bound reaches (l - 1)(1 + 1e-3) / 2, past the outermost level by more than half a
    // step once l > 1001: the digit is clamped (the reference would index past K there).
    let fsq = FiniteScalarQuantizer::<f64>::new(&[1003]).unwrap();
    let far = array![[50.0]];
    assert_eq!(fsq.quantize(far.view()).unwrap().codes, array![[1002]]);
    assert_eq!(fsq.overloaded(far.view()).unwrap(), 1);
}
