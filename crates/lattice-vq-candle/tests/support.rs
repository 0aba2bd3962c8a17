//! Helpers shared by the test modules.

/// Boundary cases and count budgets (the tch tests include this module too).
#[path = "boundary.rs"]
pub mod boundary;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::LatticeQuantizer;
use lattice_vq_core::DiagonalLattice;
use ndarray::Array2;

/// The CPU device.
pub const CPU: Device = Device::Cpu;

/// A fresh var map and an F32 builder over it.
pub fn var_builder() -> (VarMap, VarBuilder<'static>) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &CPU);
    (varmap, vb)
}

/// Overwrite a variable (any tensor that came from a `VarMap`).
pub fn set(variable: &Tensor, values: &Tensor) {
    Var::from_tensor(variable)
        .unwrap()
        .set(&values.to_dtype(variable.dtype()).unwrap())
        .unwrap();
}

/// Overwrite the quantizer's basis with `values`.
pub fn set_basis(quantizer: &LatticeQuantizer, values: &[f32]) {
    set(
        quantizer.variable(),
        &Tensor::from_slice(values, (1, values.len()), &CPU).unwrap(),
    );
}

/// A CPU f32 tensor of the given shape.
pub fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(values, shape, &CPU).unwrap()
}

/// A 2-D tensor as an ndarray of f32.
pub fn to_array_f32(t: &Tensor) -> Array2<f32> {
    let (rows, cols) = t.dims2().unwrap();
    let values = t
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    Array2::from_shape_vec((rows, cols), values).unwrap()
}

/// A 2-D tensor as an ndarray of f64.
pub fn to_array_f64(t: &Tensor) -> Array2<f64> {
    let (rows, cols) = t.dims2().unwrap();
    let values = t
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    Array2::from_shape_vec((rows, cols), values).unwrap()
}

/// A 2-D integer tensor as an ndarray of i32.
pub fn to_array_i32(t: &Tensor) -> Array2<i32> {
    let (rows, cols) = t.dims2().unwrap();
    let values = t
        .to_dtype(DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap();
    Array2::from_shape_vec((rows, cols), values.into_iter().map(|v| v as i32).collect()).unwrap()
}

/// The core lattice with the quantizer's current basis, in f32.
pub fn core_lattice(quantizer: &LatticeQuantizer) -> DiagonalLattice<f32> {
    let values = quantizer.basis().unwrap().to_vec1::<f32>().unwrap();
    DiagonalLattice::from_slice(&values).unwrap()
}

/// Deterministic pseudo-random latents in [-scale, scale] with some exact half-integer ties
/// in units of `basis` (the same generator as the tch tests).
pub fn latents(rows: usize, dim: usize, scale: f32, basis: &[f32], seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..rows * dim)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            if i % 7 == 0 {
                (((state >> 20) % 9) as f32 - 4.0 + 0.5) * basis[i % dim]
            } else {
                (2.0 * unit - 1.0) * scale
            }
        })
        .collect()
}
