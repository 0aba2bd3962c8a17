//! The device a run trains on: `cpu`, `cuda` or `cuda:N`, on the command line and in the
//! run's files alike.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What [`Device`] parses, for messages and `--help`.
pub const DEVICES: &str = "cpu, cuda, cuda:N";

/// Where the framework computes. Parsed from and written as `cpu`, `cuda` (the first GPU)
/// or `cuda:N`; `cuda` and `cuda:0` are the same GPU but stay as written, so a run folder's
/// `options.json` reads back as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Device {
    /// The CPU.
    #[default]
    Cpu,
    /// A CUDA GPU: `None` for plain `cuda` (the first), `Some(n)` for `cuda:n`.
    Cuda(Option<usize>),
}

impl Device {
    /// The CUDA ordinal, `None` for the CPU.
    pub fn cuda_index(self) -> Option<usize> {
        match self {
            Self::Cpu => None,
            Self::Cuda(n) => Some(n.unwrap_or(0)),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// `cpu`, `cuda` or `cuda:N` (N as `usize` parses it, as the backends' device names
    /// always did).
    ///
    /// # Errors
    /// [`Error::Unknown`] for anything else.
    fn from_str(s: &str) -> Result<Self, Error> {
        let unknown = || Error::Unknown {
            what: "device",
            name: s.into(),
            expected: DEVICES,
        };
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(None)),
            other => {
                let n = other.strip_prefix("cuda:").ok_or_else(unknown)?;
                Ok(Self::Cuda(Some(n.parse().map_err(|_| unknown())?)))
            }
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(None) => f.write_str("cuda"),
            Self::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

impl TryFrom<String> for Device {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Device> for String {
    fn from(device: Device) -> Self {
        device.to_string()
    }
}
