#![no_main]
//! Fuzz target `checkpoint_candle`: see `lattice_vq_fuzz::checkpoint_candle` for the input layout and what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::checkpoint_candle(data));
