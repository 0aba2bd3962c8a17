//! The PyTorch reference the training-step benchmarks compare against, and their options.
//!
//! `scripts/pytorch_reference.py` runs as a persistent server: the benchmark times its own
//! steps, then asks the server for the same number of steps of the same model, round after
//! round, so both sides run interleaved on the same machine state and never at once.
//!
//! It lives here, below the adapters, so that their benches need not depend on
//! lattice-vq-experiments (which re-exports it as `lattice_vq_experiments::reference`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Command-line options shared by the training-step benchmarks.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Intra-op threads on both sides.
    pub threads: usize,
    /// Timed rounds; the median is reported.
    pub rounds: usize,
    /// Steps per round.
    pub steps: usize,
    /// Images per batch.
    pub batch: usize,
    /// `cpu` or `cuda`.
    pub device: String,
    /// `fashion-mnist` or `ffhq1024`.
    pub dataset: String,
    /// Quantizer names, as `QuantizerConfig::by_name` and the script know them: by default the
    /// paper's `lattice`, `dense-lattice`, `vq`, `vq-ema`; also `fsq`, `bounded-lattice`.
    pub quantizers: Vec<String>,
}

impl BenchOptions {
    /// Parse `--threads --rounds --steps --batch --device --dataset --quantizers` from the
    /// process arguments (cargo's own `--bench` is ignored).
    ///
    /// # Panics
    /// On an unknown flag or a malformed value: this is a benchmark's command line.
    pub fn from_args() -> Self {
        let mut options = Self {
            threads: 2,
            rounds: 7,
            steps: 10,
            batch: 64,
            device: "cpu".into(),
            dataset: "fashion-mnist".into(),
            quantizers: ["lattice", "dense-lattice", "vq", "vq-ema"]
                .map(String::from)
                .to_vec(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--threads" => options.threads = value().parse().expect("--threads N"),
                "--rounds" => options.rounds = value().parse().expect("--rounds N"),
                "--steps" => options.steps = value().parse().expect("--steps N"),
                "--batch" => options.batch = value().parse().expect("--batch N"),
                "--device" => options.device = value(),
                "--dataset" => options.dataset = value(),
                "--quantizers" => {
                    options.quantizers = value().split(',').map(String::from).collect()
                }
                "--bench" => {}
                other => panic!("unknown flag {other}"),
            }
        }
        options
    }

    /// Image side length of the dataset.
    pub fn image_side(&self) -> usize {
        if self.dataset == "ffhq1024" { 1024 } else { 28 }
    }
}

/// A running `scripts/pytorch_reference.py` server.
#[derive(Debug)]
pub struct PyTorchReference {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl PyTorchReference {
    /// Start the server with the benchmark's options, using `$VIRTUAL_ENV/bin/python` (the
    /// repo's torch venv after `. scripts/torch-env`), else `python3`; the script is
    /// `$LATTICE_VQ_PYTORCH_REFERENCE`, else the repo's `scripts/pytorch_reference.py`.
    ///
    /// # Panics
    /// If the script cannot be started or does not answer `ready`.
    pub fn start(options: &BenchOptions) -> Self {
        let python = std::env::var("VIRTUAL_ENV")
            .map(|venv| format!("{venv}/bin/python"))
            .unwrap_or_else(|_| "python3".into());
        // Where the binary was built, unless it was carried elsewhere (a GPU machine).
        let script = std::env::var_os("LATTICE_VQ_PYTORCH_REFERENCE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pytorch_reference.py")
            });
        let mut child = Command::new(python)
            .arg(script)
            .args([
                "--threads",
                &options.threads.to_string(),
                "--batch",
                &options.batch.to_string(),
            ])
            .args(["--device", &options.device, "--dataset", &options.dataset])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the PyTorch reference (source scripts/torch-env first)");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read from the PyTorch reference");
        assert_eq!(line.trim(), "ready", "PyTorch reference did not start");
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Mean seconds per training step over `steps` steps of `quantizer`'s model. The first
    /// request for a quantizer may pass `init`: a safetensors file with the initial weights
    /// (official names) and the batch as `images`, so both sides do the same work.
    ///
    /// # Panics
    /// If the server does not answer with a number.
    pub fn seconds_per_step(&mut self, quantizer: &str, steps: usize, init: Option<&Path>) -> f64 {
        let stdin = self.stdin.as_mut().expect("server running");
        match init {
            Some(path) => writeln!(stdin, "{quantizer} {steps} {}", path.display()),
            None => writeln!(stdin, "{quantizer} {steps}"),
        }
        .and_then(|()| stdin.flush())
        .expect("write to the PyTorch reference");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read from the PyTorch reference");
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad answer from PyTorch: {line:?}"))
    }
}

impl Drop for PyTorchReference {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The median of `values` (sorted in place).
///
/// # Panics
/// If `values` is empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Print one row of the benchmark table (seconds per step of both sides, their ratio, and
/// images per second of both for batches of `batch`) and return it for the summary.
pub fn report_row(name: &str, ours: f64, theirs: f64, batch: usize) -> (String, f64, f64) {
    println!(
        "| {name} | {ours:.4} | {theirs:.4} | {:.3} | {:.1} / {:.1} |",
        ours / theirs,
        batch as f64 / ours,
        batch as f64 / theirs
    );
    (name.to_string(), ours, theirs)
}

/// Print the LL-VQ / VQ step-time ratios of both sides, when both were measured.
pub fn report_lattice_vs_vq(rows: &[(String, f64, f64)], backend: &str) {
    let find = |name: &str| rows.iter().find(|(n, _, _)| n == name);
    if let (Some(lattice), Some(vq)) = (find("lattice"), find("vq")) {
        println!(
            "\nLL-VQ / VQ step time: {backend} {:.3}, PyTorch {:.3}",
            lattice.1 / vq.1,
            lattice.2 / vq.2
        );
    }
}
