//! Integration tests of lattice-vq-core, built as one binary.

mod bad_input;
mod bounded;
mod codebook_usage;
mod counting;
mod ema;
mod fsq;
mod fsq_peer;
mod gradients;
mod init;
mod lattice_contract;
mod mixed_radix;
mod network;
mod quantize_props;
mod support;
mod ties;
mod vocabulary;
mod vq;
mod vq_certificate;
mod vq_loss;
