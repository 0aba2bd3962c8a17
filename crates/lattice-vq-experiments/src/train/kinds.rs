//! The dataset and the quantizer a run uses: the values `--dataset` and `--quantizer` take,
//! as `options.json`, `result.json` and the checkpoints' state files spell them, and the
//! model each maps to.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;
use lattice_vq_core::{
    BasisInit, FiniteQuantizerConfig, LatticeQuantizerConfig, QuantizerConfig,
    VectorQuantizerConfig, VectorQuantizerEmaConfig, VqVaeConfig,
};
use serde::{Deserialize, Serialize};

use super::codebook_choice::CodebookChoice;
use crate::error::Error;

/// Codebook size K of every quantizer without `--codebook-size` (lattice: the `K` of its
/// integer range), as the paper.
const K: usize = 512;

/// A dataset [`super::datasets::open`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
pub enum DatasetKind {
    /// Fashion-MNIST (the full set where installed, else the embedded sample).
    #[serde(rename = "fashion-mnist")]
    #[value(name = "fashion-mnist")]
    FashionMnist,
    /// CelebA, 148x148 centre crops (needs --data-dir).
    #[serde(rename = "celeba")]
    #[value(name = "celeba")]
    Celeba,
    /// FFHQ at 1024x1024 (needs --data-dir).
    #[serde(rename = "ffhq1024")]
    #[value(name = "ffhq1024")]
    Ffhq1024,
    /// Any folder of same-sized RGB images; trains CelebA's model (needs --data-dir).
    #[serde(rename = "folder")]
    #[value(name = "folder")]
    Folder,
    /// Generated 28x28 images; trains Fashion-MNIST's model (smoke tests; no files).
    #[serde(rename = "synthetic")]
    #[value(name = "synthetic")]
    Synthetic,
}

impl DatasetKind {
    /// Every dataset, in the order `--help` lists them.
    pub const ALL: [Self; 5] = [
        Self::FashionMnist,
        Self::Celeba,
        Self::Ffhq1024,
        Self::Folder,
        Self::Synthetic,
    ];

    /// The name on the command line and in the run's files.
    pub fn name(self) -> &'static str {
        match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Celeba => "celeba",
            Self::Ffhq1024 => "ffhq1024",
            Self::Folder => "folder",
            Self::Synthetic => "synthetic",
        }
    }

    /// The paper's model for the dataset, the one `train` builds (`evaluate` takes a
    /// checkpoint's instead): Fashion-MNIST's for the synthetic images, CelebA's (one
    /// downsampling stage, 3 channels) for any RGB folder.
    pub fn model(self) -> VqVaeConfig {
        match self {
            Self::FashionMnist | Self::Synthetic => VqVaeConfig::fashion_mnist(),
            Self::Celeba | Self::Folder => VqVaeConfig::celeba(),
            Self::Ffhq1024 => VqVaeConfig::ffhq1024(),
        }
    }

    /// The range image values live in: Fashion-MNIST's `x / 255 - 0.5` (and the synthetic
    /// images'), else `[0, 1]`.
    pub fn value_range(self) -> (f32, f32) {
        match self {
            Self::FashionMnist | Self::Synthetic => (-0.5, 0.5),
            Self::Celeba | Self::Ffhq1024 | Self::Folder => (0.0, 1.0),
        }
    }
}

/// A quantizer: the paper's four (and a variant), or a finite codebook with token indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
pub enum QuantizerKind {
    /// The paper's sparse LL-VQ (size loss gamma 1, basis in (-9.76, 9.76) for D = 64).
    #[serde(rename = "lattice", alias = "sparse_lattice")]
    #[value(name = "lattice", alias = "sparse_lattice")]
    Lattice,
    /// Dense LL-VQ (size loss gamma -1, basis drawn from (-1, 1)).
    #[serde(rename = "dense-lattice", alias = "dense_lattice")]
    #[value(name = "dense-lattice", alias = "dense_lattice")]
    DenseLattice,
    /// Sparse LL-VQ from the dense variant's (-1, 1) basis (Table 3's first row).
    #[serde(rename = "lattice-unit-init")]
    #[value(name = "lattice-unit-init")]
    LatticeUnitInit,
    /// The VQ-VAE codebook (K = 512).
    #[serde(rename = "vq")]
    #[value(name = "vq")]
    Vq,
    /// The VQ-VAE codebook updated by exponential moving averages (K = 512).
    #[serde(rename = "vq-ema", alias = "vq_ema")]
    #[value(name = "vq-ema", alias = "vq_ema")]
    VqEma,
    /// A bounded lattice with learned steps (needs --levels).
    #[serde(rename = "bounded-lattice")]
    #[value(name = "bounded-lattice")]
    BoundedLattice,
    /// A bounded lattice with learned steps and offsets (needs --levels).
    #[serde(rename = "bounded-lattice-offset")]
    #[value(name = "bounded-lattice-offset")]
    BoundedLatticeOffset,
    /// FSQ, vector-quantize-pytorch's formulation (needs --levels).
    #[serde(rename = "fsq")]
    #[value(name = "fsq")]
    Fsq,
}

