//! Target `core_counting`: exact code counting, HyperLogLog sketches and their merging on
//! arbitrary code bit patterns.

use std::collections::{HashMap, HashSet};

use lattice_vq_core::{DimensionHistograms, Error, HyperLogLog, UniqueCodes, code_key, perplexity};
use ndarray::{Array2, ArrayView2, ShapeBuilder, s};

use crate::input::Input;

/// Input layout: a flag byte (bit 0: codes are -1, 0 or 1, one byte each, so that rows
/// repeat; else raw `i32` bit patterns), a dimension byte (below 240: D = byte mod 9, 0
/// allowed; above: D = 250..=280, around the 256 codes hashed in one shot by
/// [`code_key`]), a precision byte (raw, then mod 15 + 4 for the sketches), a split byte
/// (where the rows are cut into two shards), for D = 0 a row count byte, then as many rows
/// of D codes as the rest holds.
///
/// Asserts against a brute-force `HashMap` of the rows: [`UniqueCodes`] counts the same
/// distinct rows, totals and per-row counts, in row-major, column-major and reversed
/// layouts and row by row; merged shards equal the union; perplexities match the counts;
/// [`HyperLogLog`] sketches of any layout, row by row or by key are equal, merged shards
/// equal the sketch of the union in either order, an empty sketch estimates 0 and any
/// other a positive finite number; [`DimensionHistograms`] match per-column counts and
/// merge like the rest; mismatched dimensions and precisions are errors that change
/// nothing. Never a panic.
pub fn core_counting(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let dim = match input.u8() {
        d @ 0..240 => usize::from(d % 9),
        d => 250 + usize::from(d - 240) * 2,
    };
    let precision = input.u8();
    let split = usize::from(input.u8());
    let small = flags & 1 != 0;
    let rows = if dim == 0 {
        usize::from(input.u8())
    } else {
        input.len() / (dim * if small { 1 } else { 4 })
    };
    let values: Vec<i32> = (0..rows * dim)
        .map(|_| {
            if small {
                i32::from(input.u8() % 3) - 1
            } else {
                input.i32()
            }
        })
        .collect();
    let codes = Array2::from_shape_vec((rows, dim), values).expect("row-major codes");
    let mut column_major = Array2::zeros((rows, dim).f());
    column_major.assign(&codes);
    let cut = rows * split / 255;

    let mut expected: HashMap<Vec<i32>, u64> = HashMap::new();
    for row in codes.rows() {
        *expected.entry(row.to_vec()).or_default() += 1;
    }
    let keys: HashSet<u128> = expected.keys().map(|code| code_key(code)).collect();
    assert_eq!(
        keys.len(),
        expected.len(),
        "code_key tells distinct rows apart"
    );

    check_unique_codes(&codes, &column_major, cut, &expected);
    check_perplexity(&codes);
    check_sketches(&codes, &column_major, cut, precision);
    check_histograms(&codes, cut);
}

