//! FSQ (the core's `FiniteScalarQuantizer`) as a codebook of the finite layer: fixed unit
//! steps behind a tanh bound, in libtorch tensor ops.

use lattice_vq_core::{FiniteQuantizerConfig, FiniteScalarQuantizer};
use tch::{Device, Kind, Tensor};

use super::{ByKind, Float, Quantized, TensorCodebook, exact_row, exact_straight_through};
use crate::error::Result;

/// The bound's constants `h`, `s`, `atanh(s / h)`, `w` and `l - 1`, `(1, d)`, in each float
/// kind: converting one kind's to the other would not give the core's bits (`atanh(s / h)`
/// is rounded once in each type).
#[derive(Debug)]
pub(super) struct Fsq {
    constants: ByKind<5>,
}

impl Fsq {
    /// # Errors
    /// Levels the core refuses in the var store's `kind`, or a libtorch error.
    pub(super) fn new(config: &FiniteQuantizerConfig, kind: Kind, device: Device) -> Result<Self> {
        Ok(Self {
            constants: ByKind::new(kind, |kind| constants(config, kind, device))?,
        })
    }
}

/// The constants in `kind`, computed by the core's own type so that they are its bits.
fn constants(config: &FiniteQuantizerConfig, kind: Kind, device: Device) -> Result<[Tensor; 5]> {
    fn rows<T: Float>(config: &FiniteQuantizerConfig, device: Device) -> Result<[Tensor; 4]> {
        let fsq = config.fsq_quantizer::<T>()?;
        let (range, half_step, shift, width) = fsq.constants();
        let row = |values: &[T]| -> Result<Tensor> {
            Ok(Tensor::from_slice(values)
                .f_view([1, -1])?
                .f_to_device(device)?)
        };
        Ok([row(range)?, row(half_step)?, row(shift)?, row(width)?])
    }
    let [range, half_step, shift, width] = match kind {
        Kind::Double => rows::<f64>(config, device)?,
        _ => rows::<f32>(config, device)?,
    };
    let levels = config.levels.as_slice();
    let top = exact_row(
        levels.iter().map(|&l| f64::from(l - 1)).collect(),
        kind,
        device,
    )?;
    Ok([range, half_step, shift, width, top])
}

impl TensorCodebook for Fsq {
    type Core<T: Float> = FiniteScalarQuantizer<T>;

    fn core<T: Float>(&self, config: &FiniteQuantizerConfig) -> Result<Self::Core<T>> {
        Ok(config.fsq_quantizer::<T>()?)
    }

    /// Nothing: FSQ has no parameters.
    fn summary(&self) -> Result<Vec<Tensor>> {
        Ok(Vec::new())
    }

    fn accepts(&self, _summary: &[f64], _kind: Kind) -> bool {
        true
    }

    fn quantize(&self, config: &FiniteQuantizerConfig, y: &Tensor) -> Result<Quantized> {
        let (kind, device) = (y.kind(), y.device());
        let [range, half_step, shift, half_width, top] =
            self.constants
                .get(kind, device, |kind| constants(config, kind, device))?;
        // The core's bound: tanh correctly rounded from f64.
        let bound = y
            .f_add(&shift)?
            .f_to_kind(Kind::Double)?
            .f_tanh()?
            .f_to_kind(kind)?
            .f_mul(&range)?
            .f_sub(&half_step)?;
        let unclamped = bound.f_detach()?.f_round()?.f_add(&half_width)?;
        let zero = Tensor::f_zeros([], (kind, device))?;
        let digits = unclamped.f_maximum(&zero)?.f_minimum(&top)?;
        let e = digits.f_sub(&half_width)?.f_div(&half_width)?;
        // vector-quantize-pytorch's round_ste then the scale (gradients through the tanh),
        // with the forward value exactly the point.
        let straight_through = exact_straight_through(&e, &bound.f_div(&half_width)?)?;
        Ok(Quantized {
            straight_through,
            points: e,
            unclamped,
            digits,
            parts: None,
        })
    }
}
