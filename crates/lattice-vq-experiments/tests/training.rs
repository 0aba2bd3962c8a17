//! The training loop, the examples' library side and evaluation, on the synthetic dataset
//! (and, for official-checkpoint parity, the real Fashion-MNIST test set).

#[cfg(feature = "tch")]
#[path = "training/adam.rs"]
mod adam;
#[path = "training/bad_options.rs"]
mod bad_options;
#[path = "training/defects.rs"]
mod defects;
#[path = "training/faults.rs"]
mod faults;
#[path = "training/names.rs"]
mod names;
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
