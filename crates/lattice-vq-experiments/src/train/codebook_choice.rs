//! The codebook's size on the command line and in `options.json`: `--levels` for FSQ and the
//! bounded lattice, `--codebook-size` for VQ, VQ-EMA and the lattices' initialisation range.

use lattice_vq_core::Levels;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The codebook size a run asked for; both absent in runs from before finite codebooks
/// (their `options.json` still loads: K = 512, no levels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct CodebookChoice {
    /// Level counts of FSQ and the bounded lattice, comma-separated (`8,8,8` is K = 512,
    /// `8,8,8,5,5,5` K = 64,000).
    #[arg(long)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "levels_as_text",
        deserialize_with = "levels_from_text"
    )]
    pub levels: Option<Levels>,
    /// K of VQ and VQ-EMA, and of the lattices' initialisation range (Eq. 6); default 512.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codebook_size: Option<usize>,
}

impl CodebookChoice {
    /// Whether neither size was given (the paper's K = 512).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn levels_as_text<S: Serializer>(
    levels: &Option<Levels>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match levels {
        Some(levels) => serializer.serialize_some(&levels.to_string()),
        None => serializer.serialize_none(),
    }
}

fn levels_from_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Levels>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}
