//! Integration tests of lattice-vq-tch, built as one binary. Each test runs libtorch on one
//! thread: tests run in parallel and OpenMP threads collapse when they share cores.

mod bad_input;
mod contract;
mod core_parity;
mod ema;
mod official_checkpoints;
mod support;
