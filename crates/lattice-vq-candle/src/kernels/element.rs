//! The kernels' element types: `f32` and `f64`, with access to candle's CPU storage of them.
//!
//! Deliberately not `lattice_vq_core::LatticeFloat`: the kernels are plain float arithmetic
//! (candle's own `WithDType` operations) and need nothing of the lattice math.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Result, WithDType};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `f32` or `f64` (sealed: the matrix-product kernel supports exactly these), with access to
/// candle's storage of them.
pub(crate) trait KernelFloat: WithDType + sealed::Sealed {
    /// The storage's elements, if they are `Self`.
    fn slice(storage: &CpuStorage) -> Option<&[Self]>;
    /// Values as candle storage.
    fn storage(values: Vec<Self>) -> CpuStorage;
}

impl KernelFloat for f32 {
    fn slice(storage: &CpuStorage) -> Option<&[Self]> {
        match storage {
            CpuStorage::F32(values) => Some(values),
            _ => None,
        }
    }

    fn storage(values: Vec<Self>) -> CpuStorage {
        CpuStorage::F32(values)
    }
}

impl KernelFloat for f64 {
    fn slice(storage: &CpuStorage) -> Option<&[Self]> {
        match storage {
            CpuStorage::F64(values) => Some(values),
            _ => None,
        }
    }

    fn storage(values: Vec<Self>) -> CpuStorage {
        CpuStorage::F64(values)
    }
}

/// A storage's elements as `T`, or an error naming the op.
pub(crate) fn elements<'a, T: KernelFloat>(storage: &'a CpuStorage, op: &str) -> Result<&'a [T]> {
    T::slice(storage).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "{op}: all tensors must have one dtype, f32 or f64 (found {:?})",
            storage.dtype()
        ))
    })
}
