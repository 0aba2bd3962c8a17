//! The plain values that cross the [`Backend`](crate::Backend) boundary: ndarray inputs in,
//! ndarray and `f64` results out.

use ndarray::{Array1, Array2, ArrayD};

/// The element type of a tensor the backend builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float (the layers' default).
    F32,
    /// 64-bit float.
    F64,
    /// An integer type of the backend's choosing (any: the suites only check that it is
    /// refused as latents).
    Int,
}

/// A tensor to build on the backend: values (exact in `dtype`, the suites see to it) and
/// the element type to build it in.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The values, any shape; the backend builds a tensor of exactly this shape.
    pub values: ArrayD<f64>,
    /// The element type of the tensor (for [`DType::Int`] the values are whole numbers).
    pub dtype: DType,
}

impl Input {
    /// `values` as a tensor of `dtype`.
    pub fn new(values: ArrayD<f64>, dtype: DType) -> Self {
        Self { values, dtype }
    }

    /// f32 values (widened exactly) as an F32 tensor.
    pub fn f32(values: ArrayD<f32>) -> Self {
        Self::new(values.mapv(f64::from), DType::F32)
    }

    /// f64 values as an F64 tensor.
    pub fn f64(values: ArrayD<f64>) -> Self {
        Self::new(values, DType::F64)
    }
}

/// Codes as a quantizer returned them, said by the variant (the contract's `Codes`).
#[derive(Debug, Clone, PartialEq)]
pub enum Codes {
    /// Integer lattice coordinates `v` with `e = B v`, shape `(..., D)`. The backend fills it
    /// only from an I32 tensor.
    Lattice(ArrayD<i32>),
    /// Codeword indices, shape `(...)`. The backend fills it only from an I64 tensor.
    Indices(ArrayD<i64>),
}

impl Codes {
    /// The codes' shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Self::Lattice(c) => c.shape(),
            Self::Indices(c) => c.shape(),
        }
    }

    /// The lattice coordinates, if these are lattice codes.
    pub fn lattice(&self) -> Option<&ArrayD<i32>> {
        match self {
            Self::Lattice(c) => Some(c),
            Self::Indices(_) => None,
        }
    }

    /// The indices, if these are codeword indices.
    pub fn indices(&self) -> Option<&ArrayD<i64>> {
        match self {
            Self::Indices(c) => Some(c),
            Self::Lattice(_) => None,
        }
    }
}

/// The unweighted loss terms (the adapters' `LossParts`), as `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossParts {
    /// Embedding loss `mean((e - sg z)^2)` (zero for VQ-EMA).
    pub embedding: f64,
    /// Commitment loss `mean((sg e - z)^2)`.
    pub commitment: f64,
    /// Size loss (lattice only; zero for the codebooks).
    pub size: f64,
}

/// What `Quantizer::quantize` returned, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    /// The straight-through output `z + sg(e - z)`, in the input's layout.
    pub quantized: ArrayD<f64>,
    /// The points `e`, same shape as `quantized`.
    pub points: ArrayD<f64>,
    /// The element type of `quantized` and `points` as the backend produced them.
    pub dtype: DType,
    /// The codes.
    pub codes: Codes,
    /// The weighted total loss.
    pub loss: f64,
    /// Its unweighted terms.
    pub parts: LossParts,
}

/// Gradients of the fixed objective `sum(quantized * upstream) + loss` (one backward pass,
/// training mode, from zeroed gradients).
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// With respect to the latents, same shape as they are.
    pub latents: ArrayD<f64>,
    /// With respect to the layer's trainable variable (the `(1, D)` basis or the `(K, D)`
    /// codebook), or `None` for a layer without one (VQ-EMA's codebook is not trained by
    /// gradients).
    pub variable: Option<Array2<f64>>,
}

/// VQ-EMA's state: the codebook and the two moving averages it is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct EmaState {
    /// The codebook `E`, `(K, D)`.
    pub codebook: Array2<f64>,
    /// The moving average of per-codeword sums, `(K, D)`.
    pub ema_w: Array2<f64>,
    /// The smoothed moving average of per-codeword counts, `(K,)`.
    pub cluster_size: Array1<f64>,
}

/// A layer's state as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerState {
    /// The layer's variable: the `(1, D)` basis or the `(K, D)` codebook.
    pub variable: Array2<f64>,
    /// VQ-EMA's moving averages (`None` for the other layers).
    pub ema: Option<EmaState>,
}

/// What the paper's VQ-VAE computed for a batch of images.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// The encoder's latents `(N, D, H, W)` (before quantization).
    pub latents: ArrayD<f64>,
    /// The quantizer's codes for them.
    pub codes: Codes,
    /// The decoded images, same shape as the input.
    pub reconstruction: ArrayD<f64>,
}
