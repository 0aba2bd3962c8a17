//! The adapters' search as the core's certificate functions split it (fast distances, then
//! [`uncertified_rows`], then [`decide_rows`]) against the rule itself, on inputs full of ties:
//! duplicated codewords, latents on codewords and half-way between them, NaN and huge values.

use lattice_vq_core::vq::nearest_codewords;
use lattice_vq_core::vq_certificate::{decide_rows, uncertified_rows};
use ndarray::{Array2, ArrayView2};
use proptest::prelude::*;

/// What a layer computes: fast distances in `f32` in another summation order than the core's
/// (reversed), the two smallest per row, the host half from the core.
fn adapter_search(
    codebook: ArrayView2<f32>,
    rows: ArrayView2<f32>,
) -> lattice_vq_core::Result<Vec<usize>> {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).rev().map(|(x, y)| x * y).sum::<f32>();
    let codewords: Vec<&[f32]> = codebook
        .rows()
        .into_iter()
        .map(|e| e.to_slice().unwrap())
        .collect();
    let codeword_norms: Vec<f32> = codewords.iter().map(|e| dot(e, e)).collect();
    let (mut row_norms, mut best, mut second, mut argmin) = (vec![], vec![], vec![], vec![]);
    for z in rows.rows() {
        let z = z.to_slice().unwrap();
        let norm = dot(z, z);
        let (mut first, mut d1, mut d2) = (0, f32::INFINITY, f32::INFINITY);
        for (k, e) in codewords.iter().enumerate() {
            let d = (norm + codeword_norms[k]) - 2.0 * dot(z, e);
            if d < d1 {
                (first, d2, d1) = (k, d1, d);
            } else if d < d2 {
                d2 = d;
            }
        }
        row_norms.push(norm);
        best.push(d1);
        second.push(d2);
        argmin.push(first);
    }
    let second = if codewords.len() == 1 { vec![] } else { second };
    let dim = codebook.ncols();
    let uncertain = uncertified_rows(dim, &row_norms, &codeword_norms, &best, &second)?;
    let subset: Vec<f32> = uncertain
        .iter()
        .flat_map(|&r| rows.row(r).to_vec())
        .collect();
    let flat: Vec<f32> = codebook.iter().copied().collect();
    for (&row, answer) in uncertain
        .iter()
        .zip(decide_rows(&flat, &subset, &uncertain, dim)?)
    {
        argmin[row] = answer;
    }
    Ok(argmin)
}

/// Small integers and halves, so that exact ties and duplicates are common.
fn grid(n: i8) -> f32 {
    f32::from(n) / 2.0
}

proptest! {
    #[test]
    fn the_split_search_follows_the_rule(
        (codebook, rows) in (1usize..=4, 1usize..=6, 1usize..=40).prop_flat_map(|(dim, k, n)| (
            proptest::collection::vec(-3i8..=3, k * dim)
                .prop_map(move |v| Array2::from_shape_vec((k, dim), v.into_iter().map(grid).collect()).unwrap()),
            proptest::collection::vec(-4i8..=4, n * dim)
                .prop_map(move |v| Array2::from_shape_vec((n, dim), v.into_iter().map(grid).collect()).unwrap()),
        )),
        scale in prop_oneof![Just(1.0f32), Just(1e-3), Just(1e19), Just(3e37)],
    ) {
        let (codebook, rows) = (codebook.mapv(|x| x * scale), rows.mapv(|x| x * scale));
        let ours = adapter_search(codebook.view(), rows.view()).unwrap();
        let rule = nearest_codewords(codebook.view(), rows.view()).unwrap();
        prop_assert_eq!(ours, rule.to_vec());
    }
}

#[test]
fn non_finite_values_never_certify_and_are_named_as_the_rule_names_them() {
    let codebook = Array2::from_shape_vec((3, 2), vec![0.0f32, 0.0, 1.0, 1.0, 2.0, 0.0]).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut rows = Array2::from_elem((5, 2), 0.25f32);
        rows[[3, 1]] = bad;
        rows[[4, 0]] = bad;
        let ours = adapter_search(codebook.view(), rows.view()).unwrap_err();
        let rule = nearest_codewords(codebook.view(), rows.view()).unwrap_err();
        // By message: NaN values compare unequal.
        assert_eq!(ours.to_string(), rule.to_string());
        let mut poisoned = codebook.clone();
        poisoned[[2, 1]] = bad;
        let rows = Array2::from_elem((5, 2), 0.25f32);
        let ours = adapter_search(poisoned.view(), rows.view()).unwrap_err();
        let rule = nearest_codewords(poisoned.view(), rows.view()).unwrap_err();
        assert_eq!(ours.to_string(), rule.to_string());
    }
}

#[test]
fn mismatched_lengths_are_errors() {
    use lattice_vq_core::Error;
    let short = uncertified_rows(2, &[1.0f32], &[0.0], &[1.0, 2.0], &[]);
    assert!(
        matches!(short, Err(Error::ShapeMismatch { .. })),
        "{short:?}"
    );
    let ids = decide_rows(&[0.0f32, 1.0], &[0.5, 0.5], &[0, 1, 2], 1);
    assert!(matches!(ids, Err(Error::ShapeMismatch { .. })), "{ids:?}");
}
