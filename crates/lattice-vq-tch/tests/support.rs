//! Helpers shared by the test modules.

/// Boundary cases and count budgets, shared with the candle tests.
#[path = "../../lattice-vq-candle/tests/boundary.rs"]
pub mod boundary;

use lattice_vq_core::DiagonalLattice;
use lattice_vq_tch::LatticeQuantizer;
use ndarray::Array2;
use tch::{Device, Kind, Tensor};

/// One libtorch thread per test (see tests/lib.rs).
pub fn single_thread() {
    tch::set_num_threads(1);
}

/// Overwrite the quantizer's basis with `values`.
pub fn set_basis(quantizer: &LatticeQuantizer, values: &[f32]) {
    let mut basis = quantizer.basis().unwrap();
    tch::no_grad(|| basis.copy_(&Tensor::from_slice(values)));
}

/// A CPU f32 tensor of the given shape from an ndarray-like row-major buffer.
pub fn tensor(values: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values).view(shape)
}

/// A 2-D tensor as an ndarray (f32).
pub fn to_array_f32(t: &Tensor) -> Array2<f32> {
    let size = t.size();
    let values = Vec::<f32>::try_from(t.to_kind(Kind::Float).contiguous().view([-1])).unwrap();
    Array2::from_shape_vec((size[0] as usize, size[1] as usize), values).unwrap()
}

/// A 2-D tensor as an ndarray (f64).
pub fn to_array_f64(t: &Tensor) -> Array2<f64> {
    let size = t.size();
    let values = Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1])).unwrap();
    Array2::from_shape_vec((size[0] as usize, size[1] as usize), values).unwrap()
}

/// A 2-D integer tensor as an ndarray of i32.
pub fn to_array_i32(t: &Tensor) -> Array2<i32> {
    let size = t.size();
    let values = Vec::<i32>::try_from(t.to_kind(Kind::Int).contiguous().view([-1])).unwrap();
    Array2::from_shape_vec((size[0] as usize, size[1] as usize), values).unwrap()
}

/// The core lattice with the quantizer's current basis, in f32.
pub fn core_lattice(quantizer: &LatticeQuantizer) -> DiagonalLattice<f32> {
    let values = Vec::<f32>::try_from(quantizer.basis().unwrap().detach()).unwrap();
    DiagonalLattice::from_slice(&values).unwrap()
}

/// Deterministic pseudo-random latents in [-scale, scale] with some exact half-integer ties
/// in units of `basis`.
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
                // An exact tie: (k + 0.5) * b.
                (((state >> 20) % 9) as f32 - 4.0 + 0.5) * basis[i % dim]
            } else {
                (2.0 * unit - 1.0) * scale
            }
        })
        .collect()
}

/// The CPU device.
pub const CPU: Device = Device::Cpu;
