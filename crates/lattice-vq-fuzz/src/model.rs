//! The model the checkpoint targets load into: the paper's VQ-VAE with the tensor names and
//! layer structure of every dataset's model, at sizes small enough for a checkpoint to fit
//! libFuzzer's input limit (the Fashion-MNIST model's file is about 1 MB).

use lattice_vq_core::{
    LatticeQuantizerConfig, QuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig,
    VqVaeConfig,
};
use lattice_vq_experiments::data::{Batch, ImageShape};

/// One channel in, one stride-2 stage of 2 channels, D = 2.
pub fn tiny_model() -> VqVaeConfig {
    VqVaeConfig {
        image_channels: 1,
        hidden_dims: vec![2],
        embedding_dim: 2,
    }
}

/// The quantizer picked by `selector` mod 4: sparse LL-VQ, dense LL-VQ, VQ, VQ-EMA (the
/// codebooks of 4 words), all of D = 2.
pub fn quantizer(selector: u8) -> QuantizerConfig {
    let dim = tiny_model().embedding_dim;
    match selector % 4 {
        0 => QuantizerConfig::Lattice(LatticeQuantizerConfig::new(512, dim)),
        1 => QuantizerConfig::Lattice(LatticeQuantizerConfig::dense(512, dim)),
        2 => QuantizerConfig::Vq(VectorQuantizerConfig::new(4, dim)),
        _ => QuantizerConfig::VqEma(VectorQuantizerEmaConfig::new(4, dim)),
    }
}

/// The image shape of [`tiny_batch`].
pub const TINY_IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 4,
    width: 4,
};

/// One 1x4x4 image of gentle values, for a forward pass or a training step.
pub fn tiny_batch() -> Batch {
    Batch {
        images: (0..TINY_IMAGE.len())
            .map(|i| i as f32 / 32.0 - 0.25)
            .collect(),
        len: 1,
        shape: TINY_IMAGE,
    }
}
