//! Fashion-MNIST (Xiao et al. 2017) from its IDX files.
//!
//! lattice-vq-experiments re-exports this module as `lattice_vq_experiments::fashion_mnist`
//! (and implements its `Dataset` trait for [`FashionMnist`]).

use std::path::{Path, PathBuf};

use super::idx::{IdxArray, read_idx};
use super::{LoadError, Result};

pub use super::Split;

/// Image side length.
pub const SIDE: usize = 28;

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Environment variable naming a directory with the IDX files.
pub const DATA_ENV: &str = "LATTICE_VQ_DATA";

/// The file name prefix of a split: the 60,000 training images are `train-*`, the 10,000
/// test images `t10k-*`.
fn prefix(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "t10k",
    }
}

/// Fashion-MNIST images with the paper's preprocessing, `x / 255 - 0.5` (range [-0.5, 0.5]).
#[derive(Debug, Clone)]
pub struct FashionMnist {
    /// `len * 28 * 28` pixels, image after image, row-major.
    pub pixels: Vec<f32>,
    /// Class labels 0..=9.
    pub labels: Vec<u8>,
}

impl FashionMnist {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Load a split from `dir` (files `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`).
    ///
    /// Each file is read as a stream, its header first: one announcing more than
    /// [`MAX_IDX_VALUES`](super::idx::MAX_IDX_VALUES) values, or a (gzip) stream holding
    /// more than its header announces, is refused without being inflated further (see
    /// [`read_idx_from`](super::idx::read_idx_from)).
    ///
    /// # Errors
    /// [`LoadError::Io`] or [`LoadError::Format`] naming the file: missing, truncated, corrupt,
    /// larger than its header announces or than any dataset loaded here, not 28x28 images,
    /// or images and labels of different counts.
    pub fn load(dir: &Path, split: Split) -> Result<Self> {
        let images_path = find_file(dir, &format!("{}-images-idx3-ubyte", prefix(split)))?;
        let labels_path = find_file(dir, &format!("{}-labels-idx1-ubyte", prefix(split)))?;
        let images = read_idx(&images_path)?;
        let labels = read_idx(&labels_path)?;
        Self::from_idx(&images_path, images, &labels_path, labels)
    }

    /// Parse a split from the contents of its two IDX files, each gzip-compressed when its
    /// name ends in `.gz` (the names only label errors): for files already in memory, such
    /// as the embedded sample. Decompression stops at the size each header announces, as
    /// for [`FashionMnist::load`].
    ///
    /// # Errors
    /// [`LoadError::Io`] or [`LoadError::Format`] naming the file, as [`FashionMnist::load`].
    pub fn from_idx_bytes(
        images_name: &Path,
        images: &[u8],
        labels_name: &Path,
        labels: &[u8],
    ) -> Result<Self> {
        let images = super::idx::decode_idx(images_name, images)?;
        let labels = super::idx::decode_idx(labels_name, labels)?;
        Self::from_idx(images_name, images, labels_name, labels)
    }

    /// Check decoded IDX arrays are 28x28 images and as many labels, and preprocess.
    fn from_idx(
        images_path: &Path,
        images: IdxArray,
        labels_path: &Path,
        labels: IdxArray,
    ) -> Result<Self> {
        let format = |path: &Path, problem: String| LoadError::Format {
            path: path.to_path_buf(),
            problem,
        };
        if images.dims.len() != 3 || images.dims[1] != SIDE || images.dims[2] != SIDE {
            return Err(format(
                images_path,
                format!("dimensions {:?}, expected (N, 28, 28)", images.dims),
            ));
        }
        if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
            return Err(format(
                labels_path,
                format!(
                    "dimensions {:?}, expected ({},) to match the images",
                    labels.dims, images.dims[0]
                ),
            ));
        }
        if let Some(bad) = labels.data.iter().find(|&&l| l >= 10) {
            return Err(format(labels_path, format!("label {bad}, expected 0..=9")));
        }
        let pixels = images
            .data
            .iter()
            .map(|&p| f32::from(p) / 255.0 - 0.5)
            .collect();
        Ok(Self {
            pixels,
            labels: labels.data,
        })
    }
}

/// The places [`locate`] searches, in order: `explicit` if given, `$LATTICE_VQ_DATA` if
/// set, [`SYSTEM_DIR`].
pub fn search_path(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(explicit.map(Path::to_path_buf));
    candidates.extend(std::env::var_os(DATA_ENV).map(PathBuf::from));
    candidates.push(PathBuf::from(SYSTEM_DIR));
    candidates
}

/// The directory to read Fashion-MNIST from: `explicit` if given, else `$LATTICE_VQ_DATA`,
/// else [`SYSTEM_DIR`]; the first that holds the test images.
///
/// # Errors
/// [`LoadError::NotFound`] listing the places searched.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    locate_in(&search_path(explicit))
}

/// The first of `candidates` that holds the test images (`t10k-images-idx3-ubyte[.gz]`).
///
/// # Errors
/// [`LoadError::NotFound`] listing the candidates.
pub fn locate_in(candidates: &[PathBuf]) -> Result<PathBuf> {
    candidates
        .iter()
        .find(|dir| find_file(dir, "t10k-images-idx3-ubyte").is_ok())
        .cloned()
        .ok_or_else(|| LoadError::NotFound {
            dataset: "fashion-mnist",
            searched: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let plain = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    [gz, plain.clone()]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::Io {
            path: plain,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (nor .gz)"),
        })
}
