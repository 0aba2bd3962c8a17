#![no_main]
//! Fuzz target `checkpoint_tch`: see `lattice_vq_fuzz::checkpoint_tch`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::checkpoint_tch(data));
