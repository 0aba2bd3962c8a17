//! Batches assembled on a background thread while the model trains on the previous ones.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, ImageShape};
use crate::error::Result;

/// How to walk a dataset.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Images per batch.
    pub batch_size: usize,
    /// Shuffle (and draw flips) with this seed; `None` keeps the dataset's order, no flips.
    pub shuffle_seed: Option<u64>,
    /// Random horizontal flips, when the dataset asks for them in training.
    pub augment: bool,
    /// Drop a last batch smaller than `batch_size`.
    pub drop_last: bool,
    /// Skip this many batches first (resuming in the middle of an epoch).
    pub skip_batches: usize,
    /// Batches prepared ahead of the consumer.
    pub prefetch: usize,
    /// Stop after this many batches (after skipping).
    pub max_batches: Option<usize>,
}

impl BatchOptions {
    /// In-order batches of `batch_size`, the last one possibly smaller, two prefetched.
    pub fn sequential(batch_size: usize) -> Self {
        Self {
            batch_size,
            shuffle_seed: None,
            augment: false,
            drop_last: false,
            skip_batches: 0,
            prefetch: 2,
            max_batches: None,
        }
    }

    /// Shuffled batches for training: order and flips drawn from `seed`.
    pub fn training(batch_size: usize, seed: u64) -> Self {
        Self {
            shuffle_seed: Some(seed),
            augment: true,
            ..Self::sequential(batch_size)
        }
    }

    /// The number of batches a dataset of `len` images gives (before skipping).
    pub fn batches_in(&self, len: usize) -> usize {
        if self.drop_last {
            len / self.batch_size
        } else {
            len.div_ceil(self.batch_size)
        }
    }
}

/// One batch: `len` images of `shape`, CHW, image after image.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `len * shape.len()` values.
    pub images: Vec<f32>,
    /// Number of images.
    pub len: usize,
    /// Shape of each image.
    pub shape: ImageShape,
}

/// Iterator over batches, filled by a background thread. Deterministic: the order and the
/// flips are drawn before the thread starts, from the seed alone.
#[derive(Debug)]
pub struct Batches {
    receiver: Option<Receiver<Result<Batch>>>,
    worker: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Batches {
    /// Start reading `dataset` as `options` say.
    ///
    /// # Panics
    /// If `options.batch_size` is zero.
    pub fn new(dataset: Arc<dyn Dataset>, options: &BatchOptions) -> Self {
        assert!(options.batch_size > 0, "batch size must be positive");
        let len = dataset.len();
        let mut order: Vec<usize> = (0..len).collect();
        let mut flips = vec![false; len];
        if let Some(seed) = options.shuffle_seed {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            order.shuffle(&mut rng);
            if options.augment && dataset.flips_in_training() {
                flips.iter_mut().for_each(|f| *f = rng.random());
            }
        }
        let mut chunks: Vec<Vec<usize>> = order
            .chunks(options.batch_size)
            .filter(|c| !options.drop_last || c.len() == options.batch_size)
            .skip(options.skip_batches)
            .map(<[usize]>::to_vec)
            .collect();
        if let Some(max) = options.max_batches {
            chunks.truncate(max);
        }
        let remaining = chunks.len();
        let (sender, receiver) = sync_channel(options.prefetch.max(1));
        let worker = std::thread::spawn(move || {
            let shape = dataset.shape();
            for chunk in chunks {
                let mut images = vec![0.0; chunk.len() * shape.len()];
                let filled = chunk
                    .iter()
                    .zip(images.chunks_exact_mut(shape.len()))
                    .try_for_each(|(&i, out)| dataset.load(i, flips[i], out));
                let failed = filled.is_err();
                let batch = filled.map(|()| Batch {
                    images,
                    len: chunk.len(),
                    shape,
                });
                if sender.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        Self {
            receiver: Some(receiver),
            worker: Some(worker),
            remaining,
        }
    }
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.receiver.as_ref()?.recv().ok();
        if batch.is_none() || self.remaining <= 1 {
            self.remaining = 0;
            drop(self.receiver.take());
        } else {
            self.remaining -= 1;
        }
        batch
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it ends promptly.
        drop(self.receiver.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
