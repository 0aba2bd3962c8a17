#![no_main]
//! Fuzz target `core_counting`: see `lattice_vq_fuzz::core_counting`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::core_counting(data));
