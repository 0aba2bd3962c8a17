//! Integration tests of lattice-vq-candle, built as one binary: the test kit's conformance
//! suites (`kit`) and candle's own checks.

mod contract;
mod conv;
mod cuda;
mod kit;
mod reproducible;
mod support;
