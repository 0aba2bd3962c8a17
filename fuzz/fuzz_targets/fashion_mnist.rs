#![no_main]
//! Fuzz target `fashion_mnist`: see `lattice_vq_fuzz::fashion_mnist`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::fashion_mnist(data));
