//! The finite-codebook table of docs/reproducing.md (not in the paper): Fashion-MNIST, the
//! paper's model, VQ, VQ-EMA, FSQ and the bounded lattice (learned steps; learned steps and
//! offsets) at K = 512 (levels 8,8,8) and K = 64,000 (levels 8,8,8,5,5,5), with the paper's
//! unbounded LL-VQ for reference. `reproduce --table finite` runs and renders it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::codebook_choice::CodebookChoice;
use super::kinds::QuantizerKind;
use super::metrics::EpochMode;
use super::run::RunResult;
use super::tables::mean_std;

/// The codebook sizes compared, with the levels of the finite codebooks for each.
pub const SIZES: [(u64, &str); 2] = [(512, "8,8,8"), (64_000, "8,8,8,5,5,5")];

/// The rows, labelled.
pub const ROWS: [(&str, QuantizerKind); 6] = [
    ("VQ", QuantizerKind::Vq),
    ("VQ-EMA", QuantizerKind::VqEma),
    ("FSQ", QuantizerKind::Fsq),
    (
        "bounded LL-VQ (learned steps)",
        QuantizerKind::BoundedLattice,
    ),
    (
        "bounded LL-VQ (learned steps and offsets)",
        QuantizerKind::BoundedLatticeOffset,
    ),
    ("LL-VQ, unbounded (the paper's)", QuantizerKind::Lattice),
];

/// The codebook choice of `quantizer` at size `k` (`levels` for the finite codebooks,
/// `--codebook-size k` for the others; for the unbounded lattice K sets Eq. 6's range).
pub fn codebook(quantizer: QuantizerKind, k: u64, levels: &str) -> CodebookChoice {
    if quantizer.is_finite() {
        CodebookChoice {
            levels: Some(levels.parse().expect("the table's levels are valid")),
            codebook_size: None,
        }
    } else {
        CodebookChoice {
            levels: None,
            codebook_size: Some(k as usize),
        }
    }
}

/// Where a run of the table goes: `OUT/PROTOCOL/kK/QUANTIZER/seed-N`.
pub fn run_dir(out: &Path, protocol: &str, k: u64, quantizer: QuantizerKind, seed: u64) -> PathBuf {
    out.join(protocol)
        .join(format!("k{k}"))
        .join(quantizer.name())
        .join(format!("seed-{seed}"))
}

/// The codes of a K-word codebook that no training batch of the run's last trained epoch
/// used (from the batch it resumed at, if it was interrupted).
fn dead_codes(run: &RunResult, k: u64) -> Option<f64> {
    let last = run.epochs.iter().rfind(|e| e.mode == EpochMode::Trained)?;
    Some(k.saturating_sub(last.train_unique_codes as u64) as f64)
}

/// `mean ± std` (or the one value) of `values`, `-` without any.
fn stat(values: &[f64], show: impl Fn(f64) -> String) -> String {
    match values.len() {
        0 => "-".into(),
        1 => show(values[0]),
        _ => {
            let (mean, std) = mean_std(values);
            format!("{} ± {}", show(mean), show(std))
        }
    }
}

/// Seconds per optimizer step: the training loop's seconds over the steps of its trained
/// epochs.
fn step_seconds(run: &RunResult) -> Option<f64> {
    let steps: usize = run
        .epochs
        .iter()
        .filter(|e| e.mode == EpochMode::Trained)
        .map(|e| e.steps)
        .sum();
    (steps > 0).then(|| run.train_seconds / steps as f64)
}

/// The markdown table of `results` (for each size, each row's runs, possibly none),
/// headed by what made it.
pub fn render(heading: &str, results: &[(u64, Vec<Vec<RunResult>>)]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{heading}\n");
    let _ = writeln!(
        md,
        "| K | quantizer | runs | test MSE | codes used, test / K | perplexity, test | dead codes, last training epoch | overload rate, test | seconds per training step |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for (k, rows) in results {
        for ((label, quantizer), runs) in ROWS.iter().zip(rows) {
            let values = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
                runs.iter().filter_map(f).collect()
            };
            let used = values(&|r| Some(r.test.unique_codes as f64));
            let bounded = quantizer.is_finite()
                || matches!(quantizer, QuantizerKind::Vq | QuantizerKind::VqEma);
            let dead = if bounded {
                stat(&values(&|r| dead_codes(r, *k)), |x| format!("{x:.0}"))
            } else {
                "-".into()
            };
            let codes = if bounded {
                let fraction = used.iter().map(|u| u / *k as f64).collect::<Vec<_>>();
                format!(
                    "{} ({})",
                    stat(&used, |x| format!("{x:.0}")),
                    stat(&fraction, |x| format!("{x:.4}"))
                )
            } else {
                format!("{} (unbounded)", stat(&used, |x| format!("{x:.0}")))
            };
            let _ = writeln!(
                md,
                "| {k} | {label} | {} | {} | {codes} | {} | {dead} | {} | {} |",
                runs.len(),
                stat(&values(&|r| Some(r.test.mse)), |x| format!("{x:.5}")),
                stat(&values(&|r| Some(r.test.perplexity)), |x| format!("{x:.1}")),
                stat(&values(&|r| r.test.overload_rate), |x| format!("{x:.4}")),
                stat(&values(&step_seconds), |x| format!("{x:.3}")),
            );
        }
    }
    md
}
