//! Vocabularies of unbounded lattice codes against a naive first-appearance numbering.

use std::collections::HashMap;

use lattice_vq_core::Error;
use lattice_vq_core::vocabulary::Vocabulary;
use ndarray::{Array1, Array2, ShapeBuilder};
use proptest::prelude::*;

/// Rows of codes of one dimension, with values in a small range so that repeats occur.
fn code_rows(max_rows: usize) -> impl Strategy<Value = (usize, Vec<Vec<i32>>)> {
    (1_usize..6).prop_flat_map(move |dim| {
        (
            Just(dim),
            prop::collection::vec(prop::collection::vec(-2_i32..=2, dim), 0..max_rows),
        )
    })
}

fn row_major(dim: usize, rows: &[Vec<i32>]) -> Array2<i32> {
    Array2::from_shape_vec((rows.len(), dim), rows.concat()).expect("rows have length dim")
}

/// The rows as a column-major array, whose rows are not contiguous.
fn column_major(dim: usize, rows: &[Vec<i32>]) -> Array2<i32> {
    let data = (0..dim)
        .flat_map(|d| rows.iter().map(move |row| row[d]))
        .collect();
    Array2::from_shape_vec((rows.len(), dim).f(), data).expect("rows have length dim")
}

/// The distinct rows in order of first appearance, and each one's position in that list.
fn first_appearance(rows: &[Vec<i32>]) -> (Vec<Vec<i32>>, HashMap<Vec<i32>, u64>) {
    let mut order = Vec::new();
    let mut index = HashMap::new();
    for row in rows {
        if !index.contains_key(row) {
            index.insert(row.clone(), order.len() as u64);
            order.push(row.clone());
        }
    }
    (order, index)
}

fn vocabulary_of(dim: usize, rows: &[Vec<i32>]) -> Vocabulary {
    let mut vocabulary = Vocabulary::new(dim).expect("dim >= 1");
    vocabulary
        .insert_rows(row_major(dim, rows).view())
        .expect("rows have length dim");
    vocabulary
}

proptest! {
    #[test]
    fn tokens_are_a_bijection_onto_zero_to_len_in_first_appearance_order(
        (dim, rows) in code_rows(60),
    ) {
        let (order, index) = first_appearance(&rows);
        let vocabulary = vocabulary_of(dim, &rows);
        let mut by_columns = Vocabulary::new(dim)?;
        by_columns.insert_rows(column_major(dim, &rows).view())?;
        let mut one_by_one = Vocabulary::new(dim)?;
        for row in &rows {
            prop_assert_eq!(one_by_one.insert(row)?, index[row]);
        }
        prop_assert_eq!(&by_columns, &vocabulary);
        prop_assert_eq!(&one_by_one, &vocabulary);

        prop_assert_eq!(vocabulary.dim(), dim);
        prop_assert_eq!(vocabulary.len(), order.len() as u64);
        prop_assert_eq!(vocabulary.is_empty(), rows.is_empty());
        prop_assert_eq!(vocabulary.unknown_token(), vocabulary.len());
        for (token, code) in order.iter().enumerate() {
            prop_assert_eq!(vocabulary.code(token as u64), Some(code.as_slice()));
            prop_assert_eq!(vocabulary.token(code), Some(token as u64));
        }
        prop_assert_eq!(vocabulary.code(vocabulary.len()), None);

        let all_tokens: Array1<u64> = (0..vocabulary.len()).collect();
        prop_assert_eq!(vocabulary.codes(all_tokens.view())?, row_major(dim, &order));
    }

    #[test]
    fn tokens_round_trip_to_codes_for_every_seen_code((dim, rows) in code_rows(60)) {
        let (_, index) = first_appearance(&rows);
        let vocabulary = vocabulary_of(dim, &rows);
        let expected: Array1<u64> = rows.iter().map(|row| index[row]).collect();
        for codes in [row_major(dim, &rows), column_major(dim, &rows)] {
            let tokens = vocabulary.tokens(codes.view())?;
            prop_assert_eq!(&tokens, &expected);
            prop_assert_eq!(vocabulary.codes(tokens.view())?, row_major(dim, &rows));
            prop_assert_eq!(vocabulary.out_of_vocabulary(codes.view())?, 0);
        }
    }

    #[test]
    fn unseen_codes_get_the_unknown_token_and_have_no_code(
        (dim, rows) in code_rows(60),
        seen in any::<prop::sample::Index>(),
    ) {
        let seen = seen.index(rows.len() + 1);
        let vocabulary = vocabulary_of(dim, &rows[..seen]);
        let (_, index) = first_appearance(&rows[..seen]);
        let unknown = vocabulary.unknown_token();

        let naive_unknown = rows.iter().filter(|row| !index.contains_key(*row)).count();
        for codes in [row_major(dim, &rows), column_major(dim, &rows)] {
            prop_assert_eq!(vocabulary.out_of_vocabulary(codes.view())?, naive_unknown as u64);
            let tokens = vocabulary.tokens(codes.view())?;
            for (row, &token) in rows.iter().zip(&tokens) {
                prop_assert_eq!(token, index.get(row).copied().unwrap_or(unknown));
            }
            match tokens.iter().position(|&token| token == unknown) {
                Some(first) => prop_assert_eq!(
                    vocabulary.codes(tokens.view()).unwrap_err(),
                    Error::UnknownToken { row: first, index: unknown }
                ),
                None => prop_assert_eq!(vocabulary.codes(tokens.view())?, codes),
            }
        }
    }

    #[test]
    fn tokens_above_the_unknown_token_are_out_of_range(
        (dim, rows) in code_rows(30),
        excess in 1_u64..=u64::MAX,
        prefix in 0_usize..4,
    ) {
        let vocabulary = vocabulary_of(dim, &rows);
        let len = vocabulary.len();
        let bad = len.saturating_add(excess);
        prop_assume!(bad > len);
        // Valid tokens before the bad one: the error names the bad one's row.
        let mut tokens: Vec<u64> = (0..prefix as u64).map(|t| t % len.max(1)).collect();
        if len == 0 {
            tokens.clear();
        }
        let row = tokens.len();
        tokens.push(bad);
        tokens.push(len);
        let err = vocabulary.codes(Array1::from(tokens).view()).unwrap_err();
        prop_assert_eq!(
            err,
            Error::TokenOutOfRange { row, index: bad, codebook_size: u128::from(len) }
        );
        prop_assert_eq!(vocabulary.code(bad), None);
    }

    #[test]
    fn known_tokens_stay_put_as_the_vocabulary_grows(
        (dim, rows) in code_rows(60),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(rows.len() + 1);
        let mut vocabulary = vocabulary_of(dim, &rows[..cut]);
        let before = vocabulary.tokens(row_major(dim, &rows[..cut]).view())?;
        let unknown_before = vocabulary.unknown_token();
        vocabulary.insert_rows(row_major(dim, &rows[cut..]).view())?;
        let after = vocabulary.tokens(row_major(dim, &rows[..cut]).view())?;
        prop_assert_eq!(before, after);
        prop_assert!(vocabulary.unknown_token() >= unknown_before);
        prop_assert_eq!(&vocabulary, &vocabulary_of(dim, &rows));
    }
}

