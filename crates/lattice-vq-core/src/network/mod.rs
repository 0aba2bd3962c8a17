//! The paper's reference VQ-VAE as data (paper-notes "Model"; the official code's module
//! layout): what the tch and candle `VqVae` build, stage by stage, with the official tensor
//! names, so that both backends and the official checkpoints agree to the letter.
//!
//! | file | what |
//! |---|---|
//! | `conv.rs` | [`ConvSpec`], [`pytorch_default_init_bound`] |
//! | `stages.rs` | [`StageSpec`], [`ResidualSpec`], [`LEAKY_RELU_SLOPE`] |
//! | `mod.rs` | [`VqVaeConfig::encoder`], [`VqVaeConfig::decoder`], validation, [`VqVaeConfig::check_image_shape`] |
//! | `tensors.rs` | [`TensorSpec`], [`TensorInit`], [`QUANTIZER_PREFIX`], [`VqVaeConfig::tensors`] |
//!
//! With `h = hidden_dims`, `L = h.len()`, `C` image channels and `D = embedding_dim`:
//!
//! - encoder (`_encoder.{i}`): for each `i < L` a stride-2 4x4 conv `h[i-1] -> h[i]`
//!   (`h[-1] = C`) + LeakyReLU; a 3x3 conv `h[L-1] -> h[L-1]` + LeakyReLU (index `L`);
//!   two residual layers (`L + 1`, `L + 2`); a bare LeakyReLU (`L + 3`); a 1x1 conv
//!   `h[L-1] -> D` + LeakyReLU (`L + 4`).
//! - decoder (`_decoder.{i}`): a 3x3 conv `D -> h[L-1]` + LeakyReLU (0); two residual
//!   layers (1, 2); a bare LeakyReLU (3); then from index 4 a stride-2 4x4 transposed conv
//!   per consecutive pair of reversed hidden dims, and one `h[0] -> C`, each + LeakyReLU.
//!
//! Every conv's tensors are `{prefix}.weight` and `{prefix}.bias` with the prefix
//! `_encoder.{i}.0` (a conv stage) or `_encoder.{i}.resblock.{0,2}` (a residual layer, no
//! bias); the quantizer's are under `_quantizer`.

mod conv;
mod stages;
mod tensors;

pub use conv::{ConvSpec, pytorch_default_init_bound};
pub use stages::{LEAKY_RELU_SLOPE, ResidualSpec, StageSpec};
pub use tensors::{QUANTIZER_PREFIX, TensorInit, TensorSpec};

use crate::error::{Error, Result};
use crate::model::{QuantizerConfig, VqVaeConfig};

impl VqVaeConfig {
    /// Check the config: at least one hidden stage, no zero channel count.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for empty `hidden_dims` ("must name at least one stage", as
    /// the backends say), a zero hidden dim or zero `image_channels`; [`Error::ZeroDim`]
    /// for `embedding_dim == 0`.
    pub fn validate(&self) -> Result<()> {
        if self.hidden_dims.is_empty() {
            return Err(Error::InvalidConfig {
                field: "hidden_dims",
                value: "[]".into(),
                requirement: "must name at least one stage",
            });
        }
        if self.hidden_dims.contains(&0) {
            return Err(Error::InvalidConfig {
                field: "hidden_dims",
                value: format!("{:?}", self.hidden_dims),
                requirement: "every stage must have at least one channel",
            });
        }
        if self.image_channels == 0 {
            return Err(Error::InvalidConfig {
                field: "image_channels",
                value: "0".into(),
                requirement: "must be at least 1",
            });
        }
        if self.embedding_dim == 0 {
            return Err(Error::ZeroDim);
        }
        Ok(())
    }

    /// [`VqVaeConfig::validate`], then check that `quantizer` works on this model's
    /// latents.
    ///
    /// # Errors
    /// As [`VqVaeConfig::validate`]; [`Error::InvalidConfig`] "quantizer dim ... must equal
    /// the model's embedding_dim" (as the backends say) otherwise.
    pub fn validate_with(&self, quantizer: &QuantizerConfig) -> Result<()> {
        self.validate()?;
        if quantizer.dim() != self.embedding_dim {
            return Err(Error::InvalidConfig {
                field: "quantizer dim",
                value: quantizer.dim().to_string(),
                requirement: "must equal the model's embedding_dim",
            });
        }
        Ok(())
    }

