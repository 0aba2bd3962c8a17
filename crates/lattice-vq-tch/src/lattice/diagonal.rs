//! The paper's diagonal lattice (lattice-vq-core's `DiagonalLattice`, `B = diag(b)`) as
//! libtorch ops on the `(1, D)` basis variable.

use lattice_vq_core::{DiagonalLattice, LatticeFloat};
use tch::kind::Element;
use tch::{Kind, Tensor};

use super::TensorLattice;
use crate::error::Result;

/// The diagonal lattice: parameters `b`, the variable `embedding.weight` `(1, D)`.
pub(crate) struct Diagonal;

impl TensorLattice for Diagonal {
    type Core<T: Element + Copy + LatticeFloat> = DiagonalLattice<T>;

    fn core<T: Element + Copy + LatticeFloat>(
        parameters: &[T],
    ) -> lattice_vq_core::Result<Self::Core<T>> {
        DiagonalLattice::from_slice(parameters)
    }

    /// `v = round(z * (1 / b))` (libtorch rounds ties to even, as the core); the proof is the
    /// basis within the kind's magnitude bounds and the codes within `i32` (NaN fails every
    /// comparison, and min and max propagate it).
    fn codes(basis: &Tensor, rows: &Tensor) -> Result<(Tensor, bool)> {
        let _guard = tch::no_grad_guard();
        let reciprocal = basis.f_reciprocal()?;
        let v = rows.f_mul(&reciprocal)?.f_round()?;
        let magnitude = basis.f_abs()?;
        let extremes = [
            v.f_min()?,
            v.f_max()?,
            magnitude.f_min()?,
            magnitude.f_max()?,
        ];
        let summary = Tensor::f_stack(&extremes, 0)?.f_to_kind(Kind::Double)?;
        let [v_min, v_max, b_min, b_max] =
            <[f64; 4]>::try_from(Vec::<f64>::try_from(summary)?).unwrap_or([f64::NAN; 4]);
        let (min, max) = match basis.kind() {
            Kind::Float => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
            _ => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
        };
        let basis_ok = b_min >= min && b_max <= max;
        let codes_ok = v_min >= f64::CODE_MIN && v_max < f64::CODE_MAX_EXCLUSIVE;
        Ok((v, basis_ok && codes_ok))
    }

    /// `e = v * b`, row by row.
    fn points(basis: &Tensor, codes: &Tensor) -> Result<Tensor> {
        Ok(codes.f_mul(basis)?)
    }

    /// Eq. 7 as the core computes it: `-sum_i |b_i|`.
    fn size_loss(basis: &Tensor) -> Result<Tensor> {
        Ok(basis.f_abs()?.f_sum(basis.kind())?.f_neg()?)
    }
}
