#![no_main]
//! Fuzz target `celeba_partition`: input layout and checks in `lattice_vq_fuzz::celeba_partition`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::celeba_partition(data));
