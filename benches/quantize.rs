//! Quantization throughput of the core against its roofline and against the VQ baseline.
//!
//! `cargo bench --bench quantize`; `cargo bench --bench quantize --features parallel --
//! parallel` adds the rayon variants of the library calls. All
//! entries of the `quantize_f32` group handle the same N = 2^20 rows of D = 64 latents:
//! - `stream_copy`: reads the latents and writes two outputs of the same size, no arithmetic
//!   (the memory-traffic floor of any quantizer that returns codes and points);
//! - `plain_loop`: the same arithmetic as the quantizer (multiply by `1/b`, round half to
//!   even, convert to `i32`, multiply by `b`, with the same vectorizable rounding and
//!   conversion) and no validation: the roofline of this machine;
//! - `quantize_into`: the allocation-free library call, with its finiteness and overflow checks;
//! - `quantize`: the allocating call;
//! - `vq_brute_force_k512`: nearest codeword in a 512 x 64 codebook, the search LL-VQ replaces.
//!
//! The `bounded_f32` group compares finite codebooks with the diagonal lattice on the same
//! 2^23 rows of D = 6 latents (levels 8,8,8,5,5,5, K = 64,000; a fifth of them outside the box):
//! - `diagonal_quantize_into`: the paper's lattice, the baseline of the ratio;
//! - `bounded_quantize_into`: the bounded lattice with learned offsets (clamped nearest point);
//! - `bounded_quantize_indices_into`: the same plus the token index of every row, one pass.
//!
//! `scripts/bench-ratios` turns criterion's estimates into the ratios of docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lattice_vq::{BoundedLattice, DiagonalLattice, LatticeFloat, LatticeQuantizerConfig, vq};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 1 << 20;
const DIM: usize = 64;
const CODEBOOK_SIZE: usize = 512;

/// The quantizer's arithmetic with no checks: what the hardware can do at best.
fn plain_loop(basis: &[f32], reciprocal: &[f32], z: &[f32], codes: &mut [i32], points: &mut [f32]) {
    let rows = z
        .chunks_exact(DIM)
        .zip(codes.chunks_exact_mut(DIM))
        .zip(points.chunks_exact_mut(DIM));
    for ((z, c), p) in rows {
        for ((((&z, &r), &b), c), p) in z.iter().zip(reciprocal).zip(basis).zip(c).zip(p) {
            let v = (z * r).round_ties_even_fast();
            *c = v.to_code_fast();
            *p = b * v;
        }
    }
}

/// Same bytes moved as the quantizer, no arithmetic.
fn stream_copy(z: &[f32], codes: &mut [i32], points: &mut [f32]) {
    for ((&z, c), p) in z.iter().zip(codes).zip(points) {
        *c = z.to_bits() as i32;
        *p = z;
    }
}

