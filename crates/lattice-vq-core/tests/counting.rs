//! Counting codes: exact unique counts, HyperLogLog sketches, perplexity and histograms,
//! each checked against a naive computation.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use lattice_vq_core::{
    CodeVector, DimensionHistograms, Error, HyperLogLog, UniqueCodes, code_key, perplexity,
};
use ndarray::{Array2, Axis, ShapeBuilder};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows of codes of one dimension, with values in a small range so that duplicates occur.
fn code_rows(max_rows: usize) -> impl Strategy<Value = (usize, Vec<Vec<i32>>)> {
    (1_usize..6).prop_flat_map(move |dim| {
        (
            Just(dim),
            prop::collection::vec(prop::collection::vec(-2_i32..=2, dim), 0..max_rows),
        )
    })
}

/// The rows as a standard-layout `(N, D)` array.
fn row_major(dim: usize, rows: &[Vec<i32>]) -> Array2<i32> {
    Array2::from_shape_vec((rows.len(), dim), rows.concat()).expect("rows have length dim")
}

/// The rows as a column-major `(N, D)` array, whose rows are not contiguous.
fn column_major(dim: usize, rows: &[Vec<i32>]) -> Array2<i32> {
    let data = (0..dim)
        .flat_map(|d| rows.iter().map(move |row| row[d]))
        .collect();
    Array2::from_shape_vec((rows.len(), dim).f(), data).expect("rows have length dim")
}

fn naive_counts(rows: &[Vec<i32>]) -> HashMap<Vec<i32>, u64> {
    let mut counts = HashMap::new();
    for row in rows {
        *counts.entry(row.clone()).or_insert(0) += 1;
    }
    counts
}

fn sorted_counts(unique: &UniqueCodes) -> Vec<u64> {
    let mut counts: Vec<u64> = unique.counts().collect();
    counts.sort_unstable();
    counts
}

/// The bytes `code_key` is documented to hash, built the obvious way.
fn little_endian_bytes(code: &[i32]) -> Vec<u8> {
    code.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// Perplexity straight from its definition, `exp(-sum p ln p)`, in two passes.
fn direct_perplexity(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 1.0;
    }
    let entropy: f64 = counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = count as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    entropy.exp()
}

fn sketch_of(precision: u8, codes: &[Vec<i32>]) -> HyperLogLog {
    let mut sketch = HyperLogLog::new(precision).expect("valid precision");
    for code in codes {
        sketch.insert(code);
    }
    sketch
}

/// Distinct random codes of length 8, drawn from a wide range.
fn random_codes(rng: &mut ChaCha8Rng, count: usize) -> Vec<Vec<i32>> {
    (0..count)
        .map(|_| (0..8).map(|_| rng.random_range(-1_000..1_000)).collect())
        .collect()
}

