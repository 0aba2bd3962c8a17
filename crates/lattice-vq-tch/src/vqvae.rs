//! The paper's reference VQ-VAE (encoder, any quantizer, decoder), built stage by stage from
//! the core's description of it (`lattice_vq_core::network`: names, shapes, initialisation).

use lattice_vq_core::network::{ConvSpec, LEAKY_RELU_SLOPE, QUANTIZER_PREFIX, StageSpec};
use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use tch::{Reduction, Tensor, nn};

use crate::error::Result;
use crate::finite::FiniteQuantizer;
use crate::lattice::LatticeQuantizer;
use crate::output::QuantizerOutput;
use crate::quantizer::{Quantizer, sub};
use crate::vq::VectorQuantizer;
use crate::vq_ema::VectorQuantizerEma;

// libtorch's `leaky_relu` has the slope of PyTorch's `nn.LeakyReLU()`, the spec's.
const _: () = assert!(LEAKY_RELU_SLOPE == 0.01);

/// A convolution (or transposed convolution) of the spec, its variables drawn
/// `U(-bound, bound)` with the spec's bound (PyTorch's default).
#[derive(Debug)]
struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    spec: ConvSpec,
}

impl Conv {
    fn new(path: &nn::Path, spec: &ConvSpec) -> Result<Self> {
        let bound = spec.init_bound();
        let init = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let path = sub(path, &spec.name);
        let shape = spec.weight_shape().map(|s| s as i64);
        let weight = path.f_var("weight", &shape, init)?;
        let bias = match spec.bias_shape() {
            Some([out]) => Some(path.f_var("bias", &[out as i64], init)?),
            None => None,
        };
        Ok(Self {
            weight,
            bias,
            spec: spec.clone(),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (stride, padding) = ([self.spec.stride as i64; 2], [self.spec.padding as i64; 2]);
        let bias = self.bias.as_ref();
        Ok(if self.spec.transposed {
            x.f_conv_transpose2d(&self.weight, bias, stride, padding, [0, 0], 1, [1, 1])?
        } else {
            x.f_conv2d(&self.weight, bias, stride, padding, [1, 1], 1)?
        })
    }
}

/// One stage of the encoder or decoder (`lattice_vq_core::network::StageSpec`).
#[derive(Debug)]
enum Stage {
    ConvLeaky(Conv),
    /// `x + conv1(ReLU(conv3(x)))`.
    Residual {
        conv3: Conv,
        conv1: Conv,
    },
    Leaky,
}

/// The stages of `specs` in order, their variables created under `path` by name.
fn stages(path: &nn::Path, specs: &[StageSpec]) -> Result<Vec<Stage>> {
    specs
        .iter()
        .map(|spec| {
            Ok(match spec {
                StageSpec::ConvLeaky(conv) => Stage::ConvLeaky(Conv::new(path, conv)?),
                StageSpec::Residual(r) => Stage::Residual {
                    conv3: Conv::new(path, &r.conv3)?,
                    conv1: Conv::new(path, &r.conv1)?,
                },
                StageSpec::Leaky => Stage::Leaky,
            })
        })
        .collect()
}

impl Stage {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Stage::ConvLeaky(conv) => conv.forward(x)?.f_leaky_relu()?,
            Stage::Residual { conv3, conv1 } => {
                x.f_add(&conv1.forward(&conv3.forward(x)?.f_relu()?)?)?
            }
            Stage::Leaky => x.f_leaky_relu()?,
        })
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

/// The paper's VQ-VAE with any of the quantizers: LL-VQ, VQ, VQ-EMA or a finite codebook
/// (`lattice_vq_core::network`; docs/official-code.md records the official model).
///
/// Variables are named as in the official checkpoints (`_encoder.0.0.weight`, ...,
/// `_quantizer.embedding.weight`, ...), so [`load_checkpoint`](crate::load_checkpoint) loads
/// them unchanged and our checkpoints load into the official PyTorch code.
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
    /// Build the model under `path` with PyTorch's default initialisation, its variables
    /// created in the order of `VqVaeConfig::tensors`.
    ///
    /// # Errors
    /// An invalid config or one whose quantizer dimension is not `embedding_dim`
    /// (`VqVaeConfig::validate_with`), an invalid quantizer config, or a libtorch error.
    pub fn new(path: &nn::Path, config: &VqVaeConfig, quantizer: &QuantizerConfig) -> Result<Self> {
        config.validate_with(quantizer)?;
        let encoder = stages(path, &config.encoder()?)?;
        let quantizer_path = path.sub(QUANTIZER_PREFIX);
        let quantizer: Box<dyn Quantizer> = match quantizer {
            QuantizerConfig::Lattice(c) => Box::new(LatticeQuantizer::new(&quantizer_path, c)?),
            QuantizerConfig::Vq(c) => Box::new(VectorQuantizer::new(&quantizer_path, c)?),
            QuantizerConfig::VqEma(c) => Box::new(VectorQuantizerEma::new(&quantizer_path, c)?),
            QuantizerConfig::Finite(c) => Box::new(FiniteQuantizer::new(&quantizer_path, c)?),
        };
        Ok(Self {
            encoder,
            quantizer,
            decoder: stages(path, &config.decoder()?)?,
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
    /// multiples of `F`, or a libtorch error.
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

    /// `VqVaeConfig::check_image_shape`: the core's `InputShape` error naming `images`.
    fn check_images(&self, images: &Tensor) -> Result<()> {
        let dims: Vec<usize> = images.size().iter().map(|&s| s as usize).collect();
        Ok(self.config.check_image_shape(&dims)?)
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
