//! Evaluate a checkpoint (ours or an official one) on a dataset split, in eval mode.
//!
//! ```text
//! cargo run --release -p lattice-vq-experiments --example evaluate -- \
//!     --checkpoint ../shared/reference-checkpoints/fashion-mnist_sparse_lattice.safetensors
//! ```
//!
//! The network is the checkpoint's (inferred from its tensors, or `--model`, which must
//! agree), whatever `--dataset` says: `--dataset` picks the images' loader. A CelebA folder
//! without `list_eval_partition.txt` and an FFHQ folder of no more than 60,000 images
//! evaluate every image in them (the output's `data_source` says so):
//!
//! ```text
//! cargo run --release -p lattice-vq-experiments --example evaluate -- \
//!     --checkpoint ../shared/reference-checkpoints/ffhq1024_vq.safetensors \
//!     --dataset ffhq1024 --data-dir some-ffhq-images
//! ```
//!
//! Prints JSON: the network (`model`), where the images came from (`data_source`),
//! per-pixel MSE, exact unique codes (and a HyperLogLog estimate with `--sketch`),
//! perplexity, number of latent vectors, seconds. `--tokens FILE` also writes
//! the token indices (finite codebooks, VQ); `--from-tokens FILE` decodes such a file and
//! reports the MSE of its reconstructions (`tokens_mse`; equal to `mse` for a finite
//! codebook, whose decoder input is the decoded point itself).

use std::path::PathBuf;

use clap::Parser;
use lattice_vq_experiments::train::checkpoint::write_json;
use lattice_vq_experiments::train::checkpoint_eval::{EvalOptions, EvalSplit, evaluate_checkpoint};
use lattice_vq_experiments::train::{
    BackendKind, CodebookChoice, DatasetKind, Device, ModelKind, QuantizerKind,
};

/// Evaluate a VQ-VAE checkpoint in eval mode.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Safetensors file with the model's variables (official tensor names).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The network (default: inferred from the file; given, it must be the file's).
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    /// The quantizer (default: inferred from the file).
    #[arg(long, value_enum)]
    quantizer: Option<QuantizerKind>,
    /// Its codebook size (default: inferred from the file).
    #[command(flatten)]
    codebook: CodebookChoice,
    /// Write the evaluated images' token indices to this safetensors file (`tokens`,
    /// `(images, height, width)`, the smallest unsigned type that holds K).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Decode the tokens of this file and report that reconstruction's MSE (`tokens_mse`).
    #[arg(long)]
    from_tokens: Option<PathBuf>,
    /// Build a vocabulary of the codes the model gives this split (train, validation, test)
    /// and report its size and the evaluated split's out-of-vocabulary rate.
    #[arg(long, value_enum)]
    vocabulary_from: Option<EvalSplit>,
    /// The dataset: how the images are read and preprocessed (the network is the
    /// checkpoint's).
    #[arg(long, value_enum, default_value_t = DatasetKind::FashionMnist)]
    dataset: DatasetKind,
    /// Folder of the dataset (default: the dataset's own lookup).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Which split.
    #[arg(long, value_enum, default_value = "test")]
    split: EvalSplit,
    /// Framework (tch needs `--features tch`).
    #[arg(long, value_enum, default_value = "candle")]
    backend: BackendKind,
    /// cpu, cuda (the first GPU) or cuda:N.
    #[arg(long, default_value_t = Device::Cpu)]
    device: Device,
    /// Images per batch.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// At most this many images.
    #[arg(long)]
    max_images: Option<usize>,
    /// Also estimate unique codes with a HyperLogLog sketch (precision 14, ~0.8% error).
    #[arg(long)]
    sketch: bool,
    /// Intra-op threads of libtorch.
    #[arg(long)]
    threads: Option<usize>,
    /// Also write the JSON to this file (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let args = Args::parse();
    let options = EvalOptions {
        checkpoint: args.checkpoint,
        model: args.model,
        quantizer: args.quantizer,
        codebook: args.codebook,
        tokens: args.tokens,
        from_tokens: args.from_tokens,
        vocabulary_from: args.vocabulary_from,
        dataset: args.dataset,
        data_dir: args.data_dir,
        split: args.split,
        backend: args.backend,
        device: args.device,
        batch_size: args.batch_size,
        max_images: args.max_images,
        sketch_precision: args.sketch.then_some(14),
        threads: args.threads,
        progress: !args.quiet,
    };
    let report = evaluate_checkpoint(&options).and_then(|report| {
        if let Some(path) = &args.out {
            write_json(path, &report)?;
        }
        Ok(report)
    });
    match report {
        Ok(report) => println!("{}", serde_json::to_string_pretty(&report).expect("json")),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