impl QuantizerKind {
    /// Every quantizer, in the order `--help` lists them.
    pub const ALL: [Self; 8] = [
        Self::Lattice,
        Self::DenseLattice,
        Self::LatticeUnitInit,
        Self::Vq,
        Self::VqEma,
        Self::BoundedLattice,
        Self::BoundedLatticeOffset,
        Self::Fsq,
    ];

    /// The canonical name on the command line and in the run's files (the official
    /// checkpoints' `sparse_lattice`, `dense_lattice` and `vq_ema` parse as aliases).
    pub fn name(self) -> &'static str {
        match self {
            Self::Lattice => "lattice",
            Self::DenseLattice => "dense-lattice",
            Self::LatticeUnitInit => "lattice-unit-init",
            Self::Vq => "vq",
            Self::VqEma => "vq-ema",
            Self::BoundedLattice => "bounded-lattice",
            Self::BoundedLatticeOffset => "bounded-lattice-offset",
            Self::Fsq => "fsq",
        }
    }

    /// Whether the quantizer is a finite codebook sized by `--levels`.
    pub fn is_finite(self) -> bool {
        matches!(
            self,
            Self::BoundedLattice | Self::BoundedLatticeOffset | Self::Fsq
        )
    }

    /// The quantizer's config for `dim`-dimensional latents: the paper's four with K = 512
    /// as `QuantizerConfig::by_name` in `crates/lattice-vq-core/src/model.rs` gives them
    /// (K from `--codebook-size` otherwise), the sparse lattice from the unit
    /// initialisation, and the finite codebooks of `--levels`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a finite codebook without levels, levels for another
    /// quantizer, or a codebook size for a finite one.
    pub fn config(self, dim: usize, codebook: CodebookChoice) -> Result<QuantizerConfig, Error> {
        let invalid = |problem: &str| Error::Invalid {
            what: "codebook".into(),
            problem: format!("{problem} (quantizer {self})"),
        };
        if self.is_finite() && codebook.codebook_size.is_some() {
            return Err(invalid(
                "a finite codebook's size is the product of its --levels, not --codebook-size",
            ));
        }
        let k = codebook.codebook_size.unwrap_or(K);
        if let Some(levels) = codebook.levels {
            // The training loop and the evaluation count tokens as `i32` code rows.
            if levels.codebook_size() > 1 << 31 {
                return Err(invalid(
                    "the experiments count tokens as i32: at most 2^31 codes (the layers take up to 2^63)",
                ));
            }
            return Ok(QuantizerConfig::Finite(match self {
                Self::Fsq => FiniteQuantizerConfig::fsq(levels, dim),
                Self::BoundedLattice => FiniteQuantizerConfig::bounded(levels, dim),
                Self::BoundedLatticeOffset => {
                    FiniteQuantizerConfig::bounded(levels, dim).with_learned_offset()
                }
                _ => {
                    return Err(invalid(
                        "--levels only sizes fsq and the bounded lattices; use --codebook-size",
                    ));
                }
            }));
        }
        Ok(match self {
            Self::Lattice => QuantizerConfig::Lattice(LatticeQuantizerConfig::new(k, dim)),
            Self::DenseLattice => QuantizerConfig::Lattice(LatticeQuantizerConfig::dense(k, dim)),
            Self::LatticeUnitInit => QuantizerConfig::Lattice(
                LatticeQuantizerConfig::new(k, dim).with_init(BasisInit::Symmetric(1.0)),
            ),
            Self::Vq => QuantizerConfig::Vq(VectorQuantizerConfig::new(k, dim)),
            Self::VqEma => QuantizerConfig::VqEma(VectorQuantizerEmaConfig::new(k, dim)),
            Self::BoundedLattice | Self::BoundedLatticeOffset | Self::Fsq => {
                return Err(invalid("--levels is required, for example 8,8,8"));
            }
        })
    }
}

/// `value` as one of `T`'s values (names and aliases, case-sensitive), else
/// [`Error::Unknown`].
fn parse<T: ValueEnum>(
    value: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<T, Error> {
    T::from_str(value, false).map_err(|_| Error::Unknown {
        what,
        name: value.into(),
        expected,
    })
}

impl FromStr for DatasetKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        parse(
            s,
            "dataset",
            "fashion-mnist, celeba, ffhq1024, folder, synthetic",
        )
    }
}

impl FromStr for QuantizerKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        parse(
            s,
            "quantizer",
            "lattice, dense-lattice, lattice-unit-init, vq, vq-ema, bounded-lattice, \
             bounded-lattice-offset, fsq",
        )
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for QuantizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
