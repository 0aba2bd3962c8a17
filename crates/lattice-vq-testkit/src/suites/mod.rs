//! The conformance suites, each a module of generic functions over a backend, one per
//! check. [`conformance_tests!`](crate::conformance_tests) instantiates them as tests.
//!
//! | suite | needs | replaces |
//! |---|---|---|
//! | [`core_parity`] | [`Backend`](crate::Backend) | `tests/core_parity.rs` of both adapters |
//! | [`layouts`] | [`Backend`](crate::Backend) | (new: the contract's layouts and `decode`) |
//! | [`ema`] | [`Backend`](crate::Backend) | `tests/ema.rs` of both adapters |
//! | [`bad_input`] | [`Backend`](crate::Backend) | the quantizer tests of `tests/bad_input.rs` |
//! | [`finite`] | [`FiniteBackend`](crate::FiniteBackend) | (new: FSQ and the bounded lattice against the core) |
//! | [`models`] | [`ModelBackend`](crate::ModelBackend) | the model tests of `tests/bad_input.rs` |
//! | [`official_checkpoints`] | [`ModelBackend`](crate::ModelBackend) | `tests/official_checkpoints.rs` |

pub mod bad_input;
pub mod core_parity;
pub mod ema;
pub mod finite;
pub mod layouts;
pub mod models;
pub mod official_checkpoints;
mod support;
