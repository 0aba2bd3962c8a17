//! The bounded lattice (the core's `BoundedLattice`) as a codebook of the finite layer:
//! learnable steps and, optionally, learnable offsets, in libtorch tensor ops.

use lattice_vq_core::{BoundedLattice, FiniteKind, FiniteQuantizerConfig, LatticeFloat};
use tch::{Device, Kind, Tensor};

use super::{ByKind, Float, Quantized, TensorCodebook, exact_row, exact_straight_through};
use crate::error::Result;
use crate::output::{LossParts, host, vq_losses};

/// The steps `b` `(1, d)`, the offsets `c` `(1, d)` when learned, and `(l - 1) / 2` and
/// `l - 1` in each float kind.
#[derive(Debug)]
pub(super) struct Bounded {
    step: Tensor,
    offset: Option<Tensor>,
    constants: ByKind<2>,
}

impl Bounded {
    /// # Errors
    /// Levels whose digits the var store's `kind` cannot hold (the core's `InvalidConfig`),
    /// or a libtorch error.
    pub(super) fn new(
        config: &FiniteQuantizerConfig,
        step: Tensor,
        offset: Option<Tensor>,
        kind: Kind,
        device: Device,
    ) -> Result<Self> {
        let constants = ByKind::new(kind, |kind| constants(config, kind, device))?;
        Ok(Self {
            step,
            offset,
            constants,
        })
    }

    pub(super) fn step(&self) -> &Tensor {
        &self.step
    }

    pub(super) fn offset(&self) -> Option<&Tensor> {
        self.offset.as_ref()
    }
}

/// `(l - 1) / 2` and `l - 1` in `kind`: exact once the core's bounded lattice of these
/// levels in that kind (unit steps, zero offsets) accepts them, as the quantization in it
/// would need.
fn constants(config: &FiniteQuantizerConfig, kind: Kind, device: Device) -> Result<[Tensor; 2]> {
    fn accepted<T: Float>(config: &FiniteQuantizerConfig) -> Result<()> {
        let d = config.codebook_dim();
        let mut parameters = vec![T::one(); d];
        if config.kind == FiniteKind::BoundedWithOffset {
            parameters.extend(vec![T::zero(); d]);
        }
        config.bounded_lattice::<T>(&parameters)?;
        Ok(())
    }
    match kind {
        Kind::Double => accepted::<f64>(config)?,
        _ => accepted::<f32>(config)?,
    }
    let top: Vec<f64> = config
        .levels
        .as_slice()
        .iter()
        .map(|&l| f64::from(l - 1))
        .collect();
    let centre = top.iter().map(|t| t * 0.5).collect();
    Ok([
        exact_row(centre, kind, device)?,
        exact_row(top, kind, device)?,
    ])
}

impl TensorCodebook for Bounded {
    type Core<T: Float> = BoundedLattice<T>;

    fn core<T: Float>(&self, config: &FiniteQuantizerConfig) -> Result<BoundedLattice<T>> {
        let mut parameters = host::<T>(&self.step)?;
        if let Some(offset) = &self.offset {
            parameters.extend(host::<T>(offset)?);
        }
        Ok(config.bounded_lattice(&parameters)?)
    }

    /// `min |b|`, `max |b|`, `sum |b|`, then `max |c|` and `sum c` when offsets are learned.
    fn summary(&self) -> Result<Vec<Tensor>> {
        let magnitude = self.step.f_abs()?.f_to_kind(Kind::Double)?;
        let mut summary = vec![
            magnitude.f_min()?,
            magnitude.f_max()?,
            magnitude.f_sum(Kind::Double)?,
        ];
        if let Some(offset) = &self.offset {
            let offset = offset.f_to_kind(Kind::Double)?;
            summary.extend([offset.f_abs()?.f_max()?, offset.f_sum(Kind::Double)?]);
        }
        Ok(summary)
    }

    /// Steps within the basis bounds of the kind, offsets within them (all of them finite).
    fn accepts(&self, summary: &[f64], kind: Kind) -> bool {
        let (min, max) = match kind {
            Kind::Double => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
            _ => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
        };
        summary[0] >= min && summary[1] <= max && (self.offset.is_none() || summary[3] <= max)
    }

    fn quantize(&self, config: &FiniteQuantizerConfig, y: &Tensor) -> Result<Quantized> {
        let (kind, device) = (y.kind(), y.device());
        let [centre, top] = self
            .constants
            .get(kind, device, |kind| constants(config, kind, device))?;
        let offset = match &self.offset {
            Some(offset) => offset.shallow_clone(),
            None => self.step.f_zeros_like()?,
        };
        let (b, o) = (self.step.f_detach()?, offset.f_detach()?);
        // The core's `(z - c) * (1 / b) + (l - 1) / 2`, the reciprocal rounded once.
        let t = y
            .f_detach()?
            .f_sub(&o)?
            .f_mul(&b.f_reciprocal()?)?
            .f_add(&centre)?;
        // libtorch's round is half to even, as the core's.
        let unclamped = t.f_round()?;
        let zero = Tensor::f_zeros([], (kind, device))?;
        let digits = unclamped.f_maximum(&zero)?.f_minimum(&top)?;
        // e = c + b (k - (l - 1) / 2) with k held constant: the box learns through de/db and
        // de/dc only.
        let e = digits.f_sub(&centre)?.f_mul(&self.step)?.f_add(&offset)?;
        let (embedding, commitment) = vq_losses(&e, y)?;
        let parts = LossParts {
            embedding,
            commitment,
            size: self.step.f_abs()?.f_sum(kind)?.f_neg()?,
        };
        Ok(Quantized {
            straight_through: exact_straight_through(&e, y)?,
            points: e.f_detach()?,
            unclamped,
            digits,
            parts: Some(parts),
        })
    }
}