proptest! {
    #[test]
    fn unique_codes_match_a_naive_count((dim, rows) in code_rows(60)) {
        let naive = naive_counts(&rows);
        let distinct: HashSet<&Vec<i32>> = rows.iter().collect();

        let mut by_rows = UniqueCodes::new(dim);
        by_rows.insert_rows(row_major(dim, &rows).view())?;
        let mut by_columns = UniqueCodes::new(dim);
        by_columns.insert_rows(column_major(dim, &rows).view())?;
        let mut one_by_one = UniqueCodes::new(dim);
        for row in &rows {
            one_by_one.insert(row)?;
        }

        for unique in [&by_rows, &by_columns, &one_by_one] {
            prop_assert_eq!(unique.dim(), dim);
            prop_assert_eq!(unique.len(), distinct.len());
            prop_assert_eq!(unique.is_empty(), rows.is_empty());
            prop_assert_eq!(unique.total(), rows.len() as u64);
            for (code, &count) in &naive {
                prop_assert_eq!(unique.count_of(code), count);
            }
            // 3 is outside the generated value range, so this code never occurs.
            prop_assert_eq!(unique.count_of(&vec![3; dim]), 0);
            prop_assert_eq!(unique.count_of(&vec![0; dim + 1]), 0);
            let mut expected: Vec<u64> = naive.values().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(sorted_counts(unique), expected);
        }
    }

    #[test]
    fn merged_unique_codes_equal_the_count_of_the_union(
        (dim, rows) in code_rows(80),
        split in 0.0..=1.0_f64,
    ) {
        let split = (split * rows.len() as f64) as usize;
        let (left_rows, right_rows) = rows.split_at(split);
        let mut left = UniqueCodes::new(dim);
        left.insert_rows(row_major(dim, left_rows).view())?;
        let mut right = UniqueCodes::new(dim);
        right.insert_rows(row_major(dim, right_rows).view())?;
        let mut union = UniqueCodes::new(dim);
        union.insert_rows(row_major(dim, &rows).view())?;

        left.merge(&right)?;
        prop_assert_eq!(left.len(), union.len());
        prop_assert_eq!(left.total(), union.total());
        for code in &rows {
            prop_assert_eq!(left.count_of(code), union.count_of(code));
        }
        prop_assert_eq!(sorted_counts(&left), sorted_counts(&union));
    }

    #[test]
    fn code_keys_differ_when_one_entry_differs(
        code in prop::collection::vec(any::<i32>(), 1..300),
        position in any::<prop::sample::Index>(),
        change in 1..=u32::MAX,
    ) {
        let mut other = code.clone();
        let entry = &mut other[position.index(code.len())];
        *entry = entry.wrapping_add_unsigned(change);
        prop_assert_ne!(code_key(&code), code_key(&other));
    }

    #[test]
    fn code_keys_differ_between_a_code_and_its_extension(
        code in prop::collection::vec(-3_i32..=3, 0..300),
        extra in -3_i32..=3,
    ) {
        let mut longer = code.clone();
        longer.push(extra);
        prop_assert_ne!(code_key(&code), code_key(&longer));
    }

    #[test]
    fn code_key_is_xxh3_128_of_little_endian_bytes(
        code in prop::collection::vec(any::<i32>(), 0..700),
    ) {
        let expected = xxhash_rust::xxh3::xxh3_128(&little_endian_bytes(&code));
        prop_assert_eq!(code_key(&code), expected);
        prop_assert_eq!(CodeVector::from(code.as_slice()).key(), expected);
    }

    #[test]
    fn code_vectors_order_and_hash_like_their_slices(
        left in prop::collection::vec(-2_i32..=2, 0..5),
        right in prop::collection::vec(-2_i32..=2, 0..5),
    ) {
        let left_vector = CodeVector::from(left.clone());
        let right_vector = CodeVector::from(right.as_slice());
        prop_assert_eq!(left_vector.as_slice(), left.as_slice());
        prop_assert_eq!(left_vector.cmp(&right_vector), left.cmp(&right));
        prop_assert_eq!(left_vector == right_vector, left == right);

        let mut map = HashMap::new();
        map.insert(left_vector, 1);
        *map.entry(right_vector).or_insert(0) += 10;
        let expected_left = if left == right { 11 } else { 1 };
        prop_assert_eq!(map.get(left.as_slice()).copied(), Some(expected_left));
        prop_assert_eq!(map.len(), if left == right { 1 } else { 2 });
    }

    #[test]
    fn merged_sketches_equal_the_sketch_of_the_union(
        (dim, rows) in code_rows(200),
        split in 0.0..=1.0_f64,
        precision in HyperLogLog::MIN_PRECISION..=10,
    ) {
        let split = (split * rows.len() as f64) as usize;
        let (left_rows, right_rows) = rows.split_at(split);
        let mut left = HyperLogLog::new(precision)?;
        left.insert_rows(row_major(dim, left_rows).view());
        let mut right = HyperLogLog::new(precision)?;
        right.insert_rows(column_major(dim, right_rows).view());
        let union = sketch_of(precision, &rows);

        left.merge(&right)?;
        prop_assert_eq!(left.registers(), union.registers());
        prop_assert_eq!(left.estimate(), union.estimate());
    }

    #[test]
    fn perplexity_of_uniform_counts_is_the_number_of_codes(
        codes in 1_usize..500,
        count in 1_u64..1_000_000_000,
    ) {
        let value = perplexity(std::iter::repeat_n(count, codes));
        prop_assert!((value - codes as f64).abs() <= 1e-9 * codes as f64, "{value} vs {codes}");
    }

    #[test]
    fn perplexity_of_one_code_is_one(count in 1_u64..=u64::MAX, zeros in 0_usize..10) {
        let counts = std::iter::once(count).chain(std::iter::repeat_n(0, zeros));
        prop_assert_eq!(perplexity(counts), 1.0);
    }

    #[test]
    fn perplexity_matches_its_definition(
        counts in prop::collection::vec(prop_oneof![Just(0_u64), 1_u64..1_000_000], 0..200),
    ) {
        let value = perplexity(counts.iter().copied());
        let expected = direct_perplexity(&counts);
        prop_assert!((value - expected).abs() <= 1e-9 * expected, "{value} vs {expected}");
        let used = counts.iter().filter(|&&count| count > 0).count().max(1) as f64;
        prop_assert!(value >= 1.0 && value <= used * (1.0 + 1e-12), "{value} with {used} codes");
    }

    #[test]
    fn unique_codes_perplexity_is_the_perplexity_of_their_counts((dim, rows) in code_rows(60)) {
        let mut unique = UniqueCodes::new(dim);
        unique.insert_rows(row_major(dim, &rows).view())?;
        let counts: Vec<u64> = naive_counts(&rows).into_values().collect();
        let expected = direct_perplexity(&counts);
        prop_assert!((unique.perplexity() - expected).abs() <= 1e-9 * expected);
    }

    #[test]
    fn dimension_histograms_match_a_naive_count((dim, rows) in code_rows(60)) {
        let mut by_rows = DimensionHistograms::new(dim);
        by_rows.insert_rows(row_major(dim, &rows).view())?;
        let mut by_columns = DimensionHistograms::new(dim);
        by_columns.insert_rows(column_major(dim, &rows).view())?;
        let mut one_by_one = DimensionHistograms::new(dim);
        for row in &rows {
            one_by_one.insert(row)?;
        }

        for histograms in [&by_rows, &by_columns, &one_by_one] {
            prop_assert_eq!(histograms.dim(), dim);
            prop_assert_eq!(histograms.total(), rows.len() as u64);
            for d in 0..dim {
                let mut naive = BTreeMap::new();
                for row in &rows {
                    *naive.entry(row[d]).or_insert(0_u64) += 1;
                }
                prop_assert_eq!(histograms.histogram(d), Some(&naive));
                prop_assert_eq!(histograms.distinct_values(d), Some(naive.len()));
                let counts: Vec<u64> = naive.values().copied().collect();
                let value = histograms.perplexity(d).expect("d < dim");
                let expected = direct_perplexity(&counts);
                prop_assert!((value - expected).abs() <= 1e-9 * expected);
            }
            prop_assert_eq!(histograms.histogram(dim), None);
            prop_assert_eq!(histograms.distinct_values(dim), None);
            prop_assert_eq!(histograms.perplexity(dim), None);
        }
    }

    #[test]
    fn merged_dimension_histograms_equal_the_histograms_of_the_union(
        (dim, rows) in code_rows(80),
        split in 0.0..=1.0_f64,
    ) {
        let split = (split * rows.len() as f64) as usize;
        let (left_rows, right_rows) = rows.split_at(split);
        let mut left = DimensionHistograms::new(dim);
        left.insert_rows(row_major(dim, left_rows).view())?;
        let mut right = DimensionHistograms::new(dim);
        right.insert_rows(row_major(dim, right_rows).view())?;
        let mut union = DimensionHistograms::new(dim);
        union.insert_rows(row_major(dim, &rows).view())?;

        left.merge(&right)?;
        prop_assert_eq!(left, union);
    }
}

