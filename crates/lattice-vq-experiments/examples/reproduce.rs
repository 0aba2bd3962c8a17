//! Run the rows of one of the paper's tables for some seeds and write a markdown table in
//! the paper's layout, the paper's numbers (and the official checkpoints') beside ours.
//!
//! ```text
//! . scripts/torch-env && cargo run --release -p lattice-vq-experiments --features tch \
//!     --example reproduce -- --table 5 --seeds 0,1,2 --protocol paper --backend tch --threads 2
//! ```
//!
//! Each run goes to `OUT/PROTOCOL/QUANTIZER/seed-N` and is skipped when its `result.json`
//! is already there with the same options (so an interrupted reproduction resumes).
//!
//! `--table finite` is the finite-codebook table of docs/reproducing.md instead (not in the
//! paper): VQ, VQ-EMA, FSQ and the bounded lattices at K = 512 and K = 64,000, runs in
//! `OUT/PROTOCOL/kK/QUANTIZER/seed-N` (OUT defaults to runs/finite), candle by default:
//!
//! ```text
//! cargo run --release -p lattice-vq-experiments --example reproduce -- \
//!     --table finite --seeds 0,1,2 --protocol paper --backend candle
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;
use lattice_vq_experiments::train::checkpoint::read_json;
use lattice_vq_experiments::train::finite_table;
use lattice_vq_experiments::train::run::{RunResult, run};
use lattice_vq_experiments::train::table_choice::TableChoice;
use lattice_vq_experiments::train::tables::{PaperTable, mean_std};
use lattice_vq_experiments::train::{
    BackendKind, DatasetKind, Device, Protocol, QuantizerKind, TrainOptions,
};

