//! The distinct codes of the epoch in progress, saved in a checkpoint so that a resumed
//! epoch's record counts the codes of the batches before the interruption too.
//!
//! Format (little-endian): the 8 bytes `LVQCODE1`, the code width as a `u64` (`u64::MAX`
//! when nothing was counted yet), the number of distinct codes `n` as a `u64`, then `n`
//! pairs of a 128-bit `lattice_vq_core::code_key` and its `u64` count, keys strictly
//! increasing. A file of any other length or order is refused.

use std::path::Path;

use lattice_vq_core::UniqueCodes;

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"LVQCODE1";
const HEADER: usize = 24;
const PAIR: usize = 24;

/// The bytes of `codes` in this module's format.
pub fn encode(codes: Option<&UniqueCodes>) -> Vec<u8> {
    let pairs = codes.map(UniqueCodes::key_counts).unwrap_or_default();
    let mut bytes = Vec::with_capacity(HEADER + PAIR * pairs.len());
    bytes.extend_from_slice(MAGIC);
    let dim = codes.map_or(u64::MAX, |c| c.dim() as u64);
    bytes.extend_from_slice(&dim.to_le_bytes());
    bytes.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
    for (key, count) in pairs {
        bytes.extend_from_slice(&key.to_le_bytes());
        bytes.extend_from_slice(&count.to_le_bytes());
    }
    bytes
}

/// Read what [`encode`] wrote; `path` names the file in errors.
///
/// # Errors
/// [`Error::Format`] naming `path` for a wrong magic, length, order or count.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Option<UniqueCodes>> {
    let broken = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(broken(
            "not an epoch codes file (no LVQCODE1 header)".into(),
        ));
    }
    let (dim, n) = (word(8), word(16));
    let expected = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(PAIR))
        .and_then(|b| b.checked_add(HEADER));
    if expected != Some(bytes.len()) {
        return Err(broken(format!(
            "{} bytes for {n} codes: must be {HEADER} + {PAIR} per code",
            bytes.len()
        )));
    }
    if dim == u64::MAX {
        return match n {
            0 => Ok(None),
            _ => Err(broken("codes without a width".into())),
        };
    }
    let dim = usize::try_from(dim).map_err(|_| broken(format!("code width {dim} too large")))?;
    let mut codes = UniqueCodes::new(dim);
    let mut previous: Option<u128> = None;
    for pair in bytes[HEADER..].chunks_exact(PAIR) {
        let key = u128::from_le_bytes(pair[..16].try_into().expect("16 bytes"));
        let count = u64::from_le_bytes(pair[16..].try_into().expect("8 bytes"));
        if previous.is_some_and(|p| p >= key) || count == 0 {
            return Err(broken(
                "keys must increase strictly and counts be at least 1".into(),
            ));
        }
        previous = Some(key);
        codes
            .add_key_count(key, count)
            .map_err(|e| broken(e.to_string()))?;
    }
    Ok(Some(codes))
}