#[test]
fn code_vectors_convert_from_slices_and_vectors_alike() {
    let from_vec = CodeVector::from(vec![1, -2, 3]);
    let from_slice = CodeVector::from(&[1, -2, 3][..]);
    assert_eq!(from_vec, from_slice);
    assert_eq!(from_vec.key(), code_key(&[1, -2, 3]));
    assert_eq!(from_vec.as_ref(), &[1, -2, 3]);

    let set: BTreeSet<CodeVector> = [vec![2], vec![1, 5], vec![1]]
        .into_iter()
        .map(CodeVector::from)
        .collect();
    let ordered: Vec<&[i32]> = set.iter().map(CodeVector::as_slice).collect();
    assert_eq!(ordered, [&[1][..], &[1, 5], &[2]]);
}

#[test]
fn empty_and_zero_length_codes_have_keys() {
    assert_eq!(code_key(&[]), xxhash_rust::xxh3::xxh3_128(&[]));
    assert_ne!(code_key(&[]), code_key(&[0]));
    assert_ne!(code_key(&[1]), code_key(&[1, 0]));
    assert_ne!(code_key(&[0; 256]), code_key(&[0; 257]));

    // With D = 0 every row is the one empty code vector.
    let mut unique = UniqueCodes::new(0);
    unique
        .insert_rows(Array2::<i32>::zeros((5, 0)).view())
        .unwrap();
    unique.insert(&[]).unwrap();
    assert_eq!(
        (unique.len(), unique.total(), unique.count_of(&[])),
        (1, 6, 6)
    );
}

