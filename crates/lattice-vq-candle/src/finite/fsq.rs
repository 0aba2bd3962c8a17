//! FSQ (the core's `FiniteScalarQuantizer`) as a codebook of the finite layer: fixed unit
//! steps behind a tanh bound, in candle tensor ops.

use candle_core::{DType, Tensor};
use lattice_vq_core::{FiniteQuantizerConfig, FiniteScalarQuantizer};

use super::{Quantized, TensorCodebook, exact_straight_through};
use crate::error::Result;
use crate::lattice::round_half_to_even;
use crate::lattice_ops::Element;

/// The bound's constants `(1, d)` in the layer's dtype, the core's bits.
#[derive(Debug, Clone)]
pub(super) struct Fsq {
    /// `h`.
    range: Tensor,
    /// `s`.
    half_step: Tensor,
    /// `atanh(s / h)`.
    shift: Tensor,
    /// `w`.
    half_width: Tensor,
    /// `l - 1`.
    top: Tensor,
}

impl Fsq {
    /// The constants in `dtype`, computed by the core's own type; `row` makes a `(1, d)`
    /// tensor of the dtype from f64 values (exact: they are values of the dtype).
    pub(super) fn new(
        config: &FiniteQuantizerConfig,
        dtype: DType,
        top: &Tensor,
        row: impl Fn(Vec<f64>) -> Result<Tensor>,
    ) -> Result<Self> {
        fn rows<T: Element>(
            config: &FiniteQuantizerConfig,
            row: impl Fn(Vec<f64>) -> Result<Tensor>,
        ) -> Result<[Tensor; 4]> {
            let fsq = config.fsq_quantizer::<T>()?;
            let (range, half_step, shift, width) = fsq.constants();
            let as_row = |values: &[T]| {
                row(values
                    .iter()
                    .map(|&v| candle_core::WithDType::to_f64(v))
                    .collect())
            };
            Ok([
                as_row(range)?,
                as_row(half_step)?,
                as_row(shift)?,
                as_row(width)?,
            ])
        }
        let [range, half_step, shift, half_width] = match dtype {
            DType::F64 => rows::<f64>(config, row)?,
            _ => rows::<f32>(config, row)?,
        };
        Ok(Self {
            range,
            half_step,
            shift,
            half_width,
            top: top.clone(),
        })
    }
}

impl TensorCodebook for Fsq {
    type Core<T: Element> = FiniteScalarQuantizer<T>;

    fn core<T: Element>(&self, config: &FiniteQuantizerConfig) -> Result<Self::Core<T>> {
        Ok(config.fsq_quantizer::<T>()?)
    }

    /// Nothing: FSQ has no parameters.
    fn summary(&self) -> Result<Vec<Tensor>> {
        Ok(Vec::new())
    }

    fn accepts(&self, _summary: &[f64], _dtype: DType) -> bool {
        true
    }

    fn quantize(&self, y: &Tensor) -> Result<Quantized> {
        // The core's bound: tanh correctly rounded from f64.
        let bound = y
            .broadcast_add(&self.shift)?
            .to_dtype(DType::F64)?
            .tanh()?
            .to_dtype(y.dtype())?
            .broadcast_mul(&self.range)?
            .broadcast_sub(&self.half_step)?;
        let unclamped = round_half_to_even(&bound.detach())?.broadcast_add(&self.half_width)?;
        let zero = Tensor::zeros((), y.dtype(), y.device())?;
        let digits = unclamped
            .broadcast_maximum(&zero)?
            .broadcast_minimum(&self.top)?;
        let e = digits
            .broadcast_sub(&self.half_width)?
            .broadcast_div(&self.half_width)?;
        // vector-quantize-pytorch's round_ste then the scale (gradients through the tanh),
        // with the forward value exactly the point.
        let straight_through = exact_straight_through(&e, &bound.broadcast_div(&self.half_width)?)?;
        Ok(Quantized {
            straight_through,
            points: e,
            unclamped,
            digits,
            parts: None,
        })
    }
}
