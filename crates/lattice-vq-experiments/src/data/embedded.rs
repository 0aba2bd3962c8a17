//! A small real sample of Fashion-MNIST compiled into the crate, so the examples and tests
//! run from any directory on a machine without the full dataset.
//!
//! The first 4,000 training and the first 1,000 test images of Fashion-MNIST (Zalando SE,
//! MIT licence), cut by `scripts/cut-fashion-mnist-sample`; see
//! `data/fashion-mnist-sample/README.md`. The files keep the original gzip IDX format, so
//! they also load as a directory with [`FashionMnist::load`].

use std::path::{Path, PathBuf};

use super::Split;
use super::fashion_mnist::FashionMnist;
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
    FashionMnist::from_idx_bytes(&name("images-idx3"), images, &name("labels-idx1"), labels)
}
