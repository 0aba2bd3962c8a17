//! Integration tests of lattice-vq-core, built as one binary.

mod bad_input;
mod counting;
mod gradients;
mod init;
mod quantize_props;
mod support;
mod ties;
mod vq;
