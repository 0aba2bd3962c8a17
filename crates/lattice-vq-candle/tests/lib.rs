//! Integration tests of lattice-vq-candle, built as one binary.

mod bad_input;
mod contract;
mod conv;
mod core_parity;
mod cuda;
mod ema;
mod official_checkpoints;
mod reproducible;
mod support;
