//! Target `idx`: the IDX parser and its gzip wrapper on raw bytes.

use std::path::Path;

use lattice_vq_experiments::data::LoadError as Error;
use lattice_vq_experiments::data::idx::{decode_idx, parse_idx, read_idx_from};

/// The bytes as an IDX file, plain and as a `.gz`.
///
/// Asserts: [`parse_idx`] accepts exactly the files its format allows (checked against
/// [`expected_idx`], written independently here) and returns their header and payload;
/// [`decode_idx`] of a plain name agrees with it; of a `.gz` name it returns an I/O or
/// format error or an array whose data matches its dimensions; [`read_idx_from`] gives the
/// same results from a stream that hands out a few bytes per read (the same error for a
/// plain file, an error for a `.gz`). Never a panic.
pub fn idx(data: &[u8]) {
    let parsed = parse_idx(data);
    match (&parsed, expected_idx(data)) {
        (Ok(array), Some((dims, header))) => {
            assert_eq!(array.dims, dims, "dimensions");
            assert_eq!(array.data, data[header..], "payload");
        }
        (Err(_), None) => {}
        (got, expected) => panic!("parse_idx gave {got:?}, the format says {expected:?}"),
    }

    let plain = decode_idx(Path::new("fuzz-idx3-ubyte"), data);
    match (&plain, &parsed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "decode_idx of a plain file is parse_idx"),
        (Err(Error::Format { .. }), Err(_)) => {}
        (got, parsed) => panic!("plain decode_idx gave {got:?}, parse_idx {parsed:?}"),
    }

    let gz_name = Path::new("fuzz-idx3-ubyte.gz");
    let gzipped = decode_idx(gz_name, data);
    let streamed = read_idx_from(Path::new("fuzz-idx3-ubyte"), Trickle::new(data));
    assert_eq!(
        format!("{streamed:?}"),
        format!("{plain:?}"),
        "streamed plain file"
    );
    // Which of two problems a gzip stream reports first (a corrupt deflate block or a bad
    // header before it) depends on how far the decoder reads ahead, so only the outcome
    // is compared.
    match (read_idx_from(gz_name, Trickle::new(data)), &gzipped) {
        (Ok(a), Ok(b)) => assert_eq!(&a, b, "streamed gzip file"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("streamed gzip file: {a:?}, whole: {b:?}"),
    }
    match gzipped {
        Ok(array) => {
            let count = array.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            assert_eq!(count, Some(array.data.len()), "data matches dims");
        }
        Err(Error::Io { .. } | Error::Format { .. }) => {}
        Err(other) => panic!("gzip decode_idx: unexpected error kind {other:?}"),
    }
}

/// What a valid unsigned-byte IDX file's header says: its dimensions and the header length,
/// or `None` if `data` is not one (magic `00 00 08 ndim`, `ndim` big-endian `u32` sizes,
/// then exactly their product of bytes).
pub fn expected_idx(data: &[u8]) -> Option<(Vec<usize>, usize)> {
    let (&[0, 0, 0x08, ndim], rest) = data.split_first_chunk::<4>()? else {
        return None;
    };
    let header = 4 + 4 * usize::from(ndim);
    let dims: Vec<usize> = rest
        .get(..4 * usize::from(ndim))?
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    (data.len().checked_sub(header)? == count).then_some((dims, header))
}

/// A reader that hands out its bytes 1 to 7 at a time, cycling, as a slow stream may.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl<'a> Trickle<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, step: 0 }
    }
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}
