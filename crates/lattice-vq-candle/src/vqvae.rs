//! The paper's reference VQ-VAE (encoder, any quantizer, decoder), built stage by stage from
//! the core's description of it (`lattice_vq_core::network`: names, shapes, initialisation).

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};
use lattice_vq_core::network::{ConvSpec, LEAKY_RELU_SLOPE, QUANTIZER_PREFIX, StageSpec};
use lattice_vq_core::{QuantizerConfig, VqVaeConfig};

use crate::error::Result;
use crate::finite::FiniteQuantizer;
use crate::kernels::activation::{Activation, activate};
use crate::kernels::{conv_transpose2d_channels_last, conv2d_channels_last};
use crate::lattice::LatticeQuantizer;
use crate::output::QuantizerOutput;
use crate::quantizer::Quantizer;
use crate::vq::VectorQuantizer;
use crate::vq_ema::VectorQuantizerEma;

/// A convolution (or transposed convolution) of the spec, its variables drawn
/// `U(-bound, bound)` with the spec's bound (PyTorch's default) when created.
#[derive(Debug, Clone)]
struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    spec: ConvSpec,
}

impl Conv {
    fn new(vb: &VarBuilder, spec: &ConvSpec) -> Result<Self> {
        let bound = spec.init_bound();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let shape = spec.weight_shape().to_vec();
        let weight = vb.get_with_hints(shape, &spec.weight_name(), init)?;
        let bias = match spec.bias_name() {
            Some(name) => Some(vb.get_with_hints(spec.out_channels, &name, init)?),
            None => None,
        };
        Ok(Self {
            weight,
            bias,
            spec: spec.clone(),
        })
    }

    /// Channels-last `(N, H, W, C)` in and out, `activation` fused after the bias.
    fn forward(&self, x: &Tensor, activation: Activation) -> Result<Tensor> {
        let (stride, padding) = (self.spec.stride, self.spec.padding);
        let bias = self.bias.as_ref();
        Ok(if self.spec.transposed {
            conv_transpose2d_channels_last(x, &self.weight, bias, stride, padding, activation)?
        } else {
            conv2d_channels_last(x, &self.weight, bias, stride, padding, activation)?
        })
    }
}

/// One stage of the encoder or decoder (`lattice_vq_core::network::StageSpec`).
#[derive(Debug, Clone)]
enum Stage {
    ConvLeaky(Conv),
    /// `x + conv1(ReLU(conv3(x)))`.
    Residual {
        conv3: Conv,
        conv1: Conv,
    },
    Leaky,
}

/// The stages of `specs` in order, their variables got or created under `vb` by name.
fn stages(vb: &VarBuilder, specs: &[StageSpec]) -> Result<Vec<Stage>> {
    specs
        .iter()
        .map(|spec| {
            Ok(match spec {
                StageSpec::ConvLeaky(conv) => Stage::ConvLeaky(Conv::new(vb, conv)?),
                StageSpec::Residual(r) => Stage::Residual {
                    conv3: Conv::new(vb, &r.conv3)?,
                    conv1: Conv::new(vb, &r.conv1)?,
                },
                StageSpec::Leaky => Stage::Leaky,
            })
        })
        .collect()
}

impl Stage {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let leaky = Activation::LeakyRelu(LEAKY_RELU_SLOPE);
        match self {
            Stage::ConvLeaky(conv) => conv.forward(x, leaky),
            Stage::Residual { conv3, conv1 } => {
                let hidden = conv3.forward(x, Activation::RELU)?;
                Ok((x + conv1.forward(&hidden, Activation::Identity)?)?)
            }
            Stage::Leaky => Ok(activate(x, leaky)?),
        }
    }
}

/// The stages in order on `(N, C, H, W)` input, channels-last in between (the layout of
/// the convolutions' matrix products: `crate::kernels`); `(N, C', H', W')` out, a view.
fn run(stages: &[Stage], x: &Tensor) -> Result<Tensor> {
    let channels_last = x.permute((0, 2, 3, 1))?;
    let y = stages
        .iter()
        .try_fold(channels_last, |x, stage| stage.forward(&x))?;
    Ok(y.permute((0, 3, 1, 2))?)
}

/// The output of [`VqVae::forward_t`].
#[derive(Debug, Clone)]
pub struct VqVaeOutput {
    /// The decoded images, same shape as the input.
    pub reconstruction: Tensor,
    /// The quantizer's output (codes, losses) for the encoded latents.
    pub quantizer: QuantizerOutput,
}

impl VqVaeOutput {
    /// Training loss: per-pixel `mean((x_hat - x)^2)` plus the quantizer loss.
    ///
    /// # Errors
    /// A candle error (for example `images` of another shape).
    pub fn loss(&self, images: &Tensor) -> Result<Tensor> {
        Ok((self.reconstruction_error(images)? + &self.quantizer.loss)?)
    }

