//! The images `evaluate` reads: the dataset's splits ([`super::datasets::open`]) where the
//! folder has what they need, else every image of the folder, so that a few images
//! evaluate without extra files (CelebA without its partition file, FFHQ with fewer images
//! than its training split). Training keeps needing the splits: it has to hold images out.

use std::path::Path;
use std::sync::Arc;

use super::datasets::{Splits, open};
use super::kinds::DatasetKind;
use crate::data::celeba::PARTITION_FILE;
use crate::data::folder::list_images;
use crate::data::{CelebA, Dataset, ffhq};
use crate::error::Result;

/// The splits `evaluate` picks from.
#[derive(Debug, Clone)]
pub struct EvalSplits {
    /// Train, validation and test; all three the same images when `unsplit`.
    pub splits: Splits,
    /// Why every split is the whole folder, when it is (which folder, how many images,
    /// what was missing to split them).
    pub unsplit: Option<String>,
}

/// Open `dataset` for evaluation: as [`open`], but a CelebA folder without
/// `list_eval_partition.txt` gives every image of it (of its `img_align_celeba/` when it
/// has one) and an FFHQ folder of no more than [`ffhq::TRAIN_LEN`] images gives every
/// image, whichever split is asked for.
///
/// # Errors
/// As [`open`]; for the unsplit folders, [`crate::Error::Format`] naming a folder without
/// images.
pub fn open_for_evaluation(dataset: DatasetKind, data_dir: Option<&Path>) -> Result<EvalSplits> {
    let split = || {
        Ok(EvalSplits {
            splits: open(dataset, data_dir)?,
            unsplit: None,
        })
    };
    // A folder that is not there is `open`'s error to report.
    let Some(dir) = data_dir.filter(|dir| dir.is_dir()) else {
        return split();
    };
    match dataset {
        DatasetKind::Celeba if !dir.join(PARTITION_FILE).is_file() => {
            let all = CelebA::every_image(dir)?;
            let why = format!(
                "every image in {} ({}): no {PARTITION_FILE} to split them by",
                all.image_dir().display(),
                count(all.len())
            );
            Ok(whole(Arc::new(all), why))
        }
        DatasetKind::Ffhq1024 => {
            let images = list_images(dir)?.len();
            if images > ffhq::TRAIN_LEN {
                return split();
            }
            let why = format!(
                "every image in {} ({}): no more than the {} of FFHQ's training split, so no \
                 test split",
                dir.display(),
                count(images),
                ffhq::TRAIN_LEN
            );
            Ok(whole(Arc::new(ffhq::open_all(dir)?), why))
        }
        _ => split(),
    }
}

/// `1 image`, `6 images`.
fn count(images: usize) -> String {
    format!("{images} image{}", if images == 1 { "" } else { "s" })
}

/// Every split `images`.
fn whole(images: Arc<dyn Dataset>, why: String) -> EvalSplits {
    EvalSplits {
        splits: Splits {
            train: images.clone(),
            validation: images.clone(),
            test: images,
            source: why.clone(),
        },
        unsplit: Some(why),
    }
}
