#![no_main]
//! Fuzz target `core_counting`: see `lattice_vq_fuzz::core_counting` for the input layout and what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::core_counting(data));
