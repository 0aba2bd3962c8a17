//! The IDX format of (Fashion-)MNIST, plain or gzip-compressed.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// An IDX array of unsigned bytes: its dimensions and data, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes, outermost first.
    pub dims: Vec<usize>,
    /// The values, `dims.iter().product()` of them.
    pub data: Vec<u8>,
}

/// Read an unsigned-byte IDX file (magic `0x00 0x00 0x08 ndim`), gzip-compressed when its
/// name ends in `.gz`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read (or decompressed); [`Error::Format`] for a wrong
/// magic number, an element type other than unsigned bytes, or a file whose length does not
/// match its header (truncated or with trailing bytes).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_idx(path, &raw)
}

/// Decode the contents `raw` of an unsigned-byte IDX file named `name`: gunzipped first
/// when the name ends in `.gz`. For files already in memory (the [embedded
/// sample](super::embedded)); `name` only labels the errors and picks the compression.
///
/// # Errors
/// As [`read_idx`], naming `name`.
pub fn decode_idx(name: &Path, raw: &[u8]) -> Result<IdxArray> {
    let unzipped;
    let bytes = if name.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|source| Error::Io {
                path: name.to_path_buf(),
                source,
            })?;
        unzipped = out;
        unzipped.as_slice()
    } else {
        raw
    };
    parse_idx(bytes).map_err(|problem| Error::Format {
        path: name.to_path_buf(),
        problem,
    })
}

/// Parse the bytes of an unsigned-byte IDX file.
///
/// # Errors
/// A description of the first problem found.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    let Some(&[zero_a, zero_b, kind, ndim]) =
        bytes.get(..4).and_then(|b| <&[u8; 4]>::try_from(b).ok())
    else {
        return Err("shorter than an IDX header".into());
    };
    if zero_a != 0 || zero_b != 0 {
        return Err("bad magic number: not an IDX file".into());
    }
    if kind != 0x08 {
        return Err(format!(
            "element type 0x{kind:02x}, expected unsigned bytes (0x08)"
        ));
    }
    let header = 4 + 4 * ndim as usize;
    let Some(dim_bytes) = bytes.get(4..header) else {
        return Err(format!("header of {ndim} dimensions is truncated"));
    };
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let found = bytes.len() - header;
    match expected {
        Some(expected) if expected == found => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        Some(expected) => Err(format!(
            "header {dims:?} announces {expected} values but the file holds {found}: truncated or corrupt"
        )),
        None => Err(format!("dimensions {dims:?} overflow")),
    }
}