/// Reproduce a table of the paper (2, 3, 4 or 5), or the finite-codebook table (`finite`).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The paper's table (2 to 5), or `finite`, the finite-codebook table of
    /// docs/reproducing.md.
    #[arg(long, value_enum)]
    table: TableChoice,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// paper: lr 0 after epoch 1, as the official code ran; fixed: all epochs train.
    #[arg(long, value_enum, default_value = "paper")]
    protocol: Protocol,
    /// Framework (tch needs `--features tch`; the default is tch in a build with it, candle
    /// otherwise).
    #[arg(long, value_enum, default_value_t = BackendKind::for_this_build())]
    backend: BackendKind,
    /// cpu, cuda (the first GPU) or cuda:N.
    #[arg(long, default_value_t = Device::Cpu)]
    device: Device,
    /// Folder of the dataset (default: the dataset's own lookup).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Epochs per run (the paper: 5).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Intra-op threads of libtorch.
    #[arg(long)]
    threads: Option<usize>,
    /// Only these rows (quantizers), comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    rows: Option<Vec<QuantizerKind>>,
    /// Output folder (default: runs/tableN).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Run nothing: render the table from the runs that have finished (their result.json).
    #[arg(long)]
    render_only: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = reproduce(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn reproduce(args: &Args) -> lattice_vq_experiments::Result<()> {
    let Some(table) = args.table.paper() else {
        return reproduce_finite(args);
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/table{}", args.table)));
    if let Some(rows) = &args.rows {
        table.check_rows(rows)?;
    }
    let protocol = format!("{:?}", args.protocol).to_lowercase();
    let mut results: Vec<Vec<RunResult>> = Vec::new();
    for row in &table.rows {
        if args
            .rows
            .as_ref()
            .is_some_and(|r| !r.contains(&row.quantizer))
        {
            results.push(Vec::new());
            continue;
        }
        let mut runs = Vec::new();
        for &seed in &args.seeds {
            let options = TrainOptions {
                dataset: table.dataset,
                data_dir: args.data_dir.clone(),
                quantizer: row.quantizer,
                codebook: Default::default(),
                backend: args.backend,
                device: args.device,
                epochs: args.epochs,
                batch_size: table.batch_size,
                lr: 1e-3,
                seed,
                protocol: args.protocol,
                max_steps_per_epoch: None,
                max_eval_images: None,
                checkpoint_every: 200,
                threads: args.threads,
                count_train_codes: true,
                out_dir: out
                    .join(&protocol)
                    .join(row.quantizer.name())
                    .join(format!("seed-{seed}")),
                progress: !args.quiet,
            };
            eprintln!(
                "== table {} {} seed {seed} ({protocol})",
                table.number, row.label
            );
            runs.push(run(&options)?);
        }
        results.push(runs);
    }
    let markdown = render(&table, &results, args);
    let file = format!("table{}.md", table.number);
    write_table(&out.join(&protocol), &file, &markdown)
}

/// Write `markdown` to `folder/file` (atomically, creating the folder) and print it.
fn write_table(
    folder: &std::path::Path,
    file: &str,
    markdown: &str,
) -> lattice_vq_experiments::Result<()> {
    std::fs::create_dir_all(folder).map_err(|source| lattice_vq_experiments::Error::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    let path = folder.join(file);
    lattice_vq_experiments::atomic::write_bytes(&path, markdown.as_bytes())?;
    println!("{markdown}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The finite-codebook table: every size, row and seed, then the markdown.
fn reproduce_finite(args: &Args) -> lattice_vq_experiments::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/finite"));
    let protocol = format!("{:?}", args.protocol).to_lowercase();
    let mut results = Vec::new();
    for (k, levels) in finite_table::SIZES {
        let mut rows = Vec::new();
        for (label, quantizer) in finite_table::ROWS {
            let mut runs = Vec::new();
            if args.rows.as_ref().is_none_or(|r| r.contains(&quantizer)) {
                for &seed in &args.seeds {
                    let options = TrainOptions {
                        dataset: DatasetKind::FashionMnist,
                        data_dir: args.data_dir.clone(),
                        quantizer,
                        codebook: finite_table::codebook(quantizer, k, levels),
                        backend: args.backend,
                        device: args.device,
                        epochs: args.epochs,
                        batch_size: 64,
                        lr: 1e-3,
                        seed,
                        protocol: args.protocol,
                        max_steps_per_epoch: None,
                        max_eval_images: None,
                        checkpoint_every: 200,
                        threads: args.threads,
                        count_train_codes: false,
                        out_dir: finite_table::run_dir(&out, &protocol, k, quantizer, seed),
                        progress: !args.quiet,
                    };
                    if args.render_only {
                        let result = options.out_dir.join("result.json");
                        if result.is_file() {
                            runs.push(read_json(&result)?);
                        }
                        continue;
                    }
                    eprintln!("== finite table, K = {k}, {label}, seed {seed} ({protocol})");
                    runs.push(run(&options)?);
                }
            }
            rows.push(runs);
        }
        results.push((k, rows));
    }
    let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
    let heading = format!(
        "Finite codebooks: Fashion-MNIST, the paper's model ({protocol} protocol, {} epochs, \
         seeds {}, {} on {}; mean ± sample std over seeds)",
        args.epochs,
        seeds.join(", "),
        format!("{:?}", args.backend).to_lowercase(),
        args.device
    );
    let markdown = finite_table::render(&heading, &results);
    write_table(&out.join(&protocol), "table-finite.md", &markdown)
}

fn stat(values: &[f64], digits: usize) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let (mean, std) = mean_std(values);
    let show = |x: f64| {
        if digits == 0 {
            thousands(x.round() as u64)
        } else {
            format!("{x:.digits$}")
        }
    };
    if values.len() == 1 {
        show(mean)
    } else {
        format!("{} ± {}", show(mean), show(std))
    }
}

/// `1913257` as `1,913,257`, as the paper prints counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn render(table: &PaperTable, results: &[Vec<RunResult>], args: &Args) -> String {
    let mut md = String::new();
    let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
    let _ = writeln!(
        md,
        "Table {}: {} ({} protocol, {} epochs, seeds {}, {} on {}; mean ± sample std over seeds)\n",
        table.number,
        table.title,
        format!("{:?}", args.protocol).to_lowercase(),
        args.epochs,
        seeds.join(", "),
        format!("{:?}", args.backend).to_lowercase(),
        args.device
    );
    let _ = writeln!(
        md,
        "| model | test MSE (ours) | paper recon. error | official ckpt MSE | unique codes, test, eval mode (ours) | official ckpt codes | unique codes, train split, eval mode (ours) | unique vectors, train split, train mode, as the paper counted (ours) | paper embeddings/dataset | training wall time per run (ours) | paper time |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (row, runs) in table.rows.iter().zip(results) {
        let get = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
            runs.iter().filter_map(f).collect()
        };
        let (official_mse, official_codes) = row.official.unwrap_or(("-", "-"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.label,
            stat(&get(&|r| Some(r.test.mse)), 5),
            row.reconstruction,
            official_mse,
            stat(&get(&|r| Some(r.test.unique_codes as f64)), 0),
            official_codes,
            stat(&get(&|r| r.train_unique_codes_eval.map(|c| c as f64)), 0),
            stat(&get(&|r| r.train_unique_vectors_paper.map(|c| c as f64)), 0),
            row.embeddings,
            stat(&get(&|r| Some(r.train_seconds)), 0) + if runs.is_empty() { "" } else { " s" },
            row.time,
        );
    }
    md
}