fn quantize_group(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let config = LatticeQuantizerConfig::new(CODEBOOK_SIZE, DIM);
    let lattice = config
        .init_lattice::<f32, _>(&mut rng)
        .expect("valid config");
    let latents = Array2::from_shape_fn((ROWS, DIM), |_| rng.random_range(-20.0f32..20.0));
    let mut codes = Array2::<i32>::zeros((ROWS, DIM));
    let mut points = Array2::<f32>::zeros((ROWS, DIM));
    let codebook = Array2::from_shape_fn((CODEBOOK_SIZE, DIM), |_| {
        rng.random_range(-1.0f32..1.0) / CODEBOOK_SIZE as f32
    });
    let mut indices = ndarray::Array1::<usize>::zeros(ROWS);

    let mut group = c.benchmark_group("quantize_f32");
    // This machine's memory bandwidth is noisy: more samples and time than criterion's defaults.
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements((ROWS * DIM) as u64));
    let id = |name: &str| BenchmarkId::new(name, format!("{ROWS}x{DIM}"));
    // With `--features parallel` the library calls run on rayon's threads; name them apart.
    let threads = if cfg!(feature = "parallel") {
        "_parallel"
    } else {
        ""
    };

    let z = latents.as_slice().expect("contiguous");
    group.bench_function(id("stream_copy"), |b| {
        b.iter(|| {
            stream_copy(
                black_box(z),
                codes.as_slice_mut().unwrap(),
                points.as_slice_mut().unwrap(),
            )
        })
    });
    group.bench_function(id("plain_loop"), |b| {
        b.iter(|| {
            plain_loop(
                lattice.basis_slice(),
                lattice.reciprocal_slice(),
                black_box(z),
                codes.as_slice_mut().unwrap(),
                points.as_slice_mut().unwrap(),
            )
        })
    });
    group.bench_function(id(&format!("quantize_into{threads}")), |b| {
        b.iter(|| {
            lattice
                .quantize_into(
                    black_box(latents.view()),
                    codes.view_mut(),
                    points.view_mut(),
                )
                .expect("finite latents")
        })
    });
    group.bench_function(id(&format!("quantize{threads}")), |b| {
        b.iter(|| {
            lattice
                .quantize(black_box(latents.view()))
                .expect("finite latents")
        })
    });
    // Seconds per call: the fewest samples criterion allows.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function(id("vq_brute_force_k512"), |b| {
        b.iter(|| {
            vq::nearest_codewords_into(
                codebook.view(),
                black_box(latents.view()),
                indices.view_mut(),
            )
            .expect("finite latents")
        })
    });
    group.finish();
}

/// Rows of the bounded group: as many elements as the main group would give 6-wide rows
/// of, rounded to a power of two.
const BOUNDED_ROWS: usize = 1 << 23;
const BOUNDED_LEVELS: [u32; 6] = [8, 8, 8, 5, 5, 5];

fn bounded_group(c: &mut Criterion) {
    let dim = BOUNDED_LEVELS.len();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let steps: Vec<f32> = (0..dim).map(|_| rng.random_range(0.5f32..1.5)).collect();
    let offsets: Vec<f32> = (0..dim).map(|_| rng.random_range(-0.2f32..0.2)).collect();
    let diagonal = DiagonalLattice::from_slice(&steps).expect("valid steps");
    let bounded =
        BoundedLattice::with_offset(&BOUNDED_LEVELS, &steps, &offsets).expect("valid box");
    let latents = Array2::from_shape_fn((BOUNDED_ROWS, dim), |_| rng.random_range(-4.0f32..4.0));
    let mut codes = Array2::<i32>::zeros((BOUNDED_ROWS, dim));
    let mut points = Array2::<f32>::zeros((BOUNDED_ROWS, dim));
    let mut indices = ndarray::Array1::<u64>::zeros(BOUNDED_ROWS);

    let mut group = c.benchmark_group("bounded_f32");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements((BOUNDED_ROWS * dim) as u64));
    let id = |name: &str| BenchmarkId::new(name, format!("{BOUNDED_ROWS}x{dim}"));
    group.bench_function(id("diagonal_quantize_into"), |b| {
        b.iter(|| {
            diagonal
                .quantize_into(
                    black_box(latents.view()),
                    codes.view_mut(),
                    points.view_mut(),
                )
                .expect("finite latents")
        })
    });
    group.bench_function(id("bounded_quantize_into"), |b| {
        b.iter(|| {
            lattice_vq::Lattice::quantize_into(
                &bounded,
                black_box(latents.view()),
                codes.view_mut(),
                points.view_mut(),
            )
            .expect("finite latents")
        })
    });
    group.bench_function(id("bounded_quantize_indices_into"), |b| {
        b.iter(|| {
            bounded
                .quantize_indices_into(
                    black_box(latents.view()),
                    codes.view_mut(),
                    points.view_mut(),
                    indices.view_mut(),
                )
                .expect("finite latents")
        })
    });
    group.finish();
}

criterion_group!(benches, quantize_group, bounded_group);
criterion_main!(benches);