#[test]
fn shape_mismatches_are_reported_and_count_nothing() {
    let mut unique = UniqueCodes::new(3);
    assert_eq!(
        unique.insert(&[1, 2]),
        Err(Error::ShapeMismatch {
            what: "code",
            expected: vec![3],
            found: vec![2]
        })
    );
    assert_eq!(
        unique.insert_rows(Array2::zeros((4, 2)).view()),
        Err(Error::ShapeMismatch {
            what: "codes",
            expected: vec![4, 3],
            found: vec![4, 2]
        })
    );
    assert!(unique.is_empty());
    assert_eq!(unique.total(), 0);

    let mut histograms = DimensionHistograms::new(3);
    assert_eq!(
        histograms.insert(&[1, 2, 3, 4]),
        Err(Error::ShapeMismatch {
            what: "code",
            expected: vec![3],
            found: vec![4]
        })
    );
    assert_eq!(
        histograms.insert_rows(Array2::zeros((2, 5)).view()),
        Err(Error::ShapeMismatch {
            what: "codes",
            expected: vec![2, 3],
            found: vec![2, 5]
        })
    );
    assert_eq!(histograms, DimensionHistograms::new(3));
}

/// Found by fuzzing (fuzz/corpus/epoch_codes/seed-huge-count): counts restored from a
/// checkpoint's codes file can sit next to `u64::MAX`, and counting on past it was an
/// overflow panic (debug builds) or a wrapped total (release builds).
#[test]
fn counting_past_u64_max_is_an_error_that_counts_nothing() {
    let mut unique = UniqueCodes::new(2);
    unique
        .add_key_count(code_key(&[0, 0]), u64::MAX - 1)
        .unwrap();
    unique.insert(&[1, 1]).unwrap();
    let counts = |u: &UniqueCodes| (u.len(), u.total(), u.count_of(&[0, 0]), u.count_of(&[1, 1]));
    let full = (2, u64::MAX, u64::MAX - 1, 1);
    assert_eq!(counts(&unique), full);
    assert!(matches!(unique.insert(&[0, 0]), Err(Error::CountOverflow)));
    assert!(matches!(
        unique.insert_rows(Array2::zeros((1, 2)).view()),
        Err(Error::CountOverflow)
    ));
    let copy = unique.clone();
    assert!(matches!(unique.merge(&copy), Err(Error::CountOverflow)));
    assert_eq!(counts(&unique), full);
    // Adding nothing still works.
    unique.merge(&UniqueCodes::new(2)).unwrap();
    unique.insert_rows(Array2::zeros((0, 2)).view()).unwrap();
    assert_eq!(counts(&unique), full);
}

