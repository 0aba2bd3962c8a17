//! The bounded lattice (the core's `BoundedLattice`) as a codebook of the finite layer:
//! learnable steps and, optionally, learnable offsets, in candle tensor ops.

use candle_core::{DType, Tensor};
use lattice_vq_core::{BoundedLattice, FiniteQuantizerConfig, LatticeFloat};

use super::{Quantized, TensorCodebook, exact_straight_through};
use crate::error::Result;
use crate::lattice::round_half_to_even;
use crate::lattice_ops::Element;
use crate::output::{LossParts, host};

/// The steps `b` `(1, d)`, the offsets `c` `(1, d)` when learned, and the box's constants.
#[derive(Debug, Clone)]
pub(super) struct Bounded {
    step: Tensor,
    offset: Option<Tensor>,
    /// `(l - 1) / 2`, exact in any float type.
    centre: Tensor,
    /// `l - 1`.
    top: Tensor,
}

impl Bounded {
    pub(super) fn new(step: Tensor, offset: Option<Tensor>, top: &Tensor) -> Result<Self> {
        Ok(Self {
            step,
            offset,
            centre: top.affine(0.5, 0.0)?,
            top: top.clone(),
        })
    }

    pub(super) fn step(&self) -> &Tensor {
        &self.step
    }

    pub(super) fn offset(&self) -> Option<&Tensor> {
        self.offset.as_ref()
    }
}

impl TensorCodebook for Bounded {
    type Core<T: Element> = BoundedLattice<T>;

    fn core<T: Element>(&self, config: &FiniteQuantizerConfig) -> Result<BoundedLattice<T>> {
        let mut parameters = host::<T>(&self.step)?;
        if let Some(offset) = &self.offset {
            parameters.extend(host::<T>(offset)?);
        }
        Ok(config.bounded_lattice(&parameters)?)
    }

    /// `min |b|`, `max |b|`, `sum |b|`, then `max |c|` and `sum c` when offsets are learned.
    fn summary(&self) -> Result<Vec<Tensor>> {
        let magnitude = self.step.abs()?.to_dtype(DType::F64)?;
        let mut summary = vec![
            magnitude.min_all()?,
            magnitude.max_all()?,
            magnitude.sum_all()?,
        ];
        if let Some(offset) = &self.offset {
            summary.push(offset.abs()?.to_dtype(DType::F64)?.max_all()?);
            summary.push(offset.to_dtype(DType::F64)?.sum_all()?);
        }
        Ok(summary)
    }

    /// Steps within the basis bounds of the dtype, offsets within them (all of them finite).
    fn accepts(&self, summary: &[f64], dtype: DType) -> bool {
        let (min, max) = match dtype {
            DType::F64 => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
            _ => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
        };
        summary[0] >= min && summary[1] <= max && (self.offset.is_none() || summary[3] <= max)
    }

    fn quantize(&self, y: &Tensor) -> Result<Quantized> {
        let offset = match &self.offset {
            Some(offset) => offset.clone(),
            None => self.step.zeros_like()?,
        };
        let (b, o) = (self.step.detach(), offset.detach());
        // The core's `(z - c) * (1 / b) + (l - 1) / 2`, the reciprocal rounded once.
        let t = y
            .detach()
            .broadcast_sub(&o)?
            .broadcast_mul(&b.recip()?)?
            .broadcast_add(&self.centre)?;
        let unclamped = round_half_to_even(&t)?;
        let zero = Tensor::zeros((), y.dtype(), y.device())?;
        let digits = unclamped
            .broadcast_maximum(&zero)?
            .broadcast_minimum(&self.top)?;
        // e = c + b (k - (l - 1) / 2) with k held constant: the box learns through de/db and
        // de/dc only.
        let e = digits
            .broadcast_sub(&self.centre)?
            .broadcast_mul(&self.step)?
            .broadcast_add(&offset)?;
        let parts = LossParts {
            embedding: (&e - y.detach())?.sqr()?.mean_all()?,
            commitment: (e.detach() - y)?.sqr()?.mean_all()?,
            size: self.step.abs()?.sum_all()?.neg()?,
        };
        Ok(Quantized {
            straight_through: exact_straight_through(&e, y)?,
            points: e.detach(),
            unclamped,
            digits,
            parts: Some(parts),
        })
    }
}
