//! Target `epoch_codes`: a checkpoint's file of the epoch's distinct codes, and counting on
//! from what it restores.

use std::path::Path;

use lattice_vq_core::{Error as CoreError, UniqueCodes};
use lattice_vq_experiments::Error;
use lattice_vq_experiments::train::epoch_codes::{decode, encode};

/// The bytes as an `epoch_codes.bin`.
///
/// Asserts: [`decode`] gives a format error, or the codes that [`encode`] writes back as
/// exactly these bytes (the format has one encoding per set of counts); counting on from
/// restored codes (a row, a merge with themselves) adds to them or, where a count would
/// pass `u64::MAX`, is a count-overflow error that changes nothing. Never a panic.
pub fn epoch_codes(data: &[u8]) {
    let codes = match decode(Path::new("epoch_codes.bin"), data) {
        Ok(codes) => codes,
        Err(Error::Format { .. }) => return,
        Err(other) => panic!("unexpected error kind {other:?}"),
    };
    assert_eq!(
        encode(codes.as_ref()),
        data,
        "encode(decode(bytes)) == bytes"
    );
    let Some(mut codes) = codes else {
        return;
    };
    let pairs = codes.key_counts();
    assert_eq!(pairs.len(), codes.len());
    let total = pairs.iter().try_fold(0u64, |t, &(_, c)| t.checked_add(c));
    assert_eq!(total, Some(codes.total()), "total is the sum of the counts");

    if codes.dim() <= 1024 {
        let row = vec![0; codes.dim()];
        let before = (codes.len(), codes.total(), codes.count_of(&row));
        match codes.insert(&row) {
            Ok(()) => assert_eq!(codes.count_of(&row), before.2 + 1),
            Err(CoreError::CountOverflow) => {
                assert_eq!((codes.len(), codes.total(), codes.count_of(&row)), before);
            }
            Err(other) => panic!("insert: {other:?}"),
        }
    }
    let copy: UniqueCodes = codes.clone();
    let before = codes.key_counts();
    match codes.merge(&copy) {
        Ok(()) => {
            let doubled: Vec<(u128, u64)> = before.iter().map(|&(k, c)| (k, 2 * c)).collect();
            assert_eq!(
                codes.key_counts(),
                doubled,
                "merged with itself: counts double"
            );
        }
        Err(CoreError::CountOverflow) => assert_eq!(codes.key_counts(), before, "unchanged"),
        Err(other) => panic!("merge: {other:?}"),
    }
}