/// [`UniqueCodes`] against the brute-force counts.
fn check_unique_codes(
    codes: &Array2<i32>,
    column_major: &Array2<i32>,
    cut: usize,
    expected: &HashMap<Vec<i32>, u64>,
) {
    let (rows, dim) = codes.dim();
    let count = |view: ArrayView2<i32>| {
        let mut unique = UniqueCodes::new(dim);
        unique
            .insert_rows(view)
            .expect("rows of the counter's dimension");
        unique
    };
    let same = |unique: &UniqueCodes, what: &str| {
        assert_eq!(unique.len(), expected.len(), "{what}: distinct rows");
        assert_eq!(unique.total(), rows as u64, "{what}: total");
        assert_eq!(unique.is_empty(), rows == 0, "{what}: is_empty");
        for (code, &n) in expected {
            assert_eq!(unique.count_of(code), n, "{what}: count of {code:?}");
        }
        let mut counts: Vec<u64> = unique.counts().collect();
        let mut wanted: Vec<u64> = expected.values().copied().collect();
        counts.sort_unstable();
        wanted.sort_unstable();
        assert_eq!(counts, wanted, "{what}: counts");
    };
    let all = count(codes.view());
    same(&all, "row-major");
    same(&count(column_major.view()), "column-major");
    same(&count(codes.slice(s![..;-1, ..])), "reversed rows");
    let mut one_by_one = UniqueCodes::new(dim);
    for row in codes.rows() {
        one_by_one.insert(&row.to_vec()).expect("a row of D codes");
    }
    same(&one_by_one, "insert");

    let mut merged = count(codes.slice(s![..cut, ..]));
    merged
        .merge(&count(codes.slice(s![cut.., ..])))
        .expect("same dimension");
    same(&merged, "merged shards");
    let mut other = UniqueCodes::new(dim + 1);
    assert!(matches!(
        other.insert_rows(codes.view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(
        other.is_empty() && other.total() == 0,
        "nothing counted on error"
    );
    assert!(matches!(
        merged.merge(&other),
        Err(Error::MergeMismatch { .. })
    ));
    same(&merged, "after a refused merge");
    let wrong_length: Vec<i32> = vec![0; dim + 1];
    assert_eq!(all.count_of(&wrong_length), 0);

    let reference = reference_perplexity(expected.values().copied());
    let got = all.perplexity();
    assert!(
        (got - reference).abs() <= 1e-9 * reference,
        "perplexity {got}, expected {reference}"
    );
}

/// `exp(H)` of counts as a sum of non-negative terms `p ln(1 / p)`, 1 for no counts.
fn reference_perplexity(counts: impl Iterator<Item = u64> + Clone) -> f64 {
    let total: u128 = counts.clone().map(u128::from).sum();
    if total == 0 {
        return 1.0;
    }
    let entropy: f64 = counts
        .filter(|&c| c > 0)
        .map(|c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    entropy.exp()
}

/// [`perplexity`] of arbitrary `u64` counts: two codes' bits make one count.
fn check_perplexity(codes: &Array2<i32>) {
    let counts: Vec<u64> = codes
        .iter()
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| {
            pair.iter()
                .fold(0u64, |c, &&v| (c << 32) | u64::from(v as u32))
        })
        .collect();
    let got = perplexity(counts.iter().copied());
    let used = counts.iter().filter(|&&c| c > 0).count().max(1) as f64;
    assert!(
        (1.0..=used * (1.0 + 1e-9)).contains(&got),
        "perplexity {got} of {used} used codes"
    );
    let reference = reference_perplexity(counts.iter().copied());
    assert!(
        (got - reference).abs() <= 1e-9 * reference,
        "perplexity {got}, expected {reference} for {counts:?}"
    );
}

/// HyperLogLog sketches: construction, every way of inserting, merging.
fn check_sketches(codes: &Array2<i32>, column_major: &Array2<i32>, cut: usize, precision: u8) {
    let valid = (HyperLogLog::MIN_PRECISION..=HyperLogLog::MAX_PRECISION).contains(&precision);
    match HyperLogLog::new(precision) {
        Ok(sketch) => assert!(valid && sketch.registers().len() == 1 << precision),
        Err(Error::InvalidPrecision { .. }) => assert!(!valid),
        Err(other) => panic!("HyperLogLog::new({precision}): {other:?}"),
    }
    let precision = HyperLogLog::MIN_PRECISION + precision % 15;
    let sketch = |view: ArrayView2<i32>| {
        let mut sketch = HyperLogLog::new(precision).expect("valid precision");
        sketch.insert_rows(view);
        sketch
    };
    let all = sketch(codes.view());
    assert_eq!(sketch(column_major.view()), all, "column-major sketch");
    let mut by_row = HyperLogLog::new(precision).expect("valid precision");
    let mut by_key = by_row.clone();
    for row in codes.rows() {
        by_row.insert(&row.to_vec());
        by_key.insert_key(code_key(&row.to_vec()));
    }
    assert_eq!(by_row, all, "sketch row by row");
    assert_eq!(by_key, all, "sketch by key");

    let (head, tail) = (
        sketch(codes.slice(s![..cut, ..])),
        sketch(codes.slice(s![cut.., ..])),
    );
    let mut forward = head.clone();
    forward.merge(&tail).expect("same precision");
    let mut backward = tail;
    backward.merge(&head).expect("same precision");
    assert_eq!(forward, all, "merged shards are the sketch of the union");
    assert_eq!(backward, all, "merging commutes");
    let mut twice = all.clone();
    twice.merge(&all).expect("same precision");
    assert_eq!(twice, all, "merging is idempotent");
    let other = HyperLogLog::new(HyperLogLog::MIN_PRECISION + (precision - 3) % 15)
        .expect("valid precision");
    assert!(matches!(
        twice.merge(&other),
        Err(Error::MergeMismatch { .. })
    ));
    assert_eq!(twice, all, "a refused merge changes nothing");

    let max_rank = 64 - precision + 1;
    assert!(
        all.registers().iter().all(|&r| r <= max_rank),
        "ranks at most 65 - p"
    );
    let estimate = all.estimate();
    if codes.nrows() == 0 {
        assert_eq!(estimate, 0.0, "empty sketch");
    } else {
        assert!(
            estimate.is_finite() && estimate > 0.0,
            "estimate {estimate}"
        );
    }
}

/// [`DimensionHistograms`] against per-column counts.
fn check_histograms(codes: &Array2<i32>, cut: usize) {
    let (rows, dim) = codes.dim();
    let histograms = |view: ArrayView2<i32>| {
        let mut histograms = DimensionHistograms::new(dim);
        histograms.insert_rows(view).expect("rows of D codes");
        histograms
    };
    let all = histograms(codes.view());
    assert_eq!(all.total(), rows as u64);
    for (d, column) in codes.columns().into_iter().enumerate() {
        let distinct: HashSet<i32> = column.iter().copied().collect();
        assert_eq!(all.distinct_values(d), Some(distinct.len()), "column {d}");
        let histogram = all.histogram(d).expect("a column of D");
        assert_eq!(
            histogram.values().sum::<u64>(),
            rows as u64,
            "column {d} total"
        );
        let p = all.perplexity(d).expect("a column of D");
        assert!(p >= 1.0 && p <= distinct.len().max(1) as f64 * (1.0 + 1e-9));
    }
    assert_eq!(all.histogram(dim), None);
    let mut merged = histograms(codes.slice(s![..cut, ..]));
    merged
        .merge(&histograms(codes.slice(s![cut.., ..])))
        .expect("same dimension");
    assert_eq!(merged, all, "merged histograms are those of the union");
    let mut other = DimensionHistograms::new(dim + 1);
    assert!(other.insert_rows(codes.view()).is_err());
    assert!(merged.merge(&other).is_err());
    assert_eq!(merged, all, "a refused merge changes nothing");
}
