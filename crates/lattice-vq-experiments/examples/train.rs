//! Train the paper's VQ-VAE with any quantizer, on tch or candle, CPU or CUDA.
//!
//! ```text
//! cargo run --release -p lattice-vq-experiments --example train -- --quantizer lattice --epochs 1
//! . scripts/torch-env && cargo run --release -p lattice-vq-experiments --features tch \
//!     --example train -- --backend tch --quantizer vq-ema --protocol paper --out runs/vq-ema
//! ```
//!
//! Writes to `--out`: `options.json`, `metrics.jsonl` (a line per step and per epoch),
//! `checkpoints/` (resumable; rerun the same command to continue after an interruption),
//! `model.safetensors` and `result.json`.

use std::path::PathBuf;

use clap::Parser;
use lattice_vq_experiments::train::{
    self, BackendKind, CodebookChoice, DatasetKind, Device, Protocol, QuantizerKind, TrainOptions,
};

/// Train the paper's VQ-VAE (LL-VQ, dense LL-VQ, VQ, VQ-EMA, or a finite codebook: FSQ, the
/// bounded lattice) and evaluate it.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The dataset.
    #[arg(long, value_enum, default_value_t = DatasetKind::FashionMnist)]
    dataset: DatasetKind,
    /// Folder of the dataset (default: the dataset's own lookup, e.g. $LATTICE_VQ_DATA).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The quantizer.
    #[arg(long, value_enum, default_value_t = QuantizerKind::Lattice)]
    quantizer: QuantizerKind,
    /// Its codebook size.
    #[command(flatten)]
    codebook: CodebookChoice,
    /// Framework (tch needs `--features tch`).
    #[arg(long, value_enum, default_value = "candle")]
    backend: BackendKind,
    /// cpu, cuda (the first GPU) or cuda:N.
    #[arg(long, default_value_t = Device::Cpu)]
    device: Device,
    /// Epochs (the paper: 5).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Images per batch (the paper: 64; FFHQ 32).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the initialisation, shuffling and flips.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// paper: lr 0 after epoch 1, as the official code ran; fixed: all epochs train.
    #[arg(long, value_enum, default_value = "fixed")]
    protocol: Protocol,
    /// Stop each epoch after this many steps.
    #[arg(long)]
    max_steps_per_epoch: Option<usize>,
    /// Evaluate on at most this many images of each held-out split.
    #[arg(long)]
    max_eval_images: Option<usize>,
    /// Save a resumable checkpoint every N steps (and after every epoch).
    #[arg(long, default_value_t = 200)]
    checkpoint_every: usize,
    /// Intra-op threads of libtorch (candle: set RAYON_NUM_THREADS).
    #[arg(long)]
    threads: Option<usize>,
    /// Also count codes over the training split, in eval mode and as the paper did.
    #[arg(long)]
    count_train_codes: bool,
    /// Output folder.
    #[arg(long, default_value = "runs/train")]
    out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let args = Args::parse();
    let options = TrainOptions {
        dataset: args.dataset,
        data_dir: args.data_dir,
        quantizer: args.quantizer,
        codebook: args.codebook,
        backend: args.backend,
        device: args.device,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        protocol: args.protocol,
        max_steps_per_epoch: args.max_steps_per_epoch,
        max_eval_images: args.max_eval_images,
        checkpoint_every: args.checkpoint_every,
        threads: args.threads,
        count_train_codes: args.count_train_codes,
        out_dir: args.out,
        progress: !args.quiet,
    };
    match train::run::run(&options) {
        Ok(result) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&result.test).expect("serializable")
            );
            println!("wrote {}", options.out_dir.join("result.json").display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
