//! Datasets as the paper preprocesses them, and a prefetching batch iterator.
//!
//! Every dataset implements [`Dataset`]: images come out one at a time as `f32` CHW buffers,
//! already preprocessed (Fashion-MNIST `x / 255 - 0.5`; CelebA and FFHQ `[0, 1]`), so the
//! backends wrap a batch without converting it again.
//!
//! | dataset | type | shape | values |
//! |---|---|---|---|
//! | Fashion-MNIST | [`fashion_mnist::FashionMnist`] (or [`embedded`]'s sample) | 1x28x28 | [-0.5, 0.5] |
//! | CelebA | [`CelebA`] | 3x148x148 (centre crop) | [0, 1] |
//! | FFHQ-1024 | [`ffhq::open`] ([`ImageFolder`]) | 3x1024x1024 | [0, 1] |
//! | any folder of images | [`ImageFolder`] | as given | [0, 1] |
//! | smoke tests | [`Synthetic`] | as given | [0, 1] |

use std::sync::Arc;

use crate::error::Result;

pub mod batches;
pub mod celeba;
mod decode;
pub mod embedded;
pub mod ffhq;
pub mod folder;
pub mod synthetic;

pub use batches::{Batch, BatchOptions, Batches};
pub use celeba::CelebA;
pub use folder::ImageFolder;
pub use synthetic::Synthetic;

// The Fashion-MNIST loader and its IDX reader live in lattice-vq-testkit (the adapters' tests
// and benches need them and must not depend on this crate); here under their old paths.
// `LoadError` converts into this crate's `Error` variant for variant (`Io`, `Format`,
// `NotFound`).
pub use lattice_vq_testkit::data::{LoadError, Split, fashion_mnist, idx};

/// Channels, height and width of every image of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Colour channels (1 or 3).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// `channels * height * width`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether an image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dataset of same-sized images, read one at a time (it may live on disk).
pub trait Dataset: Send + Sync + std::fmt::Debug {
    /// Number of images.
    fn len(&self) -> usize;

    /// Whether there are no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of every image.
    fn shape(&self) -> ImageShape;

    /// Whether training augments with a random horizontal flip (CelebA and FFHQ do, as the
    /// official code; Fashion-MNIST does not).
    fn flips_in_training(&self) -> bool {
        false
    }

    /// Write image `index`, preprocessed and mirrored left-right when `flip`, into `out`
    /// (`shape().len()` values, CHW).
    ///
    /// # Errors
    /// A file that cannot be read or decoded, or holds an image of another size, named in
    /// the error.
    ///
    /// # Panics
    /// If `index >= len()` or `out` has the wrong length.
    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()>;
}

/// Images held in memory, already preprocessed.
#[derive(Debug, Clone)]
pub struct InMemory {
    /// `len * shape.len()` values, image after image, CHW.
    pub pixels: Vec<f32>,
    /// The shape of every image.
    pub shape: ImageShape,
    /// Whether training flips images at random.
    pub flips: bool,
}

impl Dataset for InMemory {
    fn len(&self) -> usize {
        self.pixels.len() / self.shape.len().max(1)
    }

    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn flips_in_training(&self) -> bool {
        self.flips
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        let size = self.shape.len();
        let image = &self.pixels[index * size..(index + 1) * size];
        if flip {
            flip_into(image, self.shape, out);
        } else {
            out.copy_from_slice(image);
        }
        Ok(())
    }
}

impl Dataset for fashion_mnist::FashionMnist {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn shape(&self) -> ImageShape {
        ImageShape {
            channels: 1,
            height: fashion_mnist::SIDE,
            width: fashion_mnist::SIDE,
        }
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        let size = fashion_mnist::SIDE * fashion_mnist::SIDE;
        let image = &self.pixels[index * size..(index + 1) * size];
        if flip {
            flip_into(image, self.shape(), out);
        } else {
            out.copy_from_slice(image);
        }
        Ok(())
    }
}

/// Copy a CHW `image` into `out` mirrored left-right.
///
/// # Panics
/// If either slice is not `shape.len()` long.
pub fn flip_into(image: &[f32], shape: ImageShape, out: &mut [f32]) {
    assert_eq!(image.len(), shape.len(), "image length");
    assert_eq!(out.len(), shape.len(), "output length");
    for (src, dst) in image
        .chunks_exact(shape.width)
        .zip(out.chunks_exact_mut(shape.width))
    {
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
}

/// Some images of another dataset, in a given order (a train/validation split).
#[derive(Debug, Clone)]
pub struct Subset {
    inner: Arc<dyn Dataset>,
    indices: Vec<usize>,
}

impl Subset {
    /// The images of `inner` at `indices`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn new(inner: Arc<dyn Dataset>, indices: Vec<usize>) -> Self {
        let len = inner.len();
        assert!(
            indices.iter().all(|&i| i < len),
            "subset index out of range"
        );
        Self { inner, indices }
    }
}

impl Dataset for Subset {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn shape(&self) -> ImageShape {
        self.inner.shape()
    }

    fn flips_in_training(&self) -> bool {
        self.inner.flips_in_training()
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        self.inner.load(self.indices[index], flip, out)
    }
}

/// Split `0..len` into a training and a held-out part of `held_out` indices, shuffled by
/// `seed` (the same seed gives the same split on every machine).
///
/// # Panics
/// If `held_out > len`.
pub fn random_split(len: usize, held_out: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    assert!(held_out <= len, "held-out part larger than the dataset");
    let mut indices: Vec<usize> = (0..len).collect();
    indices.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let rest = indices.split_off(len - held_out);
    (indices, rest)
}
