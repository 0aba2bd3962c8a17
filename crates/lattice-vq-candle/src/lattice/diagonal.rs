//! The paper's diagonal lattice (lattice-vq-core's `DiagonalLattice`, `B = diag(b)`) in this
//! crate: the core lattice the CPU ops rebuild, its tensor ops for other devices, and the
//! rejection rule of its initialisation.

use candle_core::{DType, Tensor, Var};
use lattice_vq_core::{DiagonalLattice, LatticeFloat, init};

use super::TensorLattice;
use crate::error::Result;
use crate::lattice_ops::{CoreLattice, Element};
use crate::output::host;

/// The diagonal lattice: parameters `b`, the variable `(1, D)`.
pub(crate) struct Diagonal;

impl CoreLattice for Diagonal {
    type Core<T: Element> = DiagonalLattice<T>;

    fn core<T: Element>(parameters: &[T]) -> lattice_vq_core::Result<DiagonalLattice<T>> {
        DiagonalLattice::from_slice(parameters)
    }
}

impl TensorLattice for Diagonal {
    /// `v = round_half_to_even(z * (1 / b))`; the proof is six reductions: the basis within
    /// the dtype's magnitude bounds and the codes within `i32`, each with a finite sum
    /// (candle's min and max skip NaN; a sum is NaN or infinite when a term is).
    fn codes(basis: &Tensor, rows: &Tensor) -> Result<(Tensor, bool)> {
        let v = round_half_to_even(&rows.broadcast_mul(&basis.recip()?)?)?;
        let magnitude = basis.abs()?;
        let summary = [
            v.min_all()?,
            v.max_all()?,
            v.sum_all()?,
            magnitude.min_all()?,
            magnitude.max_all()?,
            magnitude.sum_all()?,
        ];
        let summary = Tensor::stack(&summary, 0)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let [v_min, v_max, v_sum, b_min, b_max, b_sum] =
            <[f64; 6]>::try_from(summary).unwrap_or([f64::NAN; 6]);
        let (min, max) = match basis.dtype() {
            DType::F32 => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
            _ => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
        };
        let basis_ok = b_sum.is_finite() && b_min >= min && b_max <= max;
        let codes_ok =
            v_sum.is_finite() && v_min >= f64::CODE_MIN && v_max < f64::CODE_MAX_EXCLUSIVE;
        Ok((v, basis_ok && codes_ok))
    }

    /// `e = b * v`, row by row.
    fn points(basis: &Tensor, codes: &Tensor) -> Result<Tensor> {
        Ok(codes.broadcast_mul(basis)?)
    }

    /// Eq. 7 as the core computes it: `-sum_i |b_i|`.
    fn size_loss(basis: &Tensor) -> Result<Tensor> {
        Ok(basis.abs()?.sum_all()?.neg()?)
    }
}

/// Round half to even, elementwise, with tensor ops every backend has (candle's own `round`
/// goes half away from zero): `LatticeFloat::round_ties_even_fast`'s add and subtract
/// `ROUNDING_SHIFT` on the magnitude below the shift, the magnitude itself above it.
pub(crate) fn round_half_to_even(x: &Tensor) -> Result<Tensor> {
    let shift = match x.dtype() {
        DType::F64 => <f64 as LatticeFloat>::ROUNDING_SHIFT,
        _ => f64::from(<f32 as LatticeFloat>::ROUNDING_SHIFT),
    };
    let magnitude = x.abs()?;
    let rounded = magnitude.affine(1.0, shift)?.affine(1.0, -shift)?;
    let rounded = magnitude.lt(shift)?.where_cond(&rounded, &magnitude)?;
    Ok(x.lt(0.0)?.where_cond(&rounded.neg()?, &rounded)?)
}

/// `lattice_vq_core::init::redraw_until_valid` on a freshly created basis variable: the
/// first draw is the var builder's; each redraw is `U(-r, r)` from candle's generator, and
/// the accepted one is written to the variable.
pub(super) fn redraw_until_valid(weight: &Tensor, half_width: f64) -> Result<()> {
    fn accept<T: Element>(weight: &Tensor, half_width: f64) -> Result<()> {
        let mut accepted = None;
        let redraw = || -> Result<Vec<T>> {
            let draw = Tensor::rand(-half_width, half_width, weight.shape(), weight.device())?
                .to_dtype(weight.dtype())?;
            let values = host::<T>(&draw)?;
            accepted = Some(draw);
            Ok(values)
        };
        init::redraw_until_valid(host::<T>(weight)?, redraw)?;
        if let Some(draw) = accepted {
            Var::from_tensor(weight)?.set(&draw)?;
        }
        Ok(())
    }
    match weight.dtype() {
        DType::F32 => accept::<f32>(weight, half_width),
        _ => accept::<f64>(weight, half_width),
    }
}
