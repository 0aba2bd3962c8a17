//! A small real sample of Fashion-MNIST compiled into the crate, so the examples and tests
//! run from any directory on a machine without the full dataset.
//!
//! The first 4,000 training and the first 1,000 test images of Fashion-MNIST (Zalando SE,
//! MIT licence), cut by `scripts/cut-fashion-mnist-sample`; see
//! `data/fashion-mnist-sample/README.md`. The files keep the original gzip IDX format, so
//! they also load as a directory with [`FashionMnist::load`].
//!
//! [`load_or_embedded`] falls back on the sample where the full dataset is not installed.

use std::path::{Path, PathBuf};

use super::fashion_mnist::{FashionMnist, locate_in, search_path};
use super::{LoadError, Split};
use crate::error::Result;

/// Training images in the sample.
pub const TRAIN_LEN: usize = 4000;

/// Test images in the sample.
pub const TEST_LEN: usize = 1000;

/// The sample's directory in the source tree (not needed at run time: the bytes are
/// compiled in).
pub const SOURCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist-sample");

const TRAIN_IMAGES: &[u8] =
    include_bytes!("../../data/fashion-mnist-sample/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] =
    include_bytes!("../../data/fashion-mnist-sample/train-labels-idx1-ubyte.gz");
const TEST_IMAGES: &[u8] =
    include_bytes!("../../data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] =
    include_bytes!("../../data/fashion-mnist-sample/t10k-labels-idx1-ubyte.gz");

/// The embedded sample's `split`, preprocessed as the full dataset (`x / 255 - 0.5`):
/// [`TRAIN_LEN`] or [`TEST_LEN`] images.
///
/// # Errors
/// Only if the compiled-in bytes were corrupt (a broken build); the error names the file as
/// `<embedded>/fashion-mnist-sample/...`.
pub fn embedded_sample(split: Split) -> Result<FashionMnist> {
    let (prefix, images, labels) = match split {
        Split::Train => ("train", TRAIN_IMAGES, TRAIN_LABELS),
        Split::Test => ("t10k", TEST_IMAGES, TEST_LABELS),
    };
    let name = |kind: &str| -> PathBuf {
        Path::new("<embedded>/fashion-mnist-sample").join(format!("{prefix}-{kind}-ubyte.gz"))
    };
    Ok(FashionMnist::from_idx_bytes(
        &name("images-idx3"),
        images,
        &name("labels-idx1"),
        labels,
    )?)
}

/// Where [`load_or_embedded`] found the images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The full dataset's files in this directory.
    Files(PathBuf),
    /// The small sample compiled into the crate ([`embedded_sample`]): 4,000 training and
    /// 1,000 test images, for smoke runs only; its results are not the paper's.
    Embedded,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Files(dir) => write!(f, "{}", dir.display()),
            Source::Embedded => {
                f.write_str("embedded fashion-mnist sample (4000 train, 1000 test)")
            }
        }
    }
}

/// Load `split` from the directory [`locate`](super::fashion_mnist::locate) finds, or from
/// the [embedded sample](embedded_sample) when none of the places searched holds the
/// dataset. The [`Source`] says which; callers should report it, since the sample is far
/// smaller.
///
/// # Errors
/// A directory that is found but holds a missing, truncated or corrupt file is an error
/// naming the file, never a silent fallback to the sample.
pub fn load_or_embedded(explicit: Option<&Path>, split: Split) -> Result<(FashionMnist, Source)> {
    load_or_embedded_in(&search_path(explicit), split)
}

/// [`load_or_embedded`] over the given `candidates` directories only, first match wins.
///
/// # Errors
/// As [`load_or_embedded`].
pub fn load_or_embedded_in(candidates: &[PathBuf], split: Split) -> Result<(FashionMnist, Source)> {
    match locate_in(candidates) {
        Ok(dir) => Ok((FashionMnist::load(&dir, split)?, Source::Files(dir))),
        Err(LoadError::NotFound { .. }) => Ok((embedded_sample(split)?, Source::Embedded)),
        Err(other) => Err(other.into()),
    }
}
