//! The paper's result tables: which runs make each row, and the numbers printed in the
//! paper and measured on the official checkpoints (`shared/design/paper-notes.md`).

use super::kinds::{DatasetKind, QuantizerKind};

/// One row of a paper table.
#[derive(Debug, Clone, Copy)]
pub struct PaperRow {
    /// The row's label in the paper.
    pub label: &'static str,
    /// Our quantizer for it.
    pub quantizer: QuantizerKind,
    /// The paper's reconstruction error.
    pub reconstruction: &'static str,
    /// The paper's "No. embeddings/dataset" (`-` where it printed none).
    pub embeddings: &'static str,
    /// The paper's training time (5 epochs, RTX 4090), with its unit.
    pub time: &'static str,
    /// The official checkpoint on the test set, eval mode: MSE and unique codes (only the
    /// Fashion-MNIST checkpoints are evaluated here).
    pub official: Option<(&'static str, &'static str)>,
}

/// A paper table.
#[derive(Debug, Clone)]
pub struct PaperTable {
    /// The table's number in the paper.
    pub number: u8,
    /// What it compares.
    pub title: &'static str,
    /// Our dataset.
    pub dataset: DatasetKind,
    /// The paper's batch size for it.
    pub batch_size: usize,
    /// Its rows.
    pub rows: Vec<PaperRow>,
}

impl PaperTable {
    /// Check that every name in `rows` (a `--rows` selection) is one of this table's rows'
    /// quantizers.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming the first unknown row and listing the table's rows.
    pub fn check_rows(&self, rows: &[QuantizerKind]) -> crate::Result<()> {
        let known: Vec<QuantizerKind> = self.rows.iter().map(|r| r.quantizer).collect();
        match rows.iter().find(|r| !known.contains(r)) {
            None => Ok(()),
            Some(unknown) => Err(crate::Error::Invalid {
                what: "rows".into(),
                problem: format!(
                    "no row of table {} is {:?}: its rows are {}",
                    self.number,
                    unknown.name(),
                    known
                        .iter()
                        .map(|q| q.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
}

const fn row(
    label: &'static str,
    quantizer: QuantizerKind,
    reconstruction: &'static str,
    embeddings: &'static str,
    time: &'static str,
) -> PaperRow {
    PaperRow {
        label,
        quantizer,
        reconstruction,
        embeddings,
        time,
        official: None,
    }
}

/// Table 2, 3, 4 or 5 of the paper.
pub fn paper_table(number: u8) -> Option<PaperTable> {
    let table = match number {
        2 => PaperTable {
            number,
            title: "FFHQ-1024: VQ, VQ-EMA and LL-VQ",
            dataset: DatasetKind::Ffhq1024,
            batch_size: 32,
            rows: vec![
                row("VQ-VAE", QuantizerKind::Vq, "0.0063", "36", "231 min"),
                row(
                    "VQ-VAE (EMA)",
                    QuantizerKind::VqEma,
                    "0.0033",
                    "87,982",
                    "85 min",
                ),
                row(
                    "LL-VQ-VAE",
                    QuantizerKind::Lattice,
                    "0.0018",
                    "1,405",
                    "79 min",
                ),
            ],
        },
        3 => PaperTable {
            number,
            title: "FFHQ-1024: LL-VQ initialisation and size-loss sign",
            dataset: DatasetKind::Ffhq1024,
            batch_size: 32,
            rows: vec![
                row(
                    "init (-1, 1), gamma 1",
                    QuantizerKind::LatticeUnitInit,
                    "0.0016",
                    "7,439",
                    "-",
                ),
                row(
                    "init (-9.76, 9.76), gamma 1",
                    QuantizerKind::Lattice,
                    "0.0018",
                    "1,405",
                    "-",
                ),
                row(
                    "init (-1, 1), gamma -1",
                    QuantizerKind::DenseLattice,
                    "0.0006",
                    "-",
                    "-",
                ),
            ],
        },
        4 => PaperTable {
            number,
            title: "CelebA: VQ, VQ-EMA, LL-VQ and dense LL-VQ",
            dataset: DatasetKind::Celeba,
            batch_size: 64,
            rows: vec![
                row("VQ-VAE", QuantizerKind::Vq, "0.0025", "98", "54 min"),
                row(
                    "VQ-VAE (EMA)",
                    QuantizerKind::VqEma,
                    "0.0057",
                    "34,210",
                    "19 min",
                ),
                row(
                    "LL-VQ-VAE",
                    QuantizerKind::Lattice,
                    "0.0017",
                    "890",
                    "17 min",
                ),
                row(
                    "LL-VQ-VAE (dense)",
                    QuantizerKind::DenseLattice,
                    "0.00009",
                    "-",
                    "16 min",
                ),
            ],
        },
        5 => PaperTable {
            number,
            title: "Fashion-MNIST: VQ, VQ-EMA, LL-VQ and dense LL-VQ",
            dataset: DatasetKind::FashionMnist,
            batch_size: 64,
            rows: vec![
                PaperRow {
                    official: Some(("0.0122602", "17")),
                    ..row("VQ-VAE", QuantizerKind::Vq, "0.013", "32", "89 s")
                },
                PaperRow {
                    official: Some(("0.0296100", "201")),
                    ..row(
                        "VQ-VAE (EMA)",
                        QuantizerKind::VqEma,
                        "0.047",
                        "63,566",
                        "84 s",
                    )
                },
                PaperRow {
                    official: Some(("0.0094180", "399")),
                    ..row(
                        "LL-VQ-VAE",
                        QuantizerKind::Lattice,
                        "0.009",
                        "1,781",
                        "84 s",
                    )
                },
                PaperRow {
                    official: Some(("0.0070142", "1,913,257")),
                    ..row(
                        "LL-VQ-VAE (dense)",
                        QuantizerKind::DenseLattice,
                        "0.007",
                        "-",
                        "85 s",
                    )
                },
            ],
        },
        _ => return None,
    };
    Some(table)
}

/// Mean and sample standard deviation (`n - 1`; 0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
