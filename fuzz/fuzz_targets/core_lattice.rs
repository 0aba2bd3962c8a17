#![no_main]
//! Fuzz target `core_lattice`: see `lattice_vq_fuzz::core_lattice` for the input layout and what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::core_lattice(data));
