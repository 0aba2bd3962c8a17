//! The main job: train the paper's sparse LL-VQ-VAE on Fashion-MNIST for a minute or two on
//! the CPU, in pure Rust (candle), and look at what it learned.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! Uses the full Fashion-MNIST when it is installed (`$LATTICE_VQ_DATA` or
//! `/usr/share/datasets/fashion-mnist`), else the 4,000-image sample embedded in the binary.
//! Prints the test reconstruction error, the distinct lattice codes used and the time, and
//! writes `runs/quickstart/reconstructions.png` (test images over their reconstructions).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use lattice_vq_experiments::train::run::{make_backend, train};
use lattice_vq_experiments::train::run_folder;
use lattice_vq_experiments::train::{
    BackendKind, DatasetKind, Device, Protocol, QuantizerKind, TrainOptions, datasets,
};

/// Train the sparse LL-VQ-VAE briefly on Fashion-MNIST (candle, CPU).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Training steps (batches of 64).
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Test images to evaluate on.
    #[arg(long, default_value_t = 1000)]
    eval_images: usize,
    /// Output folder (a run's outputs in it are cleared first; a folder holding other files
    /// is refused).
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() {
    let args = Args::parse();
    let start = Instant::now();
    let options = TrainOptions {
        dataset: DatasetKind::FashionMnist,
        data_dir: None,
        quantizer: QuantizerKind::Lattice,
        codebook: Default::default(),
        backend: BackendKind::Candle,
        device: Device::Cpu,
        epochs: 1,
        batch_size: 64,
        lr: 1e-3,
        seed: args.seed,
        protocol: Protocol::Fixed,
        max_steps_per_epoch: Some(args.steps),
        max_eval_images: Some(args.eval_images),
        checkpoint_every: 0,
        threads: None,
        count_train_codes: false,
        out_dir: args.out.clone(),
        progress: true,
    };
    let run = || -> lattice_vq_experiments::Result<_> {
        // A quick start starts over: no resuming from an earlier quickstart's checkpoint.
        // Only a run's own outputs are removed; a folder holding anything else is refused.
        run_folder::clear(&options.out_dir)?;
        let splits = datasets::open(options.dataset, None)?;
        eprintln!("data: {}", splits.source);
        let mut backend = make_backend(&options)?;
        train(&options, &splits, backend.as_mut())
    };
    match run() {
        Ok(result) => {
            println!(
                "sparse LL-VQ-VAE, {} steps of 64 images on candle (CPU), {:.1} s in all",
                args.steps,
                start.elapsed().as_secs_f64()
            );
            println!(
                "test reconstruction MSE {:.5} on {} images (paper, 5 epochs: 0.009)",
                result.test.mse, result.test.images
            );
            println!(
                "distinct lattice codes {} of {} latent vectors (perplexity {:.1})",
                result.test.unique_codes, result.test.vectors, result.test.perplexity
            );
            println!(
                "wrote {}",
                options.out_dir.join("reconstructions.png").display()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
