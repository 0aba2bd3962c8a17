//! Helpers of the suites: building layers with given values, comparing numbers.

use lattice_vq_core::QuantizerConfig;
use ndarray::{Array1, Array2, ArrayD, IxDyn};

use crate::backend::Backend;
use crate::failure::Failure;
use crate::types::DType;

/// A layer of `config` in `dtype` with its variable set to `values` (`rows x cols`,
/// row-major).
///
/// # Panics
/// When the backend fails to build or set it.
pub fn layer<B: Backend>(
    backend: &B,
    config: QuantizerConfig,
    dtype: DType,
    values: &[f32],
) -> B::Quantizer {
    let mut layer = backend
        .quantizer(&config, dtype)
        .unwrap_or_else(|e| panic!("{}: building {config:?}: {e}", backend.name()));
    let cols = config.dim();
    let variable = matrix(values, values.len() / cols, cols);
    backend
        .set_variable(&mut layer, variable.view())
        .unwrap_or_else(|e| panic!("{}: setting {config:?}: {e}", backend.name()));
    layer
}

/// `rows x cols` row-major f32 values as an f64 matrix.
pub fn matrix(values: &[f32], rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_vec((rows, cols), values.iter().map(|&v| f64::from(v)).collect())
        .expect("rows * cols values")
}

/// f32 values as an f64 array of `shape`.
pub fn array(values: &[f32], shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), values.iter().map(|&v| f64::from(v)).collect())
        .expect("values for the shape")
}

/// f32 values as an f64 vector.
pub fn vector(values: &[f32]) -> Array1<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

/// `|a - b| <= tolerance * (1 + |b|)` elementwise, or a panic naming `what` and the first
/// element that differs.
pub fn assert_close<'a>(
    what: &str,
    got: impl IntoIterator<Item = &'a f64>,
    expected: impl IntoIterator<Item = &'a f64>,
    tolerance: f64,
) {
    let (got, expected): (Vec<f64>, Vec<f64>) = (
        got.into_iter().copied().collect(),
        expected.into_iter().copied().collect(),
    );
    assert_eq!(got.len(), expected.len(), "{what}: lengths");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            (g - e).abs() <= tolerance * (1.0 + e.abs()),
            "{what}: element {i}: {g} vs expected {e} (tolerance {tolerance})"
        );
    }
}

/// The error of a call that must fail, or a panic saying what came back instead.
pub fn failure<T: std::fmt::Debug>(what: &str, result: Result<T, Failure>) -> Failure {
    match result {
        Ok(value) => panic!("{what}: expected an error, got {value:?}"),
        Err(e) => e,
    }
}

/// A core error, or a panic naming the failure.
pub fn core_error(what: &str, failure: Failure) -> lattice_vq_core::Error {
    match failure {
        Failure::Core(e) => e,
        other => panic!("{what}: expected a core error, got {other:?}"),
    }
}
