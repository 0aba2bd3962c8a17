#![no_main]
//! Fuzz target `core_counting`: input layout and checks in `lattice_vq_fuzz::core_counting`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::core_counting(data));
