//! The paper's reference VQ-VAE (encoder, any quantizer, decoder), with the official names.

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use tch::{Reduction, Tensor, nn};

use crate::error::{Error, Result};
use crate::lattice::LatticeQuantizer;
use crate::output::QuantizerOutput;
use crate::quantizer::Quantizer;
use crate::vq::VectorQuantizer;
use crate::vq_ema::VectorQuantizerEma;

/// A convolution (or transposed convolution) with PyTorch's default initialisation and a
/// fallible forward.
#[derive(Debug)]
struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
    transposed: bool,
}

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

impl Conv {
    fn new(path: nn::Path, shape: ConvShape, bias: bool, transposed: bool) -> Result<Self> {
        let ConvShape {
            input,
            output,
            kernel,
            stride,
            padding,
        } = shape;
        // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, where
        // fan_in counts the weight's dimension 1 (the output channels for a transposed conv).
        let (input, output, kernel) = (input as i64, output as i64, kernel as i64);
        let shape = if transposed {
            [input, output, kernel, kernel]
        } else {
            [output, input, kernel, kernel]
        };
        let bound = 1.0 / ((shape[1] * kernel * kernel) as f64).sqrt();
        let init = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = path.f_var("weight", &shape, init)?;
        let bias = if bias {
            Some(path.f_var("bias", &[output], init)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            stride: stride as i64,
            padding: padding as i64,
            transposed,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (stride, padding) = ([self.stride; 2], [self.padding; 2]);
        Ok(if self.transposed {
            x.f_conv_transpose2d(
                &self.weight,
                self.bias.as_ref(),
                stride,
                padding,
                [0, 0],
                1,
                [1, 1],
            )?
        } else {
            x.f_conv2d(&self.weight, self.bias.as_ref(), stride, padding, [1, 1], 1)?
        })
    }
}

/// `x + Conv1x1(ReLU(Conv3x3(x)))`, both without bias (the official residual layer).
#[derive(Debug)]
struct Residual {
    conv3: Conv,
    conv1: Conv,
}

impl Residual {
    fn new(path: nn::Path, channels: usize) -> Result<Self> {
        let block = path.sub("resblock");
        Ok(Self {
            conv3: Conv::new(block.sub("0"), same(channels, channels, 3), false, false)?,
            conv1: Conv::new(block.sub("2"), same(channels, channels, 1), false, false)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_add(&self.conv1.forward(&self.conv3.forward(x)?.f_relu()?)?)?)
    }
}

/// One stage of the encoder or decoder.
#[derive(Debug)]
enum Stage {
    /// A convolution followed by LeakyReLU (slope 0.01).
    ConvLeaky(Conv),
    Residual(Residual),
    Leaky,
}

impl Stage {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Stage::ConvLeaky(conv) => Ok(conv.forward(x)?.f_leaky_relu()?),
            Stage::Residual(residual) => residual.forward(x),
            Stage::Leaky => Ok(x.f_leaky_relu()?),
        }
    }
}

fn run(stages: &[Stage], x: &Tensor) -> Result<Tensor> {
    stages
        .iter()
        .try_fold(x.shallow_clone(), |x, stage| stage.forward(&x))
}

/// The output of [`VqVae::forward_t`].
#[derive(Debug)]
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
    /// A libtorch error (for example `images` of another shape).
    pub fn loss(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self
            .reconstruction_error(images)?
            .f_add(&self.quantizer.loss)?)
    }

    /// Per-pixel reconstruction MSE, the paper's "reconstruction error".
    ///
    /// # Errors
    /// A libtorch error (for example `images` of another shape).
    pub fn reconstruction_error(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self.reconstruction.f_mse_loss(images, Reduction::Mean)?)
    }
}

/// The paper's VQ-VAE with any of the three quantizers (paper-notes "Model").
///
/// Variables are named as in the official checkpoints (`_encoder.0.0.weight`, ...,
/// `_quantizer.embedding.weight`, ...), so [`load_checkpoint`](crate::load_checkpoint) loads
/// them unchanged and our checkpoints load into the official PyTorch code.
///
/// `nn::ModuleT::forward_t` returns the reconstruction and panics on bad input, as tch's own
/// layers do; the inherent [`VqVae::forward_t`] is the fallible call.
///
/// # Example
/// ```no_run
/// use lattice_vq_tch::{load_checkpoint, vqvae, QuantizerConfig, VqVaeConfig};
/// use tch::{nn, Device, Kind, Tensor};
///
/// let mut vs = nn::VarStore::new(Device::Cpu);
/// let quantizer = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
/// let model = vqvae(&vs.root(), &VqVaeConfig::fashion_mnist(), &quantizer)?;
/// load_checkpoint(&mut vs, "fashion-mnist_sparse_lattice.safetensors")?;
/// let images = Tensor::zeros([8, 1, 28, 28], (Kind::Float, Device::Cpu));
/// let out = model.forward_t(&images, false)?;
/// println!("mse {}", out.reconstruction_error(&images)?.double_value(&[]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VqVae {
    encoder: Vec<Stage>,
    quantizer: Box<dyn Quantizer>,
    decoder: Vec<Stage>,
    config: VqVaeConfig,
}