#[test]
fn merging_different_dimensions_is_refused() {
    let mut unique = UniqueCodes::new(2);
    unique.insert(&[1, 1]).unwrap();
    let mut other = UniqueCodes::new(3);
    other.insert(&[1, 1, 1]).unwrap();
    assert!(matches!(
        unique.merge(&other),
        Err(Error::MergeMismatch {
            left: 2,
            right: 3,
            ..
        })
    ));
    assert_eq!((unique.len(), unique.total()), (1, 1));

    let mut histograms = DimensionHistograms::new(2);
    histograms.insert(&[1, 1]).unwrap();
    let before = histograms.clone();
    let mut other = DimensionHistograms::new(4);
    other.insert(&[1, 1, 1, 1]).unwrap();
    assert!(matches!(
        histograms.merge(&other),
        Err(Error::MergeMismatch {
            left: 2,
            right: 4,
            ..
        })
    ));
    assert_eq!(histograms, before);
}

#[test]
fn sketch_estimates_are_within_three_standard_errors() {
    // Precision 18 (0.2% standard error) is there to catch small biases of the estimator.
    let mut finest = HyperLogLog::new(18).unwrap();
    let mut fine = HyperLogLog::new(14).unwrap();
    let mut coarse = HyperLogLog::new(10).unwrap();
    let checkpoints: [i32; 6] = [10, 100, 1_000, 10_000, 100_000, 1_000_000];
    let mut inserted = 0;
    for checkpoint in checkpoints {
        while inserted < checkpoint {
            // Distinct for every i, and spread over several entries like real codes.
            let key = code_key(&[inserted % 1_000, inserted / 1_000, -3, 7]);
            finest.insert_key(key);
            fine.insert_key(key);
            coarse.insert_key(key);
            inserted += 1;
        }
        for sketch in [&finest, &fine, &coarse] {
            let estimate = sketch.estimate();
            let error = (estimate - checkpoint as f64).abs() / checkpoint as f64;
            assert!(
                error <= 3.0 * sketch.relative_standard_error(),
                "precision {}: estimate {estimate} for {checkpoint} distinct codes",
                sketch.precision()
            );
        }
    }
}

#[test]
fn sketch_estimates_track_exact_counts_of_data_with_duplicates() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let dim = 16;
    // In the first half only the first 4 entries vary: at most 81 distinct codes and many
    // duplicates. The second half is mostly distinct.
    let codes = Array2::from_shape_fn((50_000, dim), |(row, d)| {
        if row < 25_000 && d >= 4 {
            0
        } else {
            rng.random_range(-1..=1)
        }
    });
    let mut unique = UniqueCodes::new(dim);
    unique.insert_rows(codes.view()).unwrap();
    let mut sketch = HyperLogLog::new(12).unwrap();
    let mut column_major_codes = Array2::zeros((50_000, dim).f());
    column_major_codes.assign(&codes);
    sketch.insert_rows(column_major_codes.view());
    let mut reversed = codes.view();
    reversed.invert_axis(Axis(0));
    sketch.insert_rows(reversed);

    let exact = unique.len() as f64;
    assert!(exact > 20_000.0 && (unique.total() as f64) > exact);
    let error = (sketch.estimate() - exact).abs() / exact;
    assert!(
        error <= 3.0 * sketch.relative_standard_error(),
        "{} vs {exact}",
        sketch.estimate()
    );
}

