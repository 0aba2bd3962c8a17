//! A deterministic synthetic dataset for smoke tests: smooth random images generated on the
//! fly, so it needs no files and no memory.

use std::f32::consts::TAU;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, ImageShape};
use crate::error::Result;

/// Images of two soft blobs over a faint stripe pattern and a flat background, each
/// channel its own colour, values in [0, 1] (or [-0.5, 0.5] when [`centered`]).
///
/// Image `i` depends only on the seed and `i` (its own ChaCha8 stream), so any image can be
/// regenerated in any order. The patterns are smooth and low-frequency, so a VQ-VAE's
/// reconstruction loss falls within a few steps, which is what smoke tests check.
///
/// [`centered`]: Synthetic::centered
#[derive(Debug, Clone)]
pub struct Synthetic {
    len: usize,
    shape: ImageShape,
    seed: u64,
    offset: f32,
    flips: bool,
}

/// Gaussian blobs per image.
const BLOBS: usize = 2;

impl Synthetic {
    /// `len` images of `shape` drawn from `seed`; values in [0, 1], no flips in training.
    pub fn new(len: usize, shape: ImageShape, seed: u64) -> Self {
        Self {
            len,
            shape,
            seed,
            offset: 0.0,
            flips: false,
        }
    }

    /// Shift the values to [-0.5, 0.5], Fashion-MNIST's range.
    pub fn centered(mut self) -> Self {
        self.offset = -0.5;
        self
    }

    /// Whether training flips the images at random (default false).
    pub fn with_flips(mut self, flips: bool) -> Self {
        self.flips = flips;
        self
    }
}

/// One image's random parameters.
struct Pattern {
    background: Vec<f32>,
    /// Centre x, centre y (in pixels), 1 / (2 sigma^2), amplitude per channel.
    blobs: Vec<(f32, f32, f32, Vec<f32>)>,
    /// Wave vector (radians per pixel) along x and y, phase, amplitude.
    stripes: (f32, f32, f32, f32),
}

impl Pattern {
    fn draw(rng: &mut ChaCha8Rng, shape: ImageShape) -> Self {
        let (h, w) = (shape.height as f32, shape.width as f32);
        let channels = shape.channels;
        let background = (0..channels).map(|_| rng.random_range(0.0..0.3)).collect();
        let blobs = (0..BLOBS)
            .map(|_| {
                let sigma = rng.random_range(0.1..0.3) * h.min(w);
                (
                    rng.random_range(0.0..w),
                    rng.random_range(0.0..h),
                    1.0 / (2.0 * sigma * sigma),
                    (0..channels).map(|_| rng.random_range(0.2..0.6)).collect(),
                )
            })
            .collect();
        // One to three periods across the image, in any direction.
        let angle = rng.random_range(0.0..TAU);
        let frequency = rng.random_range(1.0..3.0) * TAU / w.max(h);
        let stripes = (
            frequency * angle.cos(),
            frequency * angle.sin(),
            rng.random_range(0.0..TAU),
            rng.random_range(0.05..0.15),
        );
        Self {
            background,
            blobs,
            stripes,
        }
    }

    fn value(&self, channel: usize, x: f32, y: f32) -> f32 {
        let (kx, ky, phase, amplitude) = self.stripes;
        let mut v = self.background[channel] + amplitude * (kx * x + ky * y + phase).sin();
        for (cx, cy, inv, amplitudes) in &self.blobs {
            let d2 = (x - cx).powi(2) + (y - cy).powi(2);
            v += amplitudes[channel] * (-d2 * inv).exp();
        }
        v.clamp(0.0, 1.0)
    }
}

impl Dataset for Synthetic {
    fn len(&self) -> usize {
        self.len
    }

    fn shape(&self) -> ImageShape {
        self.shape
    }

    fn flips_in_training(&self) -> bool {
        self.flips
    }

    fn load(&self, index: usize, flip: bool, out: &mut [f32]) -> Result<()> {
        assert!(index < self.len, "synthetic image {index} of {}", self.len);
        assert_eq!(out.len(), self.shape.len(), "output length");
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        // Its own stream per image: independent of the order images are asked for.
        rng.set_stream(index as u64);
        let pattern = Pattern::draw(&mut rng, self.shape);
        let ImageShape {
            channels,
            height,
            width,
        } = self.shape;
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let sx = if flip { width - 1 - x } else { x };
                    out[(c * height + y) * width + x] =
                        pattern.value(c, sx as f32, y as f32) + self.offset;
                }
            }
        }
        Ok(())
    }
}
