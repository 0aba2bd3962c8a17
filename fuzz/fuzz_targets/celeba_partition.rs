#![no_main]
//! Fuzz target `celeba_partition`: see `lattice_vq_fuzz::celeba_partition` for the input layout and what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::celeba_partition(data));
