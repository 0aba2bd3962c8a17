#![no_main]
//! Fuzz target `image_folder`: see `lattice_vq_fuzz::image_folder`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_vq_fuzz::image_folder(data));