    /// Per-pixel reconstruction MSE, the paper's "reconstruction error".
    ///
    /// # Errors
    /// A candle error (for example `images` of another shape).
    pub fn reconstruction_error(&self, images: &Tensor) -> Result<Tensor> {
        Ok((&self.reconstruction - images)?.sqr()?.mean_all()?)
    }
}

/// The paper's VQ-VAE with any of the three quantizers; the candle twin of
/// `lattice_vq_tch::VqVae`, with the official checkpoints' variable names.
///
/// # Example
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_vq_candle::{QuantizerConfig, VqVaeConfig, vqvae};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let quantizer = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
/// let model = vqvae(&VqVaeConfig::fashion_mnist(), &quantizer, vb)?;
/// let images = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?;
/// let out = model.forward_t(&images, false)?;
/// assert_eq!(out.reconstruction.dims(), images.dims());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VqVae {
    encoder: Vec<Stage>,
    quantizer: Box<dyn Quantizer>,
    decoder: Vec<Stage>,
    config: VqVaeConfig,
}

/// Build the paper's VQ-VAE under `vb` (candle's constructor-function convention).
///
/// # Errors
/// As [`VqVae::new`].
pub fn vqvae(config: &VqVaeConfig, quantizer: &QuantizerConfig, vb: VarBuilder) -> Result<VqVae> {
    VqVae::new(config, quantizer, vb)
}

/// `ModuleT` view of the model: the reconstruction only; training mode updates a VQ-EMA
/// codebook, as [`VqVae::forward_t`] does. (No `Module`: candle gives every `Module` a
/// `ModuleT` that ignores the flag.)
impl candle_core::ModuleT for VqVae {
    fn forward_t(&self, images: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Ok(VqVae::forward_t(self, images, train)?.reconstruction)
    }
}

impl VqVae {
    /// Get or create the model's variables under `vb`, by their official names, in the order
    /// of `VqVaeConfig::tensors` (PyTorch's default initialisation for the convolutions).
    ///
    /// # Errors
    /// An invalid config or one whose quantizer dimension is not `embedding_dim`
    /// (`VqVaeConfig::validate_with`), an invalid quantizer config, or a candle error.
    pub fn new(config: &VqVaeConfig, quantizer: &QuantizerConfig, vb: VarBuilder) -> Result<Self> {
        config.validate_with(quantizer)?;
        let encoder = stages(&vb, &config.encoder()?)?;
        let quantizer_vb = vb.pp(QUANTIZER_PREFIX);
        let quantizer: Box<dyn Quantizer> = match quantizer {
            QuantizerConfig::Lattice(c) => Box::new(LatticeQuantizer::new(c, quantizer_vb)?),
            QuantizerConfig::Vq(c) => Box::new(VectorQuantizer::new(c, quantizer_vb)?),
            QuantizerConfig::VqEma(c) => Box::new(VectorQuantizerEma::new(c, quantizer_vb)?),
            QuantizerConfig::Finite(c) => Box::new(FiniteQuantizer::new(c, quantizer_vb)?),
        };
        Ok(Self {
            encoder,
            quantizer,
            decoder: stages(&vb, &config.decoder()?)?,
            config: config.clone(),
        })
    }

    /// The model's config.
    pub fn config(&self) -> &VqVaeConfig {
        &self.config
    }

    /// The quantizer layer.
    pub fn quantizer(&self) -> &dyn Quantizer {
        self.quantizer.as_ref()
    }

    /// Encoder output: latents `(N, D, H / F, W / F)`, `F = downsampling_factor()`.
    ///
    /// # Errors
    /// Images that are not `(N >= 1, image_channels, H, W)` with `H` and `W` positive
    /// multiples of `F`, or a candle error.
    pub fn encode(&self, images: &Tensor) -> Result<Tensor> {
        self.check_images(images)?;
        run(&self.encoder, images)
    }

    /// Decoder output for (quantized) latents.
    ///
    /// # Errors
    /// A candle error (latents of the wrong shape).
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        run(&self.decoder, latents)
    }

    /// Encode, quantize (training mode updates a VQ-EMA codebook), decode.
    ///
    /// # Errors
    /// As [`VqVae::encode`] and [`Quantizer::quantize`].
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Result<VqVaeOutput> {
        let latents = self.encode(images)?;
        let quantizer = self.quantizer.quantize(&latents, train)?;
        let reconstruction = self.decode(&quantizer.quantized)?;
        Ok(VqVaeOutput {
            reconstruction,
            quantizer,
        })
    }

    /// `VqVaeConfig::check_image_shape`: the core's `InputShape` error naming `images`.
    fn check_images(&self, images: &Tensor) -> Result<()> {
        Ok(self.config.check_image_shape(images.dims())?)
    }
}
