//! The IDX format of (Fashion-)MNIST, plain or gzip-compressed.
//!
//! Files are read as streams: the header (magic number and dimensions) comes first, so the
//! exact size of the data is known before any of it is read, and nothing beyond it is ever
//! inflated. A gzip bomb (a few megabytes that expand to gigabytes) is refused after at
//! most [`MAX_IDX_VALUES`] bytes, not after filling memory with the whole expansion.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use super::{LoadError, Result};

/// An IDX array of unsigned bytes: its dimensions and data, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes, outermost first.
    pub dims: Vec<usize>,
    /// The values, `dims.iter().product()` of them.
    pub data: Vec<u8>,
}

/// The most values an IDX array may hold: 64 MiB, above the largest file any loader of
/// this crate or of lattice-vq-experiments reads (Fashion-MNIST's 60,000 training images,
/// `60000 * 28 * 28` = 47,040,000 bytes) and far below what would strain a machine that
/// trains on it.
pub const MAX_IDX_VALUES: usize = 64 << 20;

/// The most bytes an IDX header may hold: the magic number and 255 dimensions of 4 bytes.
const MAX_HEADER_BYTES: usize = 4 + 4 * 255;

/// The most decompressed bytes any IDX read pulls from a gzip stream: the largest header,
/// the largest data and the one byte that detects trailing data. The header check already
/// stops a stream at its announced size; this cap bounds the decoder even if that check
/// were wrong.
const MAX_INFLATED_BYTES: u64 = (MAX_HEADER_BYTES + MAX_IDX_VALUES + 1) as u64;

/// Read an unsigned-byte IDX file (magic `0x00 0x00 0x08 ndim`), gzip-compressed when its
/// name ends in `.gz`.
///
/// # Errors
/// [`LoadError::Io`] if the file cannot be read (or decompressed); [`LoadError::Format`]
/// for a wrong magic number, an element type other than unsigned bytes, dimensions whose
/// product overflows or exceeds [`MAX_IDX_VALUES`] (refused before the data is read), or
/// data that is shorter or longer than the header announces (truncated, or with trailing
/// bytes: refused after reading one byte past the announced size).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let file = File::open(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_idx_from(path, BufReader::new(file))
}

/// Decode the contents `raw` of an unsigned-byte IDX file named `name`: gunzipped first
/// when the name ends in `.gz`. For files already in memory (lattice-vq-experiments'
/// embedded sample); `name` only labels the errors and picks the compression.
///
/// # Errors
/// As [`read_idx`], naming `name`.
pub fn decode_idx(name: &Path, raw: &[u8]) -> Result<IdxArray> {
    read_idx_from(name, raw)
}

/// Read an unsigned-byte IDX file named `name` from the stream `raw` of its bytes,
/// gunzipped first when the name ends in `.gz`. Reads the header, then exactly the data it
/// announces, then at most one more byte: memory and time are bounded by the header's
/// size (at most [`MAX_IDX_VALUES`]), whatever the stream holds after it.
///
/// # Errors
/// As [`read_idx`], naming `name`.
///
/// # Example
/// ```
/// use lattice_vq_testkit::data::idx::read_idx_from;
/// use std::path::Path;
///
/// let bytes = [0u8, 0, 0x08, 1, 0, 0, 0, 2, 7, 9];
/// let array = read_idx_from(Path::new("x-idx1-ubyte"), &bytes[..])?;
/// assert_eq!((array.dims, array.data), (vec![2], vec![7, 9]));
/// // A header announcing 2^32 values is refused before anything else is read.
/// let huge = [0u8, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0];
/// assert!(read_idx_from(Path::new("y-idx2-ubyte"), &huge[..]).is_err());
/// # Ok::<(), lattice_vq_testkit::data::LoadError>(())
/// ```
pub fn read_idx_from<R: Read>(name: &Path, raw: R) -> Result<IdxArray> {
    let result = if name.extension().is_some_and(|e| e == "gz") {
        read_stream(flate2::read::GzDecoder::new(raw).take(MAX_INFLATED_BYTES))
    } else {
        read_stream(raw)
    };
    result.map_err(|problem| match problem {
        Problem::Io(source) => LoadError::Io {
            path: name.to_path_buf(),
            source,
        },
        Problem::Format(problem) => LoadError::Format {
            path: name.to_path_buf(),
            problem,
        },
    })
}

/// Parse the bytes of an unsigned-byte IDX file.
///
/// # Errors
/// A description of the first problem found.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    read_stream(bytes).map_err(|problem| match problem {
        Problem::Format(problem) => problem,
        // A slice cannot fail to read; end of data is a format problem above.
        Problem::Io(source) => source.to_string(),
    })
}

/// Why a stream is not an IDX file: it could not be read, or its contents are wrong.
enum Problem {
    Io(std::io::Error),
    Format(String),
}

/// Fill `buffer`, or say how many bytes the stream had left.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> Result<(), Option<Problem>> {
    match reader.read_exact(buffer) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(None),
        Err(e) => Err(Some(Problem::Io(e))),
    }
}

/// Read an IDX file from an (uncompressed) stream, never past the announced size plus one.
fn read_stream(mut reader: impl Read) -> Result<IdxArray, Problem> {
    let format = |message: String| Problem::Format(message);
    let mut magic = [0u8; 4];
    fill(&mut reader, &mut magic)
        .map_err(|e| e.unwrap_or_else(|| format("shorter than an IDX header".into())))?;
    let [zero_a, zero_b, kind, ndim] = magic;
    if zero_a != 0 || zero_b != 0 {
        return Err(format("bad magic number: not an IDX file".into()));
    }
    if kind != 0x08 {
        return Err(format(format!(
            "element type 0x{kind:02x}, expected unsigned bytes (0x08)"
        )));
    }
    let mut dim_bytes = vec![0u8; 4 * usize::from(ndim)];
    fill(&mut reader, &mut dim_bytes).map_err(|e| {
        e.unwrap_or_else(|| format(format!("header of {ndim} dimensions is truncated")))
    })?;
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let Some(expected) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(format(format!("dimensions {dims:?} overflow")));
    };
    if expected > MAX_IDX_VALUES {
        return Err(format(format!(
            "header {dims:?} announces {expected} values, more than the {MAX_IDX_VALUES} \
             an IDX file may hold here (the largest dataset loaded has 47040000): refused \
             before reading the data"
        )));
    }
    let mut data = Vec::with_capacity(expected);
    reader
        .by_ref()
        .take(expected as u64)
        .read_to_end(&mut data)
        .map_err(Problem::Io)?;
    if data.len() < expected {
        return Err(format(format!(
            "header {dims:?} announces {expected} values but the file holds {}: truncated \
             or corrupt",
            data.len()
        )));
    }
    // One byte more tells a file with trailing data (or a decompression bomb behind a valid
    // header) from a complete one, without reading the rest; at the end of a gzip stream
    // this read also checks its CRC and length.
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => break,
            Ok(_) => {
                return Err(format(format!(
                    "header {dims:?} announces {expected} values but the file holds more: \
                     trailing bytes (or a decompression bomb), refused without reading them"
                )));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Problem::Io(e)),
        }
    }
    Ok(IdxArray { dims, data })
}
