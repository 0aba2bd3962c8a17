//! Helpers shared by the test modules.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

/// The CPU device.
pub const CPU: Device = Device::Cpu;

/// A fresh var map and an F32 builder over it.
pub fn var_builder() -> (VarMap, VarBuilder<'static>) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &CPU);
    (varmap, vb)
}

/// A CPU f32 tensor of the given shape.
pub fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(values, shape, &CPU).unwrap()
}
