#![no_main]
//! Fuzz target `idx`: see `lattice_vq_fuzz::idx`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::idx(data));
