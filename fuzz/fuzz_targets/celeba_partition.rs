#![no_main]
//! Fuzz target `celeba_partition`: see `lattice_vq_fuzz::celeba_partition`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::celeba_partition(data));
