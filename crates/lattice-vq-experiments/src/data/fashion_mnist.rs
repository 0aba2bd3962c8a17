//! Fashion-MNIST (Xiao et al. 2017) from its IDX files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use super::idx::read_idx;

/// Image side length.
pub const SIDE: usize = 28;

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Environment variable naming a directory with the IDX files.
pub const DATA_ENV: &str = "LATTICE_VQ_DATA";

/// Which part of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 60,000 training images (`train-*`).
    Train,
    /// The 10,000 test images (`t10k-*`).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
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
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`] naming the file: missing, truncated, corrupt, not
    /// 28x28 images, or images and labels of different counts.
    pub fn load(dir: &Path, split: Split) -> Result<Self> {
        let images_path = find_file(dir, &format!("{}-images-idx3-ubyte", split.prefix()))?;
        let labels_path = find_file(dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;
        let images = read_idx(&images_path)?;
        let labels = read_idx(&labels_path)?;
        let format = |path: &Path, problem: String| Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        if images.dims.len() != 3 || images.dims[1] != SIDE || images.dims[2] != SIDE {
            return Err(format(
                &images_path,
                format!("dimensions {:?}, expected (N, 28, 28)", images.dims),
            ));
        }
        if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
            return Err(format(
                &labels_path,
                format!(
                    "dimensions {:?}, expected ({},) to match the images",
                    labels.dims, images.dims[0]
                ),
            ));
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

/// The directory to read Fashion-MNIST from: `explicit` if given, else `$LATTICE_VQ_DATA`,
/// else [`SYSTEM_DIR`]; the first that holds the test images.
///
/// # Errors
/// [`Error::NotFound`] listing the places searched.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(explicit.map(Path::to_path_buf));
    candidates.extend(std::env::var_os(DATA_ENV).map(PathBuf::from));
    candidates.push(PathBuf::from(SYSTEM_DIR));
    candidates
        .iter()
        .find(|dir| find_file(dir, "t10k-images-idx3-ubyte").is_ok())
        .cloned()
        .ok_or_else(|| Error::NotFound {
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
        .ok_or_else(|| Error::Io {
            path: plain,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (nor .gz)"),
        })
}

impl super::Dataset for FashionMnist {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn shape(&self) -> super::ImageShape {
        super::ImageShape {
            channels: 1,
            height: SIDE,
            width: SIDE,
        }
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        let size = SIDE * SIDE;
        let image = &self.pixels[index * size..(index + 1) * size];
        if flip {
            super::flip_into(image, self.shape(), out);
        } else {
            out.copy_from_slice(image);
        }
        Ok(())
    }
}
