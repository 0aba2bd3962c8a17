//! The harness traits an adapter's test crate implements: plain ndarray values in, plain
//! values out, so that each suite is written once.

use std::fmt::Debug;
use std::path::Path;

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use ndarray::{ArrayView1, ArrayView2};

use crate::data::Split;
use crate::data::fashion_mnist::{self, FashionMnist};
use crate::failure::Failure;
use crate::types::{Codes, DType, Gradients, Input, LayerState, ModelOutput, Quantization};

/// The quantizer layers of one backend (one device, one host framework).
///
/// Every method maps the adapter's error onto [`Failure`] (see there) and never panics on
/// bad input: the suites check the error. Values cross as `f64`; a backend converts them to
/// and from the layer's dtype (exactly: the suites only hand over values the dtype holds).
pub trait Backend {
    /// A layer and whatever keeps its variables alive (candle's `VarMap`, tch's `VarStore`).
    type Quantizer: Debug;

    /// A short name for messages (`"candle cpu"`).
    fn name(&self) -> String;

    /// Build the layer of `config` (the adapter's free constructor:
    /// `lattice_quantizer`, `vector_quantizer`, `vector_quantizer_ema`) with variables of
    /// `dtype` ([`DType::F32`] or [`DType::F64`]).
    ///
    /// # Errors
    /// The constructor's (an invalid config is a [`Failure::Core`]).
    fn quantizer(&self, config: &QuantizerConfig, dtype: DType)
    -> Result<Self::Quantizer, Failure>;

    /// Overwrite the layer's variable (`variable()`: the `(1, D)` basis or the `(K, D)`
    /// codebook) with `values`, unvalidated: the suites write invalid bases on purpose.
    ///
    /// # Errors
    /// A host error.
    fn set_variable(
        &self,
        layer: &mut Self::Quantizer,
        values: ArrayView2<f64>,
    ) -> Result<(), Failure>;

    /// Overwrite VQ-EMA's moving averages `ema_w` `(K, D)` and `cluster_size` `(K,)`.
    ///
    /// # Errors
    /// A host error, or [`Failure::Other`] for a layer that is not VQ-EMA.
    fn set_ema(
        &self,
        layer: &mut Self::Quantizer,
        ema_w: ArrayView2<f64>,
        cluster_size: ArrayView1<f64>,
    ) -> Result<(), Failure>;

    /// The layer's variable and, for VQ-EMA, its moving averages.
    ///
    /// # Errors
    /// A host error.
    fn state(&self, layer: &Self::Quantizer) -> Result<LayerState, Failure>;

    /// `Quantizer::quantize(latents, train)`, its outputs read back.
    ///
    /// # Errors
    /// The layer's.
    fn quantize(
        &self,
        layer: &mut Self::Quantizer,
        latents: &Input,
        train: bool,
    ) -> Result<Quantization, Failure>;

    /// `Quantizer::decode(codes)`, with the codes built as an I32 (lattice) or I64
    /// (indices) tensor of their shape.
    ///
    /// # Errors
    /// The layer's.
    fn decode(
        &self,
        layer: &Self::Quantizer,
        codes: &Codes,
    ) -> Result<ndarray::ArrayD<f64>, Failure>;

    /// One training-mode forward and backward pass of `sum(quantized * upstream) + loss`,
    /// with the latents a leaf that needs a gradient and all gradients zeroed first.
    /// `upstream` has the latents' shape and the layer's dtype.
    ///
    /// # Errors
    /// The layer's.
    fn gradients(
        &self,
        layer: &mut Self::Quantizer,
        latents: &Input,
        upstream: &Input,
    ) -> Result<(Quantization, Gradients), Failure>;
}

/// The paper's VQ-VAE and its checkpoints on one backend (what the `models` and
/// `official_checkpoints` suites need).
pub trait ModelBackend: Backend {
    /// A VQ-VAE and whatever keeps its variables alive.
    type Model;

    /// `VqVae::new` with variables of `dtype`.
    ///
    /// # Errors
    /// The constructor's (a quantizer whose dimension is not the model's is one).
    fn vqvae(
        &self,
        config: &VqVaeConfig,
        quantizer: &QuantizerConfig,
        dtype: DType,
    ) -> Result<Self::Model, Failure>;

    /// The model on a batch of images `(N, C, H, W)`: the encoder's latents, the quantizer's
    /// codes and the reconstruction (`VqVae::forward_t`, or `encode`, the quantizer and
    /// `decode` in turn).
    ///
    /// # Errors
    /// The model's ([`Failure::InputShape`] with `what = "images"` for a wrong shape).
    fn forward(
        &self,
        model: &mut Self::Model,
        images: &Input,
        train: bool,
    ) -> Result<ModelOutput, Failure>;

    /// `save_checkpoint` of the model's variables to `path`.
    ///
    /// # Errors
    /// The adapter's.
    fn save_checkpoint(&self, model: &Self::Model, path: &Path) -> Result<(), Failure>;

    /// `load_checkpoint` from `path` into the model, whatever its dtype (tensors are
    /// converted to it).
    ///
    /// # Errors
    /// The adapter's.
    fn load_checkpoint(&self, model: &mut Self::Model, path: &Path) -> Result<(), Failure>;

    /// The model variable of the official name `name` (`"_quantizer.embedding.weight"`), as
    /// a row-major `(rows, cols)` matrix (a vector is one row).
    ///
    /// # Errors
    /// [`Failure::Other`] when there is none.
    fn model_variable(
        &self,
        model: &Self::Model,
        name: &str,
    ) -> Result<ndarray::Array2<f64>, Failure>;

    /// The Fashion-MNIST test split as the models take it (`x / 255 - 0.5`), 10,000 images of
    /// `28 * 28` pixels, row-major; or why it is not available (the suite then skips, or
    /// fails when `CI` is set). By default loaded from the directory
    /// [`fashion_mnist::locate`] finds with [`FashionMnist::load`]; a backend need not
    /// override it.
    ///
    /// # Errors
    /// Why the data is not available (the loader's error as text).
    fn fashion_mnist_test(&self) -> Result<Vec<f32>, String> {
        let dir = fashion_mnist::locate(None).map_err(|e| e.to_string())?;
        FashionMnist::load(&dir, Split::Test)
            .map(|data| data.pixels)
            .map_err(|e| e.to_string())
    }
}
