//! CelebA (Liu et al. 2015), aligned and cropped images, preprocessed as the paper's code.
//!
//! Expects the official layout under one root directory:
//!
//! ```text
//! root/list_eval_partition.txt     lines "000001.jpg 0": 0 train, 1 valid, 2 test
//! root/img_align_celeba/*.jpg      178x218 RGB
//! ```
//!
//! Without the partition file, [`CelebA::every_image`] reads every image of the folder (no
//! split), for evaluating a few images.
//!
//! Each image is centre-cropped to 148x148 as torchvision's `CenterCrop(148)` (rows 35..183,
//! columns 15..163), not resized, scaled to [0, 1], and flipped at random in training.

use std::path::{Path, PathBuf};

use super::decode::{Window, read_checked, write_chw};
use super::{Dataset, ImageShape};
use crate::error::{Error, Result};

/// Width of the aligned images.
pub const WIDTH: usize = 178;
/// Height of the aligned images.
pub const HEIGHT: usize = 218;
/// Side of the centre crop.
pub const CROP: usize = 148;
/// The partition file, in the root directory.
pub const PARTITION_FILE: &str = "list_eval_partition.txt";
/// The image folder, in the root directory.
pub const IMAGE_DIR: &str = "img_align_celeba";

/// torchvision's `CenterCrop`: `round((size - crop) / 2)`, here exact (35 and 15). The
/// margins left and right are equal, so flipping the crop equals the paper's flip before
/// cropping.
const WINDOW: Window = Window {
    top: (HEIGHT - CROP) / 2,
    left: (WIDTH - CROP) / 2,
};

/// A part of CelebA's official partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// `0` in the partition file (162,770 images).
    Train,
    /// `1` (19,867 images).
    Valid,
    /// `2` (19,962 images).
    Test,
}

impl Partition {
    fn code(self) -> &'static str {
        match self {
            Partition::Train => "0",
            Partition::Valid => "1",
            Partition::Test => "2",
        }
    }
}

/// The images of one CelebA partition, read from disk on demand.
#[derive(Debug, Clone)]
pub struct CelebA {
    image_dir: PathBuf,
    files: Vec<String>,
}

impl CelebA {
    /// Read `root`'s partition file and keep the images of `partition`, in file order.
    ///
    /// # Errors
    /// [`Error::Io`] if the partition file cannot be read; [`Error::Format`] naming it and
    /// the line for a malformed line (not `name.jpg N`, N in 0..=2); [`Error::NotFound`] if
    /// the image folder is missing. Missing or bad images are reported when loaded.
    pub fn open(root: &Path, partition: Partition) -> Result<Self> {
        let list = root.join(PARTITION_FILE);
        let text = std::fs::read_to_string(&list).map_err(|source| Error::Io {
            path: list.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let mut fields = line.split_whitespace();
            let (name, code) = match (fields.next(), fields.next(), fields.next()) {
                (None, ..) => continue,
                (Some(name), Some(code), None) if is_plain_file_name(name) => (name, code),
                _ => {
                    return Err(bad_line(
                        &list,
                        number,
                        line,
                        "expected \"<name>.jpg <0|1|2>\"",
                    ));
                }
            };
            if !matches!(code, "0" | "1" | "2") {
                return Err(bad_line(&list, number, line, "partition must be 0, 1 or 2"));
            }
            if code == partition.code() {
                files.push(name.to_owned());
            }
        }
        let image_dir = root.join(IMAGE_DIR);
        if !image_dir.is_dir() {
            return Err(Error::NotFound {
                dataset: "celeba",
                searched: image_dir.display().to_string(),
            });
        }
        Ok(Self { image_dir, files })
    }

    /// Every `.jpg` (or `.png`) of `root`, sorted by name: of `root/img_align_celeba/` when
    /// `root` has that folder, else of `root` itself. What `evaluate` reads from a folder
    /// without the partition file: a few aligned images need no split to be evaluated.
    ///
    /// # Errors
    /// [`Error::Io`] if the folder cannot be listed; [`Error::Format`] naming it if it holds
    /// no images. Missing or bad images are reported when loaded.
    pub fn every_image(root: &Path) -> Result<Self> {
        let nested = root.join(IMAGE_DIR);
        let image_dir = if nested.is_dir() {
            nested
        } else {
            root.to_path_buf()
        };
        let files: Vec<String> = super::folder::list_images(&image_dir)?
            .iter()
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect();
        if files.is_empty() {
            return Err(Error::Format {
                path: image_dir,
                problem: "no png or jpg images".into(),
            });
        }
        Ok(Self { image_dir, files })
    }

    /// The folder the images are read from.
    pub fn image_dir(&self) -> &Path {
        &self.image_dir
    }

    /// The path of image `index`.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn path(&self, index: usize) -> PathBuf {
        self.image_dir.join(&self.files[index])
    }
}

/// Whether a partition entry is a bare file name (no directories, so it cannot leave the
/// image folder).
fn is_plain_file_name(name: &str) -> bool {
    Path::new(name).file_name().is_some_and(|f| f == name)
}

fn bad_line(list: &Path, number: usize, line: &str, problem: &str) -> Error {
    Error::Format {
        path: list.to_path_buf(),
        problem: format!("line {}: {problem}, found {line:?}", number + 1),
    }
}

impl Dataset for CelebA {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn shape(&self) -> ImageShape {
        ImageShape {
            channels: 3,
            height: CROP,
            width: CROP,
        }
    }

    fn flips_in_training(&self) -> bool {
        true
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        let image = read_checked(&self.path(index), WIDTH, HEIGHT)?;
        write_chw(image, self.shape(), WINDOW, flip, out);
        Ok(())
    }
}
