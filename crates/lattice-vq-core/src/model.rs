//! Framework-free description of the paper's reference model, shared by the tch and candle
//! backends so that both build the same network from the same values; the network itself
//! (stages, tensor names, shapes, initialisation) is derived from it in [`crate::network`].

use crate::config::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};
use crate::finite_config::{FiniteQuantizerConfig, Levels};

/// Encoder/decoder shape of the paper's reference VQ-VAE for one of its datasets
/// (paper-notes "Model"): what every backend's `VqVae` is built from.
///
/// # Example
/// ```
/// use lattice_vq_core::VqVaeConfig;
///
/// let config = VqVaeConfig::for_dataset("ffhq1024").unwrap();
/// assert_eq!(config.hidden_dims, vec![16, 32]); // 1024x1024 images, 256x256 latents
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VqVaeConfig {
    /// Image channels (1 for Fashion-MNIST, 3 for CelebA and FFHQ).
    pub image_channels: usize,
    /// Channels of each stride-2 stage; the latent grid is the image size / 2^len.
    pub hidden_dims: Vec<usize>,
    /// D: channels of the latents, the quantizer's dimension.
    pub embedding_dim: usize,
}

impl VqVaeConfig {
    /// Fashion-MNIST: 28x28x1 images, hidden dims `[64]`, 14x14 latents of D = 64.
    pub fn fashion_mnist() -> Self {
        Self {
            image_channels: 1,
            hidden_dims: vec![64],
            embedding_dim: 64,
        }
    }

    /// CelebA: 148x148x3 crops, hidden dims `[64]`, 74x74 latents of D = 64.
    pub fn celeba() -> Self {
        Self {
            image_channels: 3,
            hidden_dims: vec![64],
            embedding_dim: 64,
        }
    }

    /// FFHQ-1024: 1024x1024x3 images, hidden dims `[16, 32]`, 256x256 latents of D = 64.
    pub fn ffhq1024() -> Self {
        Self {
            image_channels: 3,
            hidden_dims: vec![16, 32],
            embedding_dim: 64,
        }
    }

    /// The config of a dataset by the official checkpoints' prefix: `fashion-mnist`,
    /// `celeba` or `ffhq1024`.
    pub fn for_dataset(name: &str) -> Option<Self> {
        match name {
            "fashion-mnist" => Some(Self::fashion_mnist()),
            "celeba" => Some(Self::celeba()),
            "ffhq1024" => Some(Self::ffhq1024()),
            _ => None,
        }
    }
}

/// Which quantizer a backend's `VqVae` uses, with its config.
///
/// # Example
/// ```
/// use lattice_vq_core::QuantizerConfig;
///
/// let dense = QuantizerConfig::by_name("dense_lattice", 64).unwrap();
/// assert_eq!(dense.dim(), 64);
/// let fsq = QuantizerConfig::by_name("fsq", 64).unwrap();
/// assert!(matches!(fsq, QuantizerConfig::Finite(c) if c.codebook_size() == 512));
/// assert!(QuantizerConfig::by_name("kmeans", 64).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantizerConfig {
    /// LL-VQ (sparse or dense).
    Lattice(LatticeQuantizerConfig),
    /// The VQ-VAE codebook.
    Vq(VectorQuantizerConfig),
    /// The EMA codebook.
    VqEma(VectorQuantizerEmaConfig),
    /// A finite codebook: FSQ or the bounded lattice (not in the paper).
    Finite(FiniteQuantizerConfig),
}

impl QuantizerConfig {
    /// A quantizer for D-dimensional latents by name: the paper's four by the official
    /// checkpoints' suffix, `sparse_lattice` (or `lattice`), `dense_lattice`, `vq`, `vq-ema`
    /// (K = 512), and the finite codebooks of levels `8,8,8` (K = 512, projected `D -> 3 -> D`
    /// when D != 3): `fsq` and `bounded-lattice` (or `bounded_lattice`, learned steps, no
    /// offsets), with the defaults of [`FiniteQuantizerConfig`].
    pub fn by_name(name: &str, dim: usize) -> Option<Self> {
        let levels = || Levels::new(&[8, 8, 8]).ok();
        match name {
            "sparse_lattice" | "lattice" => {
                Some(Self::Lattice(LatticeQuantizerConfig::new(512, dim)))
            }
            "dense_lattice" | "dense-lattice" => {
                Some(Self::Lattice(LatticeQuantizerConfig::dense(512, dim)))
            }
            "vq" => Some(Self::Vq(VectorQuantizerConfig::new(512, dim))),
            "vq-ema" | "vq_ema" => Some(Self::VqEma(VectorQuantizerEmaConfig::new(512, dim))),
            "fsq" => Some(Self::Finite(FiniteQuantizerConfig::fsq(levels()?, dim))),
            "bounded-lattice" | "bounded_lattice" => {
                Some(Self::Finite(FiniteQuantizerConfig::bounded(levels()?, dim)))
            }
            _ => None,
        }
    }

    /// Check the quantizer's config (each config's own `validate`).
    ///
    /// # Errors
    /// As the config's `validate`.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            Self::Lattice(c) => c.validate(),
            Self::Vq(c) => c.validate(),
            Self::VqEma(c) => c.validate(),
            Self::Finite(c) => c.validate(),
        }
    }

    /// The latent dimension D the quantizer works on.
    pub fn dim(&self) -> usize {
        match self {
            Self::Lattice(c) => c.dim,
            Self::Vq(c) => c.dim,
            Self::VqEma(c) => c.dim,
            Self::Finite(c) => c.dim,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finite_config::FiniteKind;

    #[test]
    fn by_name_gives_the_finite_codebooks_of_levels_8_8_8() {
        let levels = Levels::new(&[8, 8, 8]).unwrap();
        assert_eq!(
            QuantizerConfig::by_name("fsq", 64),
            Some(QuantizerConfig::Finite(FiniteQuantizerConfig::fsq(
                levels, 64
            )))
        );
        let bounded = QuantizerConfig::Finite(FiniteQuantizerConfig::bounded(levels, 64));
        for name in ["bounded-lattice", "bounded_lattice"] {
            assert_eq!(QuantizerConfig::by_name(name, 64), Some(bounded), "{name}");
        }
        let Some(QuantizerConfig::Finite(c)) = QuantizerConfig::by_name("bounded-lattice", 64)
        else {
            panic!("a finite codebook");
        };
        assert_eq!(c.kind, FiniteKind::Bounded);
        assert_eq!(c.codebook_size(), 512);
        assert!(c.has_projections());
        assert_eq!(c.sparsity_cost, 0.0);
        assert!(
            QuantizerConfig::by_name("fsq", 64)
                .unwrap()
                .validate()
                .is_ok()
        );
        assert!(
            QuantizerConfig::by_name("bounded-lattice", 64)
                .unwrap()
                .validate()
                .is_ok()
        );
        assert!(QuantizerConfig::by_name("bounded-lattice-offset", 64).is_none());
    }
}
