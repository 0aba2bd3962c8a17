#![no_main]
//! Fuzz target `run_state`: see `lattice_vq_fuzz::run_state` for the input layout and what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::run_state(data));
