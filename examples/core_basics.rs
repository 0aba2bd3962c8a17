//! The core alone, no tensor framework: an LL-VQ basis trained by hand (no autograd) on
//! synthetic encoder-like latents, printing codebook usage as it goes.
//!
//! `cargo run --release --example core_basics`
//!
//! It initialises the paper's sparse lattice (K = 512, D = 64), then runs plain gradient
//! descent on the basis with the core's hand-written gradients (Eq. 7-8). With
//! `sparsity_cost = 1` the size loss widens the lattice at every step, so the number of
//! distinct codes falls while the quantization error grows: the trade-off the paper tunes.

use std::error::Error;
use std::time::Instant;

use lattice_vq::{HyperLogLog, LatticeQuantizerConfig, UniqueCodes, loss};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 16_384;
const DIM: usize = 64;
const PROTOTYPES: usize = 256;
const STEPS: usize = 300;
const LEARNING_RATE: f32 = 0.02;

fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let config = LatticeQuantizerConfig::new(512, DIM);
    let mut lattice = config.init_lattice::<f32, _>(&mut rng)?;
    // Encoder-like latents: a few hundred image "prototypes" plus per-vector noise, after a
    // LeakyReLU (mostly non-negative), so nearby vectors can share a lattice point.
    let prototypes = Array2::from_shape_fn((PROTOTYPES, DIM), |_| rng.random_range(-1.0f32..6.0));
    let latents = Array2::from_shape_fn((ROWS, DIM), |(n, j)| {
        let x = prototypes[[n % PROTOTYPES, j]] + rng.random_range(-0.4f32..0.4);
        if x < 0.0 { 0.01 * x } else { x }
    });
    println!(
        "LL-VQ core basics: {ROWS} latent vectors of D = {DIM}, K = {}, init range +-{:.4}",
        config.codebook_size,
        config.init_half_width()?
    );
    println!(
        "{:>5} {:>12} {:>12} {:>14} {:>12} {:>11}",
        "step", "mean |b|", "embedding", "unique codes", "sketch est.", "perplexity"
    );

    for step in 0..=STEPS {
        let q = lattice.quantize(latents.view())?;
        if step % 50 == 0 {
            let parts = loss::quantizer_loss(&config, &lattice, latents.view(), &q)?;
            let mut exact = UniqueCodes::new(DIM);
            exact.insert_rows(q.codes.view())?;
            let mut sketch = HyperLogLog::new(14)?;
            sketch.insert_rows(q.codes.view());
            let mean_abs = lattice.basis().mapv(f32::abs).mean().unwrap_or(0.0);
            println!(
                "{step:>5} {mean_abs:>12.4} {:>12.5} {:>14} {:>12.0} {:>11.1}",
                parts.embedding,
                exact.len(),
                sketch.estimate(),
                exact.perplexity()
            );
        }
        let grads = loss::quantizer_gradients(&config, &lattice, latents.view(), &q)?;
        let updated = &lattice.basis() - &grads.basis.mapv(|g| LEARNING_RATE * g);
        lattice.set_basis(updated.view())?;
    }
    println!("done in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
