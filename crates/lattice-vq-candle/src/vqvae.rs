//! The paper's reference VQ-VAE (encoder, any quantizer, decoder), with the official names.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};
use lattice_vq_core::{QuantizerConfig, VqVaeConfig};

use crate::error::{Error, Result};
use crate::kernels::activation::{Activation, activate};
use crate::kernels::{conv_transpose2d_channels_last, conv2d_channels_last};
use crate::lattice::LatticeQuantizer;
use crate::output::QuantizerOutput;
use crate::quantizer::Quantizer;
use crate::vq::VectorQuantizer;
use crate::vq_ema::VectorQuantizerEma;

/// Shape of a convolution: channels in and out, square kernel, stride, padding.
#[derive(Debug, Clone, Copy)]
struct ConvShape {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

/// Stride-2 4x4 convolutions halve (or, transposed, double) the grid.
const fn down_up(input: usize, output: usize) -> ConvShape {
    ConvShape {
        input,
        output,
        kernel: 4,
        stride: 2,
        padding: 1,
    }
}

/// "Same" convolutions: 3x3 with padding 1 or 1x1 with padding 0.
const fn same(input: usize, output: usize, kernel: usize) -> ConvShape {
    ConvShape {
        input,
        output,
        kernel,
        stride: 1,
        padding: kernel / 2,
    }
}

/// A convolution (or transposed convolution) with PyTorch's default initialisation.
#[derive(Debug, Clone)]
struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    shape: ConvShape,
    transposed: bool,
}