    /// The encoder's stages in order (names `_encoder.{i}`; see the module docs).
    ///
    /// # Errors
    /// As [`VqVaeConfig::validate`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::network::StageSpec;
    /// use lattice_vq_core::VqVaeConfig;
    ///
    /// let encoder = VqVaeConfig::ffhq1024().encoder()?;
    /// assert_eq!(encoder.len(), 7);
    /// assert!(matches!(&encoder[3], StageSpec::Residual(r) if r.name == "_encoder.3"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encoder(&self) -> Result<Vec<StageSpec>> {
        self.validate()?;
        let hidden = &self.hidden_dims;
        let (levels, last) = (hidden.len(), hidden[hidden.len() - 1]);
        let prefix = |i: usize| format!("_encoder.{i}");
        let mut stages = Vec::new();
        let mut input = self.image_channels;
        for (i, &h) in hidden.iter().enumerate() {
            let name = format!("{}.0", prefix(i));
            stages.push(StageSpec::ConvLeaky(ConvSpec::down_up(
                &name, input, h, false,
            )));
            input = h;
        }
        let name = format!("{}.0", prefix(levels));
        stages.push(StageSpec::ConvLeaky(ConvSpec::same(
            &name, last, last, 3, true,
        )));
        stages.push(StageSpec::Residual(ResidualSpec::new(
            &prefix(levels + 1),
            last,
        )));
        stages.push(StageSpec::Residual(ResidualSpec::new(
            &prefix(levels + 2),
            last,
        )));
        stages.push(StageSpec::Leaky);
        let name = format!("{}.0", prefix(levels + 4));
        let d = self.embedding_dim;
        stages.push(StageSpec::ConvLeaky(ConvSpec::same(
            &name, last, d, 1, true,
        )));
        Ok(stages)
    }

    /// The decoder's stages in order (names `_decoder.{i}`; see the module docs).
    ///
    /// # Errors
    /// As [`VqVaeConfig::validate`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::network::StageSpec;
    /// use lattice_vq_core::VqVaeConfig;
    ///
    /// let decoder = VqVaeConfig::ffhq1024().decoder()?;
    /// let StageSpec::ConvLeaky(last) = &decoder[5] else { panic!() };
    /// assert_eq!((last.name.as_str(), last.weight_shape()), ("_decoder.5.0", [16, 3, 4, 4]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decoder(&self) -> Result<Vec<StageSpec>> {
        self.validate()?;
        let hidden = &self.hidden_dims;
        let (first, last) = (hidden[0], hidden[hidden.len() - 1]);
        let prefix = |i: usize| format!("_decoder.{i}");
        let d = self.embedding_dim;
        let mut stages = vec![
            StageSpec::ConvLeaky(ConvSpec::same(
                &format!("{}.0", prefix(0)),
                d,
                last,
                3,
                true,
            )),
            StageSpec::Residual(ResidualSpec::new(&prefix(1), last)),
            StageSpec::Residual(ResidualSpec::new(&prefix(2), last)),
            StageSpec::Leaky,
        ];
        let reversed: Vec<usize> = hidden.iter().rev().copied().collect();
        let mut index = 4;
        for pair in reversed.windows(2) {
            let name = format!("{}.0", prefix(index));
            stages.push(StageSpec::ConvLeaky(ConvSpec::down_up(
                &name, pair[0], pair[1], true,
            )));
            index += 1;
        }
        let name = format!("{}.0", prefix(index));
        stages.push(StageSpec::ConvLeaky(ConvSpec::down_up(
            &name,
            first,
            self.image_channels,
            true,
        )));
        Ok(stages)
    }

    /// `2^len(hidden_dims)`: what image sides must be multiples of, and the factor from
    /// image to latent grid.
    pub fn downsampling_factor(&self) -> usize {
        1usize << self.hidden_dims.len()
    }

    /// Check an image batch's shape: `(N >= 1, image_channels, H, W)` with `H` and `W`
    /// positive multiples of [`VqVaeConfig::downsampling_factor`].
    ///
    /// # Errors
    /// [`Error::InputShape`] naming `images` ("images has shape [..]: must be (N >= 1, C, H,
    /// W) with H and W positive multiples of F"), which the adapters' models return as is.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::VqVaeConfig;
    ///
    /// let config = VqVaeConfig::fashion_mnist();
    /// assert!(config.check_image_shape(&[8, 1, 28, 28]).is_ok());
    /// let err = config.check_image_shape(&[8, 1, 27, 28]).unwrap_err();
    /// assert_eq!(err.to_string(), "images has shape [8, 1, 27, 28]: must be (N >= 1, 1, H, W) \
    ///     with H and W positive multiples of 2");
    /// ```
    pub fn check_image_shape(&self, shape: &[usize]) -> Result<()> {
        let factor = self.downsampling_factor();
        let valid = matches!(*shape, [n, c, h, w]
            if n > 0 && c == self.image_channels && h > 0 && w > 0
                && h % factor == 0 && w % factor == 0);
        if valid {
            Ok(())
        } else {
            Err(Error::InputShape {
                what: "images",
                found: shape.to_vec(),
                requirement: format!(
                    "must be (N >= 1, {}, H, W) with H and W positive multiples of {factor}",
                    self.image_channels
                ),
            })
        }
    }
}
