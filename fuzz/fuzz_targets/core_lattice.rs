#![no_main]
//! Fuzz target `core_lattice`: see `lattice_vq_fuzz::core_lattice`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::core_lattice(data));
