//! The tables `reproduce --table` makes: the paper's 2 to 5 and our finite-codebook table, as
//! a value enum so that `--help` lists them.

use std::fmt;

use clap::ValueEnum;

use super::tables::{PaperTable, paper_table};

/// A table `reproduce` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum TableChoice {
    /// The paper's Table 2: FFHQ-1024, VQ, VQ-EMA and LL-VQ.
    #[value(name = "2")]
    Table2,
    /// The paper's Table 3: FFHQ-1024, the LL-VQ ablation.
    #[value(name = "3")]
    Table3,
    /// The paper's Table 4: CelebA.
    #[value(name = "4")]
    Table4,
    /// The paper's Table 5: Fashion-MNIST.
    #[value(name = "5")]
    Table5,
    /// The finite-codebook table of docs/reproducing.md (not in the paper).
    #[value(name = "finite")]
    Finite,
}

impl TableChoice {
    /// Every table, in the order `--help` lists them.
    pub const ALL: [Self; 5] = [
        Self::Table2,
        Self::Table3,
        Self::Table4,
        Self::Table5,
        Self::Finite,
    ];

    /// The name on the command line (and in `runs/tableN`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Table2 => "2",
            Self::Table3 => "3",
            Self::Table4 => "4",
            Self::Table5 => "5",
            Self::Finite => "finite",
        }
    }

    /// The paper's table, `None` for [`TableChoice::Finite`].
    pub fn paper(self) -> Option<PaperTable> {
        match self {
            Self::Table2 => paper_table(2),
            Self::Table3 => paper_table(3),
            Self::Table4 => paper_table(4),
            Self::Table5 => paper_table(5),
            Self::Finite => None,
        }
    }
}

impl fmt::Display for TableChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
