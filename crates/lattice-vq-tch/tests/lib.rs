//! Integration tests of lattice-vq-tch, built as one binary: the test kit's conformance
//! suites on libtorch's CPU (`core_parity::...`, `layouts::...`, `ema::...`,
//! `bad_input::...`, `models::...`, `official_checkpoints::...`; the backend is in kit.rs)
//! and the contract items that are tch's own (contract.rs).

mod contract;
mod kit;

use kit::TchCpu;

lattice_vq_testkit::conformance_tests!(backend: TchCpu::new());
