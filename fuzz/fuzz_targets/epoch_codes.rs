#![no_main]
//! Fuzz target `epoch_codes`: see `lattice_vq_fuzz::epoch_codes`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::epoch_codes(data));
