//! LeakyReLU as one candle op on the CPU, with PyTorch's gradient.
//!
//! `candle_nn::ops::leaky_relu` is `max(x, 0) + slope * min(x, 0)`: five tensor ops forward
//! and about twenty backward (each of `maximum`/`minimum` builds equality masks), for each of
//! the Fashion-MNIST model's seven activations; replacing it took a one-thread CPU training
//! step of that model from 0.62 s to 0.43 s (`docs/benchmarks.md`). This op is one pass each
//! way. Its gradient is PyTorch's (`x > 0 ? grad : slope * grad`); candle's formula halves
//! both branches at exactly `x == 0`.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use lattice_core::LatticeFloat;

/// `x` where `x > 0`, else `slope * x`, elementwise; differentiable.
///
/// CPU tensors of `F32`/`F64` take the one-pass op (any strides in, contiguous out); other
/// devices and types take `candle_nn::ops::leaky_relu`.
pub(crate) fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.apply_op1(LeakyRelu { slope })
    } else {
        candle_nn::ops::leaky_relu(x, slope)
    }
}

/// Offsets of a strided layout's elements in row-major (logical) order.
struct Offsets<'a> {
    dims: &'a [usize],
    strides: &'a [usize],
    index: Vec<usize>,
    offset: usize,
    left: usize,
}

impl<'a> Offsets<'a> {
    fn new(layout: &'a Layout) -> Self {
        Self {
            dims: layout.dims(),
            strides: layout.stride(),
            index: vec![0; layout.dims().len()],
            offset: layout.start_offset(),
            left: layout.shape().elem_count(),
        }
    }
}

impl Iterator for Offsets<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.left = self.left.checked_sub(1)?;
        let current = self.offset;
        // Odometer: advance the last axis, carrying into earlier ones.
        for axis in (0..self.dims.len()).rev() {
            self.index[axis] += 1;
            self.offset += self.strides[axis];
            if self.index[axis] < self.dims[axis] {
                break;
            }
            self.offset -= self.strides[axis] * self.dims[axis];
            self.index[axis] = 0;
        }
        Some(current)
    }
}

fn leaky<T: LatticeFloat>(v: T, slope: T) -> T {
    if v > T::zero() { v } else { v * slope }
}

fn forward<T: LatticeFloat>(src: &[T], layout: &Layout, slope: T) -> Vec<T> {
    match layout.contiguous_offsets() {
        Some((start, end)) => src[start..end].iter().map(|&v| leaky(v, slope)).collect(),
        None => Offsets::new(layout).map(|i| leaky(src[i], slope)).collect(),
    }
}

fn backward<T: LatticeFloat>(
    x: &[T],
    x_layout: &Layout,
    grad: &[T],
    grad_layout: &Layout,
    slope: T,
) -> Vec<T> {
    let select = |x: T, g: T| if x > T::zero() { g } else { g * slope };
    match (
        x_layout.contiguous_offsets(),
        grad_layout.contiguous_offsets(),
    ) {
        (Some((xs, xe)), Some((gs, ge))) => x[xs..xe]
            .iter()
            .zip(&grad[gs..ge])
            .map(|(&x, &g)| select(x, g))
            .collect(),
        _ => Offsets::new(x_layout)
            .zip(Offsets::new(grad_layout))
            .map(|(i, j)| select(x[i], grad[j]))
            .collect(),
    }
}

struct LeakyRelu {
    slope: f64,
}

/// `grad * (x > 0 ? 1 : slope)`: the gradient of [`LeakyRelu`] at `x`.
struct LeakyReluGrad {
    slope: f64,
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "lattice-vq-leaky-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(forward(x, layout, self.slope as f32)),
            CpuStorage::F64(x) => CpuStorage::F64(forward(x, layout, self.slope)),
            _ => candle_core::bail!("{}: only f32 and f64 tensors are supported", self.name()),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let slope = self.slope;
        arg.apply_op2_no_bwd(grad, &LeakyReluGrad { slope })
            .map(Some)
    }
}

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "lattice-vq-leaky-relu-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if x_layout.shape() != grad_layout.shape() {
            candle_core::bail!(
                "{}: gradient {:?} does not match input {:?}",
                self.name(),
                grad_layout.shape(),
                x_layout.shape()
            );
        }
        let out = match (x, grad) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => {
                CpuStorage::F32(backward(x, x_layout, g, grad_layout, self.slope as f32))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g)) => {
                CpuStorage::F64(backward(x, x_layout, g, grad_layout, self.slope))
            }
            _ => candle_core::bail!(
                "{}: input and gradient must both be f32 or f64",
                self.name()
            ),
        };
        Ok((out, x_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::leaky_relu;

    #[test]
    fn values_and_gradient_follow_pytorch_including_zero() {
        let values = [-2.0f64, -0.5, 0.0, 0.25, 3.0, -0.0];
        let x = Var::from_slice(&values, (2, 3), &Device::Cpu).unwrap();
        let weights =
            Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), &Device::Cpu).unwrap();
        let y = leaky_relu(x.as_tensor(), 0.01).unwrap();
        let expected: Vec<f64> = values
            .iter()
            .map(|&v| if v > 0.0 { v } else { 0.01 * v })
            .collect();
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f64>().unwrap(), expected);
        let grads = (y * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let grad = grads.get(x.as_tensor()).unwrap();
        // PyTorch: x > 0 ? grad : slope * grad (so x == 0 takes the slope).
        assert_eq!(
            grad.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            vec![0.01, 0.02, 0.03, 4.0, 5.0, 0.06]
        );
    }

    #[test]
    fn strided_input_gives_the_same_as_contiguous() {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 4, 5), &Device::Cpu).unwrap();
        let permuted = x
            .permute((0, 2, 3, 1))
            .unwrap()
            .contiguous()
            .unwrap()
            .permute((0, 3, 1, 2))
            .unwrap();
        assert!(!permuted.is_contiguous());
        let a = leaky_relu(&x, 0.01).unwrap();
        let b = leaky_relu(&permuted, 0.01).unwrap();
        let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(gap.to_scalar::<f32>().unwrap(), 0.0);
    }
}