#[test]
fn large_merged_sketches_equal_the_sketch_of_the_union() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let left_codes = random_codes(&mut rng, 30_000);
    let mut right_codes = random_codes(&mut rng, 30_000);
    right_codes.extend_from_slice(&left_codes[..10_000]);
    let mut union_codes = left_codes.clone();
    union_codes.extend_from_slice(&right_codes);

    let mut merged = sketch_of(14, &left_codes);
    merged.merge(&sketch_of(14, &right_codes)).unwrap();
    let union = sketch_of(14, &union_codes);
    assert_eq!(merged, union);
    assert_eq!(merged.estimate(), union.estimate());
    assert!(merged.estimate() > 50_000.0);
}

#[test]
fn duplicates_do_not_change_a_sketch() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let codes = random_codes(&mut rng, 5_000);
    let once = sketch_of(12, &codes);
    let mut repeated = once.clone();
    for code in codes.iter().rev().chain(&codes) {
        repeated.insert(code);
    }
    assert_eq!(repeated, once);
    assert_eq!(repeated.estimate(), once.estimate());
}

#[test]
fn sketch_precision_outside_the_supported_range_is_refused() {
    for precision in [0, 3, 19, u8::MAX] {
        assert_eq!(
            HyperLogLog::new(precision),
            Err(Error::InvalidPrecision {
                precision,
                min: HyperLogLog::MIN_PRECISION,
                max: HyperLogLog::MAX_PRECISION
            })
        );
    }
    assert_eq!(
        (HyperLogLog::MIN_PRECISION, HyperLogLog::MAX_PRECISION),
        (4, 18)
    );
    for precision in HyperLogLog::MIN_PRECISION..=HyperLogLog::MAX_PRECISION {
        let sketch = HyperLogLog::new(precision).unwrap();
        assert_eq!(sketch.precision(), precision);
        assert_eq!(sketch.registers().len(), 1 << precision);
        assert_eq!(sketch.estimate(), 0.0);
        let m = (1_u32 << precision) as f64;
        assert!((sketch.relative_standard_error() - 1.04 / m.sqrt()).abs() < 1e-15);
    }
}

#[test]
fn merging_sketches_of_different_precision_is_refused() {
    let mut sketch = HyperLogLog::new(10).unwrap();
    sketch.insert(&[1, 2]);
    let before = sketch.clone();
    let mut other = HyperLogLog::new(12).unwrap();
    other.insert(&[3, 4]);
    assert!(matches!(
        sketch.merge(&other),
        Err(Error::MergeMismatch {
            left: 10,
            right: 12,
            ..
        })
    ));
    assert_eq!(sketch, before);
}

#[test]
fn sketch_registers_follow_the_low_64_bits_of_the_key() {
    // Top 4 bits pick register 0b1010; after them come 7 zero bits and a one: rank 8.
    let key = (0xdead_u128 << 64) | (0b1010_0000_0001 << 52);
    let mut sketch = HyperLogLog::new(4).unwrap();
    sketch.insert_key(key);
    let mut expected = vec![0; 16];
    expected[0b1010] = 8;
    assert_eq!(sketch.registers(), expected);

    // All-zero remaining bits get the largest rank, 64 - p + 1.
    sketch.insert_key(0b0011 << 60);
    expected[0b0011] = 61;
    assert_eq!(sketch.registers(), expected);
    assert!(sketch.estimate().is_finite() && sketch.estimate() > 0.0);
}

#[test]
fn perplexity_of_nothing_is_one() {
    assert_eq!(perplexity(Vec::new()), 1.0);
    assert_eq!(perplexity([0, 0, 0]), 1.0);
    assert_eq!(UniqueCodes::new(4).perplexity(), 1.0);
    assert_eq!(DimensionHistograms::new(4).perplexity(2), Some(1.0));
}

#[test]
fn perplexity_of_huge_counts_is_finite() {
    let value = perplexity([u64::MAX, u64::MAX, u64::MAX]);
    assert!((value - 3.0).abs() < 1e-9, "{value}");
}
