//! Codebook usage of finite codebooks against a naive count of the token stream.

use std::collections::BTreeMap;

use lattice_vq_core::Error;
use lattice_vq_core::codebook_usage::CodebookUsage;
use lattice_vq_core::perplexity;
use proptest::prelude::*;

/// Codebook sizes on both sides of the dense/sparse switch (2^16), up to 2^64 and beyond.
fn codebook_size() -> impl Strategy<Value = u128> {
    prop_oneof![
        1_u128..=64,
        Just(1 << 16),
        Just((1 << 16) + 1),
        (1_u128 << 16) + 1..=1 << 64,
        Just(1 << 64),
        Just(u128::MAX),
    ]
}

/// A codebook size and a stream of its tokens, drawn from 24 hot tokens so that repeats
/// occur even in huge codebooks.
fn token_stream(max_len: usize) -> impl Strategy<Value = (u128, Vec<u64>)> {
    codebook_size().prop_flat_map(move |k| {
        (
            Just(k),
            prop::collection::vec(any::<u64>(), 24),
            prop::collection::vec(0_usize..24, 0..max_len),
        )
            .prop_map(|(k, hot, picks)| {
                let tokens = picks
                    .iter()
                    .map(|&pick| (u128::from(hot[pick]) % k) as u64)
                    .collect();
                (k, tokens)
            })
    })
}

fn naive_counts(tokens: &[u64]) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for &token in tokens {
        *counts.entry(token).or_insert(0) += 1;
    }
    counts
}

fn usage_of(k: u128, tokens: &[u64]) -> CodebookUsage {
    let mut usage = CodebookUsage::new(k).expect("k >= 1");
    usage.insert_indices(tokens).expect("tokens below k");
    usage
}

proptest! {
    #[test]
    fn codebook_usage_matches_a_naive_count((k, tokens) in token_stream(200)) {
        let naive = naive_counts(&tokens);
        let usage = usage_of(k, &tokens);

        prop_assert_eq!(usage.codebook_size(), k);
        prop_assert_eq!(usage.total(), tokens.len() as u64);
        prop_assert_eq!(usage.used(), naive.len() as u64);
        prop_assert_eq!(usage.dead_codes(), k - naive.len() as u128);
        prop_assert_eq!(usage.used_fraction(), naive.len() as f64 / k as f64);
        for (&token, &count) in &naive {
            prop_assert_eq!(usage.count_of(token), count);
        }
        let expected: Vec<(u64, u64)> = naive.iter().map(|(&t, &c)| (t, c)).collect();
        prop_assert_eq!(usage.counts().collect::<Vec<_>>(), expected);
        // Both sum the counts in index order, so the values agree to the bit.
        prop_assert_eq!(usage.perplexity(), perplexity(naive.values().copied()));
        prop_assert!(usage.perplexity() >= 1.0);
        prop_assert!(usage.perplexity() <= naive.len().max(1) as f64 * (1.0 + 1e-12));
    }

    #[test]
    fn counting_in_batches_equals_one_pass(
        (k, tokens) in token_stream(200),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(tokens.len() + 1)).collect();
        cuts.sort_unstable();
        let mut batched = CodebookUsage::new(k)?;
        let mut start = 0;
        for cut in cuts.into_iter().chain([tokens.len()]) {
            batched.insert_indices(&tokens[start..cut])?;
            start = cut;
        }
        prop_assert_eq!(batched, usage_of(k, &tokens));
    }

    #[test]
    fn merge_of_two_halves_equals_one_pass(
        (k, tokens) in token_stream(200),
        cut in any::<prop::sample::Index>(),
        overloads in prop::collection::vec((0_u64..100, 0_u64..100), 0..6),
        overload_cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(tokens.len() + 1);
        let overload_cut = overload_cut.index(overloads.len() + 1);
        let overloads: Vec<(u64, u64)> =
            overloads.into_iter().map(|(a, b)| (a.min(b), a.max(b))).collect();

        let mut whole = usage_of(k, &tokens);
        for &(overloaded, scalars) in &overloads {
            whole.add_overload(overloaded, scalars)?;
        }
        let mut left = usage_of(k, &tokens[..cut]);
        let mut right = usage_of(k, &tokens[cut..]);
        for &(overloaded, scalars) in &overloads[..overload_cut] {
            left.add_overload(overloaded, scalars)?;
        }
        for &(overloaded, scalars) in &overloads[overload_cut..] {
            right.add_overload(overloaded, scalars)?;
        }

        let mut right_then_left = right.clone();
        right_then_left.merge(&left)?;
        left.merge(&right)?;
        prop_assert_eq!(&left, &whole);
        prop_assert_eq!(&right_then_left, &whole);
        prop_assert_eq!(left.perplexity(), whole.perplexity());
    }

    #[test]
    fn out_of_range_tokens_are_typed_errors_and_count_nothing(
        (k, tokens) in token_stream(100),
        position in any::<prop::sample::Index>(),
        excess in any::<u64>(),
    ) {
        // Only codebooks with at most 2^64 - 1 codes have out-of-range u64 tokens.
        prop_assume!(k <= u128::from(u64::MAX));
        let before = usage_of(k, &tokens[..tokens.len() / 2]);
        let bad = k as u64 + excess % (u64::MAX - k as u64 + 1);
        let row = position.index(tokens.len() + 1);
        let mut batch = tokens.clone();
        batch.insert(row, bad);

        let mut usage = before.clone();
        let err = usage.insert_indices(&batch).unwrap_err();
        prop_assert_eq!(err, Error::TokenOutOfRange { row, index: bad, codebook_size: k });
        prop_assert_eq!(&usage, &before);
        prop_assert_eq!(usage.count_of(bad), 0);
    }

    #[test]
    fn overload_rate_is_overloaded_over_scalars(
        records in prop::collection::vec((0_u64..1_000, 0_u64..1_000), 0..10),
    ) {
        let records: Vec<(u64, u64)> =
            records.into_iter().map(|(a, b)| (a.min(b), a.max(b))).collect();
        let mut usage = CodebookUsage::new(256)?;
        for &(overloaded, scalars) in &records {
            usage.add_overload(overloaded, scalars)?;
        }
        let overloaded: u64 = records.iter().map(|&(o, _)| o).sum();
        let scalars: u64 = records.iter().map(|&(_, s)| s).sum();
        prop_assert_eq!((usage.overloaded(), usage.scalars()), (overloaded, scalars));
        let expected = (scalars > 0).then(|| overloaded as f64 / scalars as f64);
        prop_assert_eq!(usage.overload_rate(), expected);
        if let Some(rate) = usage.overload_rate() {
            prop_assert!((0.0..=1.0).contains(&rate));
        }
        // Overload records leave the token counts alone.
        prop_assert_eq!((usage.total(), usage.used()), (0, 0));
    }
}

