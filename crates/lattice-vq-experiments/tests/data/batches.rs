//! The batch iterator: determinism, resuming, dropping the last batch, errors.

use std::path::PathBuf;
use std::sync::Arc;

use lattice_vq_experiments::data::{Batch, BatchOptions, Batches, Dataset, ImageShape, InMemory};
use lattice_vq_experiments::error::{Error, Result};

const SHAPE: ImageShape = ImageShape {
    channels: 1,
    height: 1,
    width: 2,
};

/// Image `i` is `[i, i + 0.5]`: its first value names it, its order shows a flip.
fn numbered(len: usize) -> Arc<dyn Dataset> {
    Arc::new(InMemory {
        pixels: (0..len).flat_map(|i| [i as f32, i as f32 + 0.5]).collect(),
        shape: SHAPE,
        flips: true,
    })
}

/// (image number, flipped) for every image of every batch.
fn walk(dataset: Arc<dyn Dataset>, options: &BatchOptions) -> Vec<Vec<(usize, bool)>> {
    Batches::new(dataset, options)
        .map(|batch| {
            let Batch { images, len, shape } = batch.unwrap();
            assert_eq!(shape, SHAPE);
            assert_eq!(images.len(), len * 2);
            images
                .chunks_exact(2)
                .map(|p| (p[0].min(p[1]) as usize, p[0] > p[1]))
                .collect()
        })
        .collect()
}

#[test]
fn sequential_keeps_order_without_flips() {
    let batches = walk(numbered(7), &BatchOptions::sequential(3));
    let expected: Vec<Vec<(usize, bool)>> = vec![
        vec![(0, false), (1, false), (2, false)],
        vec![(3, false), (4, false), (5, false)],
        vec![(6, false)],
    ];
    assert_eq!(batches, expected);
}

#[test]
fn same_seed_same_order_and_flips_different_seed_different_order() {
    let a = walk(numbered(64), &BatchOptions::training(8, 11));
    let b = walk(numbered(64), &BatchOptions::training(8, 11));
    let c = walk(numbered(64), &BatchOptions::training(8, 12));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut seen: Vec<usize> = a.iter().flatten().map(|&(i, _)| i).collect();
    assert_ne!(seen, (0..64).collect::<Vec<_>>(), "shuffled");
    seen.sort_unstable();
    assert_eq!(seen, (0..64).collect::<Vec<_>>(), "every image once");
    let flips = a.iter().flatten().filter(|&&(_, f)| f).count();
    assert!((10..54).contains(&flips), "about half flipped: {flips}");
}

#[test]
fn no_flips_when_augment_is_off_or_the_dataset_does_not_flip() {
    let options = BatchOptions {
        augment: false,
        ..BatchOptions::training(8, 3)
    };
    assert!(
        walk(numbered(32), &options)
            .iter()
            .flatten()
            .all(|&(_, f)| !f)
    );
    let no_flips: Arc<dyn Dataset> = Arc::new(InMemory {
        flips: false,
        pixels: (0..32).flat_map(|i| [i as f32, i as f32 + 0.5]).collect(),
        shape: SHAPE,
    });
    let batches = walk(no_flips, &BatchOptions::training(8, 3));
    assert!(batches.iter().flatten().all(|&(_, f)| !f));
}

#[test]
fn skip_batches_resumes_exactly_the_later_batches() {
    let full = walk(numbered(50), &BatchOptions::training(6, 5));
    let resumed = walk(
        numbered(50),
        &BatchOptions {
            skip_batches: 3,
            ..BatchOptions::training(6, 5)
        },
    );
    assert_eq!(resumed, full[3..]);
    let limited = walk(
        numbered(50),
        &BatchOptions {
            skip_batches: 2,
            max_batches: Some(4),
            ..BatchOptions::training(6, 5)
        },
    );
    assert_eq!(limited, full[2..6]);
}

#[test]
fn drop_last_drops_only_a_short_last_batch() {
    let options = BatchOptions {
        drop_last: true,
        ..BatchOptions::sequential(4)
    };
    let batches = walk(numbered(10), &options);
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.len() == 4));
    assert_eq!(options.batches_in(10), 2);
    assert_eq!(BatchOptions::sequential(4).batches_in(10), 3);
    assert_eq!(walk(numbered(8), &options).len(), 2);
}

/// A dataset whose image `bad` cannot be read.
#[derive(Debug)]
struct Failing {
    len: usize,
    bad: usize,
}

impl Dataset for Failing {
    fn len(&self) -> usize {
        self.len
    }

    fn shape(&self) -> ImageShape {
        SHAPE
    }

    fn load(&self, index: usize, _flip: bool, out: &mut [f32]) -> Result<()> {
        if index == self.bad {
            return Err(Error::Format {
                path: PathBuf::from(format!("image-{index}.png")),
                problem: "corrupt".into(),
            });
        }
        out.fill(index as f32);
        Ok(())
    }
}

#[test]
fn a_failing_image_ends_the_iteration_with_its_error() {
    let dataset = Arc::new(Failing { len: 10, bad: 5 });
    let results: Vec<Result<Batch>> = Batches::new(dataset, &BatchOptions::sequential(2)).collect();
    assert_eq!(
        results.len(),
        3,
        "two good batches, then the error, then nothing"
    );
    assert!(results[..2].iter().all(Result::is_ok));
    let err = results[2].as_ref().unwrap_err();
    assert!(err.to_string().contains("image-5.png"), "{err}");
}

#[test]
fn dropping_early_stops_the_worker() {
    let mut batches = Batches::new(numbered(1000), &BatchOptions::sequential(1));
    assert!(batches.next().unwrap().is_ok());
    drop(batches); // must not hang
}
