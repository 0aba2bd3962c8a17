#![no_main]
//! Fuzz target `run_state`: see `lattice_vq_fuzz::run_state`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::run_state(data));
