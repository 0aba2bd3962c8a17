//! The entry functions of lattice-vq's fuzz targets, one per parser or public entry point
//! that takes untrusted bytes or floats.
//!
//! Each `fn(&[u8])` turns the bytes into the API's input, calls it and asserts its
//! contract: it never panics, bad input is a typed error, and what it returns is
//! consistent (each function's documentation lists what it checks). A failed check is a
//! panic, which libFuzzer reports as a crash.
//!
//! The same functions run twice: under libFuzzer in `fuzz/` (nightly, `cargo fuzz run
//! <target>`, see fuzz/README.md), and on every committed corpus and crash file in this
//! crate's `tests/replay.rs`, which the stable `cargo test` runs.
//!
//! | target | what it feeds |
//! |---|---|
//! | [`idx`] | IDX files, plain and gzipped |
//! | [`fashion_mnist`] | a Fashion-MNIST split from its two IDX files |
//! | [`image_folder`] | a folder of images: listing, decoding, flipping |
//! | [`celeba_partition`] | CelebA's partition file |
//! | [`run_state`] | a run folder's `state.json`, `options.json`, `result.json`, checkpoint names |
//! | [`epoch_codes`] | a checkpoint's `epoch_codes.bin`, and counting on from it |
//! | [`checkpoint_candle`] | safetensors into the candle model; a candle backend's optimizer state |
//! | `checkpoint_tch` | the same on tch (feature `tch`) |
//! | [`core_lattice`] | lattice construction, quantize, decode, config validation |
//! | [`core_counting`] | exact code counting, HyperLogLog sketches, histograms, merging |

mod celeba_partition;
mod checkpoint_candle;
#[cfg(feature = "tch")]
mod checkpoint_tch;
mod core_counting;
mod core_lattice;
mod epoch_codes;
mod fashion_mnist;
mod idx;
mod image_folder;
pub mod input;
pub mod model;
mod run_state;
pub mod scratch;

pub use celeba_partition::celeba_partition;
pub use checkpoint_candle::checkpoint_candle;
#[cfg(feature = "tch")]
pub use checkpoint_tch::checkpoint_tch;
pub use core_counting::core_counting;
pub use core_lattice::core_lattice;
pub use epoch_codes::epoch_codes;
pub use fashion_mnist::fashion_mnist;
pub use idx::{expected_idx, idx};
pub use image_folder::image_folder;
pub use run_state::run_state;

/// A fuzz target's name (its folder under `fuzz/corpus/` and `fuzz/artifacts/`) and entry
/// function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target this build has (`checkpoint_tch` only with the `tch` feature).
pub const TARGETS: &[Target] = &[
    ("idx", idx),
    ("fashion_mnist", fashion_mnist),
    ("image_folder", image_folder),
    ("celeba_partition", celeba_partition),
    ("run_state", run_state),
    ("epoch_codes", epoch_codes),
    ("checkpoint_candle", checkpoint_candle),
    #[cfg(feature = "tch")]
    ("checkpoint_tch", checkpoint_tch),
    ("core_lattice", core_lattice),
    ("core_counting", core_counting),
];