#[test]
fn a_vocabulary_needs_a_dimension() {
    assert_eq!(Vocabulary::new(0).unwrap_err(), Error::ZeroDim);
}

#[test]
fn an_empty_vocabulary_gives_every_code_the_unknown_token_zero() {
    let vocabulary = Vocabulary::new(3).unwrap();
    assert!(vocabulary.is_empty());
    assert_eq!(vocabulary.unknown_token(), 0);
    let codes = ndarray::array![[1, 2, 3], [0, 0, 0]];
    assert_eq!(
        vocabulary.tokens(codes.view()).unwrap(),
        ndarray::array![0, 0]
    );
    assert_eq!(vocabulary.out_of_vocabulary(codes.view()).unwrap(), 2);
    assert_eq!(
        vocabulary.codes(ndarray::array![0].view()).unwrap_err(),
        Error::UnknownToken { row: 0, index: 0 }
    );
    let none = vocabulary.codes(Array1::<u64>::zeros(0).view()).unwrap();
    assert_eq!(none.dim(), (0, 3));
}

#[test]
fn wrong_widths_are_shape_errors_and_change_nothing() {
    let mut vocabulary = vocabulary_of(2, &[vec![1, 2], vec![3, 4]]);
    let before = vocabulary.clone();
    let wide = Array2::<i32>::zeros((5, 3));
    let expected = Error::ShapeMismatch {
        what: "codes",
        expected: vec![5, 2],
        found: vec![5, 3],
    };
    assert_eq!(vocabulary.insert_rows(wide.view()).unwrap_err(), expected);
    assert_eq!(vocabulary.tokens(wide.view()).unwrap_err(), expected);
    assert_eq!(
        vocabulary.out_of_vocabulary(wide.view()).unwrap_err(),
        expected
    );
    assert_eq!(
        vocabulary.insert(&[1, 2, 3]).unwrap_err(),
        Error::ShapeMismatch {
            what: "code",
            expected: vec![2],
            found: vec![3],
        }
    );
    assert_eq!(vocabulary.token(&[1]), None);
    assert_eq!(vocabulary, before);
}

#[test]
fn codes_far_from_the_origin_are_kept_exactly() {
    let rows = vec![
        vec![i32::MIN, i32::MAX],
        vec![i32::MAX, i32::MIN],
        vec![0, -1],
    ];
    let vocabulary = vocabulary_of(2, &rows);
    let tokens = vocabulary.tokens(row_major(2, &rows).view()).unwrap();
    assert_eq!(tokens, ndarray::array![0, 1, 2]);
    assert_eq!(
        vocabulary.codes(tokens.view()).unwrap(),
        row_major(2, &rows)
    );
}
