//! FFHQ-1024 (Karras et al. 2019): a folder of 1024x1024 RGB PNGs.
//!
//! The paper trains on 60,000 images and tests on 10,000 without saying which; here the
//! split is by sorted file name (`00000.png` .. `69999.png` in the official release): the
//! first [`TRAIN_LEN`] files train, all the rest test. Values in [0, 1], flipped at random
//! in training, no resize.

use std::path::Path;

use super::folder::{ImageFolder, list_images};
use super::{ImageShape, Split};
use crate::error::{Error, Result};

/// Side of the images.
pub const SIDE: usize = 1024;

/// Images in the training split (the first ones by file name).
pub const TRAIN_LEN: usize = 60_000;

/// Open `split` of FFHQ-1024 from `dir`, as the module docs say.
///
/// # Errors
/// As [`open_with`].
pub fn open(dir: &Path, split: Split) -> Result<ImageFolder> {
    open_with(dir, split, SIDE, TRAIN_LEN)
}

/// Every image of `dir` as an FFHQ-1024 image, sorted by name, no split: what `evaluate`
/// reads from a folder of no more than [`TRAIN_LEN`] images (a few to look at, a copy of
/// part of the release), whose test split [`open`] would find empty.
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be listed; [`Error::Format`] naming `dir` if it holds no
/// images. An image of another size is reported, naming the file, when loaded.
pub fn open_all(dir: &Path) -> Result<ImageFolder> {
    ImageFolder::open(dir, shape(SIDE), true)
}

/// `side` x `side` RGB.
fn shape(side: usize) -> ImageShape {
    ImageShape {
        channels: 3,
        height: side,
        width: side,
    }
}

/// Open `split` of a folder laid out as FFHQ but with `side` x `side` images and the first
/// `train_len` files training (smaller copies, tests).
///
/// # Errors
/// [`Error::Io`] if `dir` cannot be listed; [`Error::Format`] naming `dir` if it holds no
/// more than `train_len` images (so the test split would be empty). An image of another
/// size is reported, naming the file, when loaded.
pub fn open_with(dir: &Path, split: Split, side: usize, train_len: usize) -> Result<ImageFolder> {
    let mut files = list_images(dir)?;
    if files.len() <= train_len {
        return Err(Error::Format {
            path: dir.to_path_buf(),
            problem: format!(
                "{} png or jpg images, expected more than the {train_len} of the training split",
                files.len()
            ),
        });
    }
    let test = files.split_off(train_len);
    let files = match split {
        Split::Train => files,
        Split::Test => test,
    };
    ImageFolder::from_files(dir, files, shape(side), true)
}
