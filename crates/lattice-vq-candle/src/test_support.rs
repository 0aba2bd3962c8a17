//! Helpers shared by the unit tests.

use candle_core::{DType, Tensor};

/// Largest absolute difference of two tensors of any float dtype, in f64.
pub(crate) fn max_gap(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_dtype(DType::F64).unwrap();
    let b = b.to_dtype(DType::F64).unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}
