//! Integration tests of lattice-vq-core, built as one binary.

mod bad_input;
mod counting;
mod ema;
mod gradients;
mod init;
mod lattice_contract;
mod mixed_radix;
mod network;
mod quantize_props;
mod support;
mod ties;
mod vq;
mod vq_certificate;
mod vq_loss;
