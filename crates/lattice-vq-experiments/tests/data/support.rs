//! Helpers shared by the data tests.

use std::io::Write;
use std::path::{Path, PathBuf};

use lattice_vq_experiments::data::{Dataset, ImageShape, LoadError};
use lattice_vq_experiments::error::Error;

/// The bytes of an unsigned-byte IDX file of `dims` holding `data`.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Write `bytes` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every image of `dataset`, in order, unflipped.
pub fn load_all(dataset: &dyn Dataset) -> Vec<Vec<f32>> {
    (0..dataset.len())
        .map(|i| load(dataset, i, false))
        .collect()
}

/// Image `index` of `dataset`, flipped or not.
pub fn load(dataset: &dyn Dataset, index: usize, flip: bool) -> Vec<f32> {
    let mut out = vec![0.0; dataset.shape().len()];
    dataset.load(index, flip, &mut out).unwrap();
    out
}

/// `image` (CHW, `shape`) mirrored left-right.
pub fn mirrored(image: &[f32], shape: ImageShape) -> Vec<f32> {
    image
        .chunks_exact(shape.width)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

/// The path an error names, for errors that name one.
pub fn error_path(error: &impl NamesPath) -> Option<&Path> {
    error.named_path()
}

/// An error that may name a file: this crate's, or the Fashion-MNIST loader's.
pub trait NamesPath {
    /// The file named, if any.
    fn named_path(&self) -> Option<&Path>;
}

impl NamesPath for Error {
    fn named_path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } | Error::Format { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl NamesPath for LoadError {
    fn named_path(&self) -> Option<&Path> {
        self.path()
    }
}

/// Names of the files left in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