impl VqVae {
    /// Build the model under `path` with PyTorch's default initialisation.
    ///
    /// # Errors
    /// An invalid quantizer config, a quantizer dimension other than `embedding_dim`, empty
    /// `hidden_dims`, or a libtorch error.
    pub fn new(path: &nn::Path, config: &VqVaeConfig, quantizer: &QuantizerConfig) -> Result<Self> {
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

        let encoder_path = path.sub("_encoder");
        let mut encoder = Vec::new();
        let mut input = config.image_channels;
        for (i, &h) in hidden.iter().enumerate() {
            encoder.push(Stage::ConvLeaky(Conv::new(
                encoder_path.sub(i).sub("0"),
                down_up(input, h),
                true,
                false,
            )?));
            input = h;
        }
        encoder.push(Stage::ConvLeaky(Conv::new(
            encoder_path.sub(levels).sub("0"),
            same(last_hidden, last_hidden, 3),
            true,
            false,
        )?));
        encoder.push(Stage::Residual(Residual::new(
            encoder_path.sub(levels + 1),
            last_hidden,
        )?));
        encoder.push(Stage::Residual(Residual::new(
            encoder_path.sub(levels + 2),
            last_hidden,
        )?));
        encoder.push(Stage::Leaky);
        encoder.push(Stage::ConvLeaky(Conv::new(
            encoder_path.sub(levels + 4).sub("0"),
            same(last_hidden, d, 1),
            true,
            false,
        )?));

        let quantizer_path = path.sub("_quantizer");
        let quantizer: Box<dyn Quantizer> = match quantizer {
            QuantizerConfig::Lattice(c) => Box::new(LatticeQuantizer::new(&quantizer_path, c)?),
            QuantizerConfig::Vq(c) => Box::new(VectorQuantizer::new(&quantizer_path, c)?),
            QuantizerConfig::VqEma(c) => Box::new(VectorQuantizerEma::new(&quantizer_path, c)?),
        };

        let decoder_path = path.sub("_decoder");
        let mut decoder = vec![
            Stage::ConvLeaky(Conv::new(
                decoder_path.sub(0).sub("0"),
                same(d, last_hidden, 3),
                true,
                false,
            )?),
            Stage::Residual(Residual::new(decoder_path.sub(1), last_hidden)?),
            Stage::Residual(Residual::new(decoder_path.sub(2), last_hidden)?),
            Stage::Leaky,
        ];
        let reversed: Vec<usize> = hidden.iter().rev().copied().collect();
        let mut index = 4;
        for pair in reversed.windows(2) {
            decoder.push(Stage::ConvLeaky(Conv::new(
                decoder_path.sub(index).sub("0"),
                down_up(pair[0], pair[1]),
                true,
                true,
            )?));
            index += 1;
        }
        decoder.push(Stage::ConvLeaky(Conv::new(
            decoder_path.sub(index).sub("0"),
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
    /// `2^levels`, or a libtorch error.
    pub fn encode(&self, images: &Tensor) -> Result<Tensor> {
        self.check_images(images)?;
        run(&self.encoder, images)
    }

    /// Decoder output for (quantized) latents.
    ///
    /// # Errors
    /// A libtorch error (latents of the wrong shape).
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
        let size = images.size();
        let factor = 1i64 << self.config.hidden_dims.len();
        let channels = self.config.image_channels as i64;
        let valid = matches!(size.as_slice(), &[n, c, h, w]
            if n > 0 && c == channels && h > 0 && w > 0 && h % factor == 0 && w % factor == 0);
        if valid {
            Ok(())
        } else {
            Err(Error::InputShape {
                what: "images",
                found: size,
                requirement: format!(
                    "must be (N >= 1, {}, H, W) with H and W positive multiples of {factor}",
                    self.config.image_channels
                ),
            })
        }
    }
}

/// Panics with the error's message on bad input; the inherent [`VqVae::forward_t`] is the
/// fallible call.
impl nn::ModuleT for VqVae {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match VqVae::forward_t(self, xs, train) {
            Ok(out) => out.reconstruction,
            Err(error) => panic!("{error}"),
        }
    }
}

/// [`VqVae::new`]: the model under `path`.
///
/// # Errors
/// As [`VqVae::new`].
pub fn vqvae(path: &nn::Path, config: &VqVaeConfig, quantizer: &QuantizerConfig) -> Result<VqVae> {
    VqVae::new(path, config, quantizer)
}
