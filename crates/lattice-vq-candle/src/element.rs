//! Access to candle's CPU storage by element type, for this crate's CPU ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Result};
use lattice_vq_core::LatticeFloat;

/// Element types of the CPU path, with access to candle's storage of them.
pub(crate) trait Element: LatticeFloat {
    /// The storage's elements, if they are `Self`.
    fn slice(storage: &CpuStorage) -> Option<&[Self]>;
    /// Values as candle storage.
    fn storage(values: Vec<Self>) -> CpuStorage;
}

impl Element for f32 {
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

impl Element for f64 {
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
pub(crate) fn elements<'a, T: Element>(storage: &'a CpuStorage, op: &str) -> Result<&'a [T]> {
    T::slice(storage).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "{op}: all tensors must have one dtype, f32 or f64 (found {:?})",
            storage.dtype()
        ))
    })
}
