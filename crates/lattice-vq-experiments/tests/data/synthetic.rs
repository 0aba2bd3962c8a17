//! The synthetic smoke-test dataset.

use lattice_vq_experiments::data::{Dataset, ImageShape, Synthetic};

use crate::support::{load, load_all, mirrored};

const SHAPE: ImageShape = ImageShape {
    channels: 3,
    height: 16,
    width: 12,
};

#[test]
fn same_seed_same_images_in_any_order() {
    let a = Synthetic::new(6, SHAPE, 7);
    let b = Synthetic::new(6, SHAPE, 7);
    let forward = load_all(&a);
    let backward: Vec<_> = (0..6).rev().map(|i| load(&b, i, false)).collect();
    assert!(forward.iter().eq(backward.iter().rev()));
    // Images differ from each other.
    assert_ne!(forward[0], forward[1]);
}

#[test]
fn different_seeds_give_different_images() {
    let a = load_all(&Synthetic::new(3, SHAPE, 1));
    let b = load_all(&Synthetic::new(3, SHAPE, 2));
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
}

#[test]
fn values_are_in_range_and_not_flat() {
    let images = load_all(&Synthetic::new(8, SHAPE, 3));
    for image in &images {
        assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
        let (min, max) = image
            .iter()
            .fold((1f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(max - min > 0.1, "a pattern, not a flat image");
    }
    let centered = load_all(&Synthetic::new(8, SHAPE, 3).centered());
    for (c, u) in centered.iter().zip(&images) {
        assert!(c.iter().zip(u).all(|(c, u)| (c - (u - 0.5)).abs() < 1e-6));
    }
}

#[test]
fn patterns_are_smooth() {
    // Neighbouring pixels differ little: a VQ-VAE learns these quickly.
    let shape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    for image in load_all(&Synthetic::new(4, shape, 9)) {
        let steepest = image
            .chunks_exact(28)
            .flat_map(|row| row.windows(2).map(|w| (w[1] - w[0]).abs()))
            .fold(0f32, f32::max);
        assert!(steepest < 0.25, "steepest step {steepest}");
    }
}

#[test]
fn flip_mirrors_and_flips_are_configurable() {
    let data = Synthetic::new(2, SHAPE, 5);
    assert!(!data.flips_in_training());
    assert!(data.clone().with_flips(true).flips_in_training());
    assert_eq!(
        load(&data, 1, true),
        mirrored(&load(&data, 1, false), SHAPE)
    );
}
