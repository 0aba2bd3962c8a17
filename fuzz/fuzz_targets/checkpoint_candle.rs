#![no_main]
//! Fuzz target `checkpoint_candle`: see `lattice_vq_fuzz::checkpoint_candle`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::checkpoint_candle(data));
