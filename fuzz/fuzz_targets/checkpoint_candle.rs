#![no_main]
//! Fuzz target `checkpoint_candle`: input layout and checks in `lattice_vq_fuzz::checkpoint_candle`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::checkpoint_candle(data));
