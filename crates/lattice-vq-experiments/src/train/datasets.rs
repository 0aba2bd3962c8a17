//! Opening a dataset, with the paper's splits.

use std::path::Path;
use std::sync::Arc;

use super::kinds::DatasetKind;
use crate::data::celeba::Partition;
use crate::data::embedded::{self, Source};
use crate::data::fashion_mnist::{self, Split};
use crate::data::{
    CelebA, Dataset, ImageFolder, ImageShape, Subset, Synthetic, ffhq, random_split,
};
use crate::error::{Error, Result};

/// Training, validation and test images of one dataset.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Trained on.
    pub train: Arc<dyn Dataset>,
    /// Held out of training, evaluated after each epoch.
    pub validation: Arc<dyn Dataset>,
    /// Evaluated after training.
    pub test: Arc<dyn Dataset>,
    /// Where the images came from.
    pub source: String,
}

impl Splits {
    /// Evaluation batches for a run training in batches of `training`: larger than
    /// training's for small images (fewer, fuller batches; the results do not depend on it),
    /// the training size for large ones (FFHQ's 1024x1024 images would not fit a GPU 256 at
    /// a time).
    pub fn eval_batch_size(&self, training: usize) -> usize {
        if self.test.shape().len() <= 64 * 64 {
            training.max(256)
        } else {
            training
        }
    }
}

/// The seed of held-out splits: fixed, so every run holds out the same images.
pub const SPLIT_SEED: u64 = 0;

/// Validation images taken from the test split where a dataset has no validation split of
/// its own that we use (FFHQ, image folders): enough to follow training, cheap per epoch.
pub const VALIDATION_FROM_TEST: usize = 500;

/// Images of the synthetic dataset's training split (its test and validation have 256).
pub const SYNTHETIC_TRAIN: usize = 2048;

/// Open `dataset` with the paper's splits:
/// - `fashion-mnist`: `data_dir`, `$LATTICE_VQ_DATA`, `/usr/share/datasets/fashion-mnist`,
///   else the embedded sample; 55k/5k train/validation split of the training file (a fixed
///   shuffle), the 10k test file;
/// - `celeba`: `data_dir` with `img_align_celeba/` and `list_eval_partition.txt`; the
///   official train/valid/test partition;
/// - `ffhq1024`: `data_dir` with the 70k PNGs; first 60k by name train, the rest test;
/// - `folder`: any folder of same-sized PNG/JPG images; the last tenth by name tests;
/// - `synthetic`: generated 28x28 images in [-0.5, 0.5] (no files).
///
/// # Errors
/// [`Error::NotFound`] when a dataset's folder is missing, loading errors naming the file,
/// [`Error::Invalid`] for a `data_dir` that is not a folder.
pub fn open(dataset: DatasetKind, data_dir: Option<&Path>) -> Result<Splits> {
    // A folder asked for that is not there is a typo to report, not a cue to fall back on
    // the system dataset or the embedded sample.
    if let Some(dir) = data_dir
        && !dir.is_dir()
    {
        return Err(Error::Invalid {
            what: "data dir".into(),
            problem: format!("{}: no such folder", dir.display()),
        });
    }
    let needs_dir = || {
        data_dir.ok_or_else(|| Error::NotFound {
            dataset: "images",
            searched: format!("nothing: --data-dir is required for {dataset}"),
        })
    };
    match dataset {
        DatasetKind::FashionMnist => {
            let (train, source) = embedded::load_or_embedded(data_dir, Split::Train)?;
            let test = match &source {
                Source::Files(dir) => fashion_mnist::FashionMnist::load(dir, Split::Test)?,
                Source::Embedded => embedded::embedded_sample(Split::Test)?,
            };
            let train: Arc<dyn Dataset> = Arc::new(train);
            // The paper's 55k/5k split of the 60k training images (a twelfth held out).
            let (train_idx, val_idx) = random_split(train.len(), train.len() / 12, SPLIT_SEED);
            Ok(Splits {
                validation: Arc::new(Subset::new(train.clone(), val_idx)),
                train: Arc::new(Subset::new(train, train_idx)),
                test: Arc::new(test),
                source: source.to_string(),
            })
        }
        DatasetKind::Celeba => {
            let root = needs_dir()?;
            Ok(Splits {
                train: Arc::new(CelebA::open(root, Partition::Train)?),
                validation: Arc::new(CelebA::open(root, Partition::Valid)?),
                test: Arc::new(CelebA::open(root, Partition::Test)?),
                source: root.display().to_string(),
            })
        }
        DatasetKind::Ffhq1024 => {
            let dir = needs_dir()?;
            let test: Arc<dyn Dataset> = Arc::new(ffhq::open(dir, crate::data::Split::Test)?);
            Ok(Splits {
                train: Arc::new(ffhq::open(dir, crate::data::Split::Train)?),
                validation: first(&test, VALIDATION_FROM_TEST),
                test,
                source: dir.display().to_string(),
            })
        }
        DatasetKind::Folder => {
            let dir = needs_dir()?;
            let files = crate::data::folder::list_images(dir)?;
            let shape = first_image_shape(dir, files.first())?;
            let test_len = (files.len() / 10).max(1);
            if files.len() <= test_len {
                return Err(Error::Format {
                    path: dir.to_path_buf(),
                    problem: "needs at least 2 images (a tenth of them test)".into(),
                });
            }
            let split_at = files.len() - test_len;
            let test_files = files[split_at..].to_vec();
            let train_files = files[..split_at].to_vec();
            let test: Arc<dyn Dataset> =
                Arc::new(ImageFolder::from_files(dir, test_files, shape, true)?);
            Ok(Splits {
                train: Arc::new(ImageFolder::from_files(dir, train_files, shape, true)?),
                validation: first(&test, VALIDATION_FROM_TEST),
                test,
                source: dir.display().to_string(),
            })
        }
        DatasetKind::Synthetic => {
            let shape = ImageShape {
                channels: 1,
                height: 28,
                width: 28,
            };
            Ok(Splits {
                train: Arc::new(Synthetic::new(SYNTHETIC_TRAIN, shape, 1).centered()),
                validation: Arc::new(Synthetic::new(256, shape, 2).centered()),
                test: Arc::new(Synthetic::new(256, shape, 3).centered()),
                source: "synthetic".into(),
            })
        }
    }
}

fn first(dataset: &Arc<dyn Dataset>, n: usize) -> Arc<dyn Dataset> {
    Arc::new(Subset::new(
        dataset.clone(),
        (0..n.min(dataset.len())).collect(),
    ))
}

fn first_image_shape(dir: &Path, file: Option<&std::path::PathBuf>) -> Result<ImageShape> {
    let file = file.ok_or_else(|| Error::Format {
        path: dir.to_path_buf(),
        problem: "no png or jpg images".into(),
    })?;
    let (width, height) = image::image_dimensions(file).map_err(|e| Error::Image {
        path: file.clone(),
        source: Box::new(e),
    })?;
    Ok(ImageShape {
        channels: 3,
        height: height as usize,
        width: width as usize,
    })
}
