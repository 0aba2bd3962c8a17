//! The IDX reader on generated files.

use lattice_vq_experiments::data::LoadError as Error;
use lattice_vq_experiments::data::idx::{decode_idx, read_idx};

use crate::support::{error_path, gzip, idx_bytes, write};

#[test]
fn reads_raw_and_gzip_files_alike() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..24).collect();
    let bytes = idx_bytes(&[2, 3, 4], &data);
    let raw = read_idx(&write(dir.path(), "a-idx3-ubyte", &bytes)).unwrap();
    let gz = read_idx(&write(dir.path(), "a-idx3-ubyte.gz", &gzip(&bytes))).unwrap();
    assert_eq!(raw.dims, vec![2, 3, 4]);
    assert_eq!(raw.data, data);
    assert_eq!(raw, gz);
}

#[test]
fn truncated_file_is_a_format_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = idx_bytes(&[2, 3], &[1; 6]);
    bytes.pop();
    let path = write(dir.path(), "short-idx2-ubyte", &bytes);
    let err = read_idx(&path).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert_eq!(error_path(&err), Some(path.as_path()));
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn truncated_gzip_stream_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(&idx_bytes(&[100], &[7; 100]));
    let path = write(dir.path(), "cut-idx1-ubyte.gz", &gz[..gz.len() / 2]);
    let err = read_idx(&path).unwrap_err();
    assert_eq!(error_path(&err), Some(path.as_path()), "{err}");
}

#[test]
fn wrong_magic_and_element_type_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = idx_bytes(&[2], &[1, 2]);
    bytes[0] = 0x1f;
    let err = read_idx(&write(dir.path(), "magic", &bytes)).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
    let mut bytes = idx_bytes(&[2], &[1, 2]);
    bytes[2] = 0x0d; // floats
    let err = read_idx(&write(dir.path(), "floats", &bytes)).unwrap_err();
    assert!(err.to_string().contains("element type"), "{err}");
    let err = read_idx(&write(dir.path(), "empty", &[])).unwrap_err();
    assert!(err.to_string().contains("header"), "{err}");
}

#[test]
fn trailing_bytes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = idx_bytes(&[2], &[1, 2]);
    bytes.push(0);
    assert!(read_idx(&write(dir.path(), "long", &bytes)).is_err());
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent-idx1-ubyte");
    let err = read_idx(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent-idx1-ubyte"), "{err}");
}

#[test]
fn decodes_from_memory_choosing_gzip_by_name() {
    let bytes = idx_bytes(&[3], &[4, 5, 6]);
    let name = std::path::Path::new("<memory>/x-idx1-ubyte.gz");
    assert_eq!(decode_idx(name, &gzip(&bytes)).unwrap().data, vec![4, 5, 6]);
    let err = decode_idx(name, &bytes).unwrap_err();
    assert_eq!(error_path(&err), Some(name), "not gzip: {err}");
}