impl Conv {
    fn new(vb: VarBuilder, shape: ConvShape, bias: bool, transposed: bool) -> Result<Self> {
        let ConvShape {
            input,
            output,
            kernel,
            ..
        } = shape;
        // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, where
        // fan_in counts the weight's dimension 1 (the output channels for a transposed conv).
        let dims = if transposed {
            (input, output, kernel, kernel)
        } else {
            (output, input, kernel, kernel)
        };
        let bound = 1.0 / ((dims.1 * kernel * kernel) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints(dims, "weight", init)?;
        let bias = if bias {
            Some(vb.get_with_hints(output, "bias", init)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            shape,
            transposed,
        })
    }

    /// Channels-last `(N, H, W, C)` in and out, `activation` fused after the bias.
    fn forward(&self, x: &Tensor, activation: Activation) -> Result<Tensor> {
        let ConvShape {
            stride, padding, ..
        } = self.shape;
        let bias = self.bias.as_ref();
        Ok(if self.transposed {
            conv_transpose2d_channels_last(x, &self.weight, bias, stride, padding, activation)?
        } else {
            conv2d_channels_last(x, &self.weight, bias, stride, padding, activation)?
        })
    }
}

/// `x + Conv1x1(ReLU(Conv3x3(x)))`, both without bias (the official residual layer).
#[derive(Debug, Clone)]
struct Residual {
    conv3: Conv,
    conv1: Conv,
}

impl Residual {
    fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        let block = vb.pp("resblock");
        Ok(Self {
            conv3: Conv::new(block.pp("0"), same(channels, channels, 3), false, false)?,
            conv1: Conv::new(block.pp("2"), same(channels, channels, 1), false, false)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = self.conv3.forward(x, Activation::RELU)?;
        Ok((x + self.conv1.forward(&hidden, Activation::Identity)?)?)
    }
}

/// One stage of the encoder or decoder.
#[derive(Debug, Clone)]
enum Stage {
    /// A convolution followed by LeakyReLU (slope 0.01).
    ConvLeaky(Conv),
    Residual(Residual),
    Leaky,
}

/// The official model's `nn.LeakyReLU()` slope.
const LEAKY_SLOPE: f64 = 0.01;

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    Ok(activate(x, Activation::LeakyRelu(LEAKY_SLOPE))?)
}

impl Stage {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Stage::ConvLeaky(conv) => conv.forward(x, Activation::LeakyRelu(LEAKY_SLOPE)),
            Stage::Residual(residual) => residual.forward(x),
            Stage::Leaky => leaky_relu(x),
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
    /// Get or create the model's variables under `vb` (PyTorch's default initialisation).
    ///
    /// # Errors
    /// An invalid quantizer config, a quantizer dimension other than `embedding_dim`, empty
    /// `hidden_dims`, or a candle error.
    pub fn new(config: &VqVaeConfig, quantizer: &QuantizerConfig, vb: VarBuilder) -> Result<Self> {
        let Some(&first_hidden) = config.hidden_dims.first() else {
            return Err(lattice_vq_core::Error::InvalidConfig {
                field: "hidden_dims",
                value: "[]".into(),
                requirement: "must name at least one stage",
            }
            .into());
        };
        if quantizer.dim() != config.embedding_dim {
            return Err(lattice_vq_core::Error::InvalidConfig {
                field: "quantizer dim",
                value: quantizer.dim().to_string(),
                requirement: "must equal the model's embedding_dim",
            }
            .into());
        }
        let hidden = &config.hidden_dims;
        let last_hidden = hidden[hidden.len() - 1];
        let (d, levels) = (config.embedding_dim, hidden.len());

        let encoder_vb = vb.pp("_encoder");
        let mut encoder = Vec::new();
        let mut input = config.image_channels;
        for (i, &h) in hidden.iter().enumerate() {
            encoder.push(Stage::ConvLeaky(Conv::new(
                encoder_vb.pp(i).pp("0"),
                down_up(input, h),
                true,
                false,
            )?));
            input = h;
        }
        encoder.push(Stage::ConvLeaky(Conv::new(
            encoder_vb.pp(levels).pp("0"),
            same(last_hidden, last_hidden, 3),
            true,
            false,
        )?));
        encoder.push(Stage::Residual(Residual::new(
            encoder_vb.pp(levels + 1),
            last_hidden,
        )?));
        encoder.push(Stage::Residual(Residual::new(
            encoder_vb.pp(levels + 2),
            last_hidden,
        )?));
        encoder.push(Stage::Leaky);
        encoder.push(Stage::ConvLeaky(Conv::new(
            encoder_vb.pp(levels + 4).pp("0"),
            same(last_hidden, d, 1),
            true,
            false,
        )?));

        let quantizer_vb = vb.pp("_quantizer");
        let quantizer: Box<dyn Quantizer> = match quantizer {
            QuantizerConfig::Lattice(c) => Box::new(LatticeQuantizer::new(c, quantizer_vb)?),
            QuantizerConfig::Vq(c) => Box::new(VectorQuantizer::new(c, quantizer_vb)?),
            QuantizerConfig::VqEma(c) => Box::new(VectorQuantizerEma::new(c, quantizer_vb)?),
        };

        let decoder_vb = vb.pp("_decoder");
        let mut decoder = vec![
            Stage::ConvLeaky(Conv::new(
                decoder_vb.pp(0).pp("0"),
                same(d, last_hidden, 3),
                true,
                false,
            )?),
            Stage::Residual(Residual::new(decoder_vb.pp(1), last_hidden)?),
            Stage::Residual(Residual::new(decoder_vb.pp(2), last_hidden)?),
            Stage::Leaky,
        ];
        let reversed: Vec<usize> = hidden.iter().rev().copied().collect();
        let mut index = 4;
        for pair in reversed.windows(2) {
            decoder.push(Stage::ConvLeaky(Conv::new(
                decoder_vb.pp(index).pp("0"),
                down_up(pair[0], pair[1]),
                true,
                true,
            )?));
            index += 1;
        }
        decoder.push(Stage::ConvLeaky(Conv::new(
            decoder_vb.pp(index).pp("0"),
            down_up(first_hidden, config.image_channels),
            true,
            true,
        )?));
        Ok(Self {
            encoder,
            quantizer,
            decoder,
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

    /// Encoder output: latents `(N, D, H / 2^levels, W / 2^levels)`.
    ///
    /// # Errors
    /// Images that are not `(N, image_channels, H, W)` with `H` and `W` divisible by
    /// `2^levels`, or a candle error.
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

    fn check_images(&self, images: &Tensor) -> Result<()> {
        let size = images.dims();
        let factor = 1usize << self.config.hidden_dims.len();
        let valid = matches!(*size, [n, c, h, w]
            if n > 0 && c == self.config.image_channels && h > 0 && w > 0 && h % factor == 0 && w % factor == 0);
        if valid {
            Ok(())
        } else {
            Err(Error::InputShape {
                what: "images",
                found: size.to_vec(),
                requirement: format!(
                    "must be (N >= 1, {}, H, W) with H and W positive multiples of {factor}",
                    self.config.image_channels
                ),
            })
        }
    }
}
