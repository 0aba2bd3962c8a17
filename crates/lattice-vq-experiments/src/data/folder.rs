//! Any folder of same-sized PNG or JPEG images, in file-name order.

use std::path::{Path, PathBuf};

use super::decode::{Window, read_checked, write_chw};
use super::{Dataset, ImageShape};
use crate::error::{Error, Result};

/// Images read from files on demand, all of one size, scaled to [0, 1].
#[derive(Debug, Clone)]
pub struct ImageFolder {
    files: Vec<PathBuf>,
    shape: ImageShape,
    flips: bool,
}

impl ImageFolder {
    /// Every `.png`, `.jpg` and `.jpeg` file directly in `dir` (any case; subfolders
    /// ignored), sorted by file name, expected to be `shape` (1 channel: luma, 3: RGB).
    /// `flips` sets [`Dataset::flips_in_training`].
    ///
    /// # Errors
    /// [`Error::Io`] if `dir` cannot be listed; [`Error::Format`] naming `dir` if it holds
    /// no such images or `shape` is not 1 or 3 channels. A file of another size is
    /// reported when loaded.
    pub fn open(dir: &Path, shape: ImageShape, flips: bool) -> Result<Self> {
        Self::from_files(dir, list_images(dir)?, shape, flips)
    }

    /// The given `files`, in this order (`dir` only labels errors).
    ///
    /// # Errors
    /// [`Error::Format`] naming `dir` if `files` is empty, `shape` has no pixels or is not 1
    /// or 3 channels.
    pub fn from_files(
        dir: &Path,
        files: Vec<PathBuf>,
        shape: ImageShape,
        flips: bool,
    ) -> Result<Self> {
        let problem = if files.is_empty() {
            Some("no png or jpg images".to_owned())
        } else if !matches!(shape.channels, 1 | 3) || shape.is_empty() {
            Some(format!(
                "cannot read images as {shape:?}: 1 or 3 channels, not empty"
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::Format {
                path: dir.to_path_buf(),
                problem,
            }),
            None => Ok(Self {
                files,
                shape,
                flips,
            }),
        }
    }

    /// The files, in dataset order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

/// The `.png`, `.jpg` and `.jpeg` files directly in `dir`, sorted by file name.
///
/// # Errors
/// [`Error::Io`] naming `dir` if it cannot be listed.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_image = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["png", "jpg", "jpeg"]
                .iter()
                .any(|known| e.eq_ignore_ascii_case(known))
        });
        if is_image && path.is_file() {
            files.push(path);
        }
    }
    // read_dir's order is the file system's; sorting makes splits the same everywhere.
    files.sort();
    Ok(files)
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn flips_in_training(&self) -> bool {
        self.flips
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        let path = &self.files[index];
        let image = read_checked(path, self.shape.width, self.shape.height)?;
        write_chw(image, self.shape, Window { top: 0, left: 0 }, flip, out);
        Ok(())
    }
}
