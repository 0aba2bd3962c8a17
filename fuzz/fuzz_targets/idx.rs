#![no_main]
//! Fuzz target `idx`: input layout and checks in `lattice_vq_fuzz::idx`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::idx(data));
