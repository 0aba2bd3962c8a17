//! Deterministic inputs shared by the suites (the generators of the adapters' former
//! `tests/support.rs` and `tests/bad_input.rs`, unchanged so the numbers stay the same).

/// Pseudo-random latents in `[-scale, scale]`, row-major `rows x dim`, with every seventh an
/// exact half-integer tie `(k + 0.5) * b` in units of `basis`.
pub fn latents(rows: usize, dim: usize, scale: f32, basis: &[f32], seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..rows * dim)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            if i % 7 == 0 {
                (((state >> 20) % 9) as f32 - 4.0 + 0.5) * basis[i % dim]
            } else {
                (2.0 * unit - 1.0) * scale
            }
        })
        .collect()
}

/// `n` pseudo-random integers in `-span..=span` (a fixed LCG: reproducible, no seed file).
pub fn small_integers(n: usize, span: i64, seed: u64) -> Vec<i64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % (2 * span as u64 + 1)) as i64 - span
        })
        .collect()
}

/// `n` values uniform in `[-scale, scale)` from a ChaCha stream of `seed`, exact in f32.
pub fn uniform(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}