#[test]
fn an_empty_codebook_is_refused() {
    let err = CodebookUsage::new(0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "codebook_size",
                ..
            }
        ),
        "{err:?}"
    );
    let one = CodebookUsage::new(1).unwrap();
    assert_eq!((one.dead_codes(), one.used_fraction()), (1, 0.0));
}

#[test]
fn an_empty_window_has_perplexity_one_and_every_code_dead() {
    for k in [5, 1 << 20, u128::MAX] {
        let usage = CodebookUsage::new(k).unwrap();
        assert_eq!(usage.total(), 0);
        assert_eq!(usage.used(), 0);
        assert_eq!(usage.dead_codes(), k);
        assert_eq!(usage.perplexity(), 1.0);
        assert_eq!(usage.overload_rate(), None);
        assert_eq!(usage.counts().count(), 0);
    }
}

#[test]
fn dense_and_sparse_codebooks_count_alike_at_the_switch() {
    for k in [(1_u128 << 16) - 1, 1 << 16, (1 << 16) + 1] {
        let last = (k - 1) as u64;
        let usage = usage_of(k, &[0, last, last, 7]);
        assert_eq!(usage.used(), 3, "k = {k}");
        assert_eq!(usage.count_of(last), 2, "k = {k}");
        assert_eq!(usage.count_of(last + 1), 0, "k = {k}");
        assert_eq!(usage.dead_codes(), k - 3, "k = {k}");
        let mut usage = usage;
        let err = usage.insert_indices(&[last + 1]).unwrap_err();
        assert!(
            matches!(err, Error::TokenOutOfRange { row: 0, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn the_largest_token_counts_in_a_two_to_the_sixty_four_codebook() {
    let usage = usage_of(1 << 64, &[u64::MAX, u64::MAX, 0]);
    assert_eq!(usage.count_of(u64::MAX), 2);
    assert_eq!(usage.dead_codes(), (1 << 64) - 2);
    let mut smaller = CodebookUsage::new(u128::from(u64::MAX)).unwrap();
    let err = smaller.insert_indices(&[u64::MAX]).unwrap_err();
    assert_eq!(
        err,
        Error::TokenOutOfRange {
            row: 0,
            index: u64::MAX,
            codebook_size: u128::from(u64::MAX),
        }
    );
}

#[test]
fn merging_different_codebooks_is_an_error_and_changes_nothing() {
    let mut left = usage_of(3, &[0, 2]);
    let before = left.clone();
    let err = left.merge(&CodebookUsage::new(4).unwrap()).unwrap_err();
    assert_eq!(
        err,
        Error::MergeMismatch {
            what: "codebook sizes",
            left: 3,
            right: 4,
        }
    );
    // A size beyond usize is reported as usize::MAX.
    let err = left
        .merge(&CodebookUsage::new(u128::MAX).unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        Error::MergeMismatch {
            what: "codebook sizes",
            left: 3,
            right: usize::MAX,
        }
    );
    assert_eq!(left, before);
}

#[test]
fn overload_records_are_checked_and_overflow_is_an_error() {
    let mut usage = CodebookUsage::new(16).unwrap();
    let err = usage.add_overload(5, 4).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "overloaded",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("5 (of 4 scalars)"), "{err}");
    assert_eq!(usage.overload_rate(), None);

    usage.add_overload(1, u64::MAX).unwrap();
    let full = usage.clone();
    assert_eq!(usage.add_overload(0, 1), Err(Error::CountOverflow));
    assert_eq!(usage, full);
    // Merging would overflow the scalars too: refused, nothing changed.
    assert_eq!(usage.merge(&full), Err(Error::CountOverflow));
    assert_eq!(usage, full);
}

#[test]
fn reset_starts_a_new_window_over_the_same_codebook() {
    for k in [10, 1 << 40] {
        let mut usage = usage_of(k, &[1, 2, 2, 9]);
        usage.add_overload(3, 8).unwrap();
        usage.reset();
        assert_eq!(usage, CodebookUsage::new(k).unwrap());
        usage.insert_indices(&[4]).unwrap();
        assert_eq!(usage, usage_of(k, &[4]));
    }
}
