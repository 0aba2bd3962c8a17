//! The training loop, the examples' library side and evaluation, on the synthetic dataset
//! (and, for official-checkpoint parity, the real Fashion-MNIST test set).

#[cfg(feature = "tch")]
#[path = "training/adam.rs"]
mod adam;
#[path = "training/bad_options.rs"]
mod bad_options;
#[path = "training/cli.rs"]
mod cli;
// tch and candle on the same weights and inputs (formerly lattice-vq-tch's tests).
#[cfg(feature = "tch")]
#[path = "training/cross_backend.rs"]
mod cross_backend;
#[path = "training/defects.rs"]
mod defects;
#[path = "training/faults.rs"]
mod faults;
#[path = "training/finite.rs"]
mod finite;
#[path = "training/names.rs"]
mod names;
#[path = "training/network.rs"]
mod network;
#[path = "training/official.rs"]
mod official;
#[path = "training/protocol.rs"]
mod protocol;
#[path = "training/repeatable.rs"]
mod repeatable;
#[path = "training/resume.rs"]
mod resume;
#[path = "training/smoke.rs"]
mod smoke;
#[path = "training/support.rs"]
mod support;
