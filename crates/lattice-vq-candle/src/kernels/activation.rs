//! The reference model's activations, fused into its convolutions or applied alone, and
//! their gradient.
//!
//! Both are `x > 0 ? x : slope * x` with `slope >= 0` (ReLU is slope 0), so the output has
//! the sign of the input and the gradient can be read off the output alone: no op keeps a
//! pre-activation buffer. The gradient is PyTorch's (`x > 0 ? grad : slope * grad`);
//! `candle_nn::ops::leaky_relu` is `max(x, 0) + slope * min(x, 0)`, five ops forward and
//! about twenty backward, and halves both branches at exactly `x == 0`.

use super::KernelFloat;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// An elementwise activation applied to a convolution's output (after its bias).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Activation {
    /// No activation.
    Identity,
    /// `x > 0 ? x : slope * x` with `slope >= 0`: PyTorch's `LeakyReLU(slope)`, and its
    /// `ReLU` at slope 0 (whose gradient at 0 is 0, as PyTorch's).
    LeakyRelu(f64),
}

impl Activation {
    /// The reference model's `nn.ReLU()`.
    pub(crate) const RELU: Self = Self::LeakyRelu(0.0);

    fn slope<T: KernelFloat>(self) -> Option<T> {
        match self {
            Self::Identity => None,
            Self::LeakyRelu(slope) => Some(T::from_f64(slope)),
        }
    }

    /// `rows` (contiguous, `bias.len()` channels per row when a bias is given) replaced by
    /// `activation(row + bias)`.
    pub(crate) fn finish<T: KernelFloat>(self, rows: &mut [T], bias: Option<&[T]>) {
        let slope = self.slope::<T>();
        let activate = |v: T| match slope {
            Some(slope) if v <= T::zero() => v * slope,
            _ => v,
        };
        match bias {
            Some(bias) => rows.chunks_exact_mut(bias.len()).for_each(|row| {
                for (v, &b) in row.iter_mut().zip(bias) {
                    *v = activate(*v + b);
                }
            }),
            None if slope.is_some() => rows.iter_mut().for_each(|v| *v = activate(*v)),
            None => {}
        }
    }

    /// The gradient with respect to the activation's input, given its `output` and the
    /// gradient of its output: `grad * (output > 0 ? 1 : slope)`, contiguous.
    ///
    /// # Errors
    /// Shapes that differ, or a candle error.
    pub(crate) fn backward(self, output: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let grad = grad.contiguous()?;
        match self {
            Self::Identity => Ok(grad),
            Self::LeakyRelu(slope) => output
                .contiguous()?
                .apply_op2_no_bwd(&grad, &ActivationGrad { slope }),
        }
    }

    /// The same activation in candle's own ops (other devices and dtypes).
    ///
    /// # Errors
    /// A candle error.
    pub(crate) fn with_candle_ops(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Identity => Ok(x.clone()),
            Self::LeakyRelu(0.0) => x.relu(),
            Self::LeakyRelu(slope) => candle_nn::ops::leaky_relu(x, slope),
        }
    }
}

/// `activation(x)`, differentiable: on the CPU for `F32`/`F64` one pass each way (any
/// strides in, contiguous out), elsewhere [`Activation::with_candle_ops`].
///
/// # Errors
/// A candle error.
pub(crate) fn activate(x: &Tensor, activation: Activation) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Activate(activation))
    } else {
        activation.with_candle_ops(x)
    }
}

/// [`activate`] as a candle op on contiguous tensors.
struct Activate(Activation);

impl CustomOp1 for Activate {
    fn name(&self) -> &'static str {
        "lattice-vq-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{}: the input must be contiguous", self.name());
        };
        let out = match storage {
            CpuStorage::F32(x) => {
                let mut y = x[start..end].to_vec();
                self.0.finish(&mut y, None);
                CpuStorage::F32(y)
            }
            CpuStorage::F64(x) => {
                let mut y = x[start..end].to_vec();
                self.0.finish(&mut y, None);
                CpuStorage::F64(y)
            }
            _ => candle_core::bail!("{}: only f32 and f64 tensors are supported", self.name()),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, output: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        self.0.backward(output, grad).map(Some)
    }
}

/// `(output, grad) -> grad * (output > 0 ? 1 : slope)` for contiguous tensors.
struct ActivationGrad {
    slope: f64,
}

fn select<T: KernelFloat>(output: &[T], grad: &[T], slope: T) -> Vec<T> {
    let mut out = Vec::new();
    output
        .par_iter()
        .zip(grad)
        .map(|(&y, &g)| if y > T::zero() { g } else { g * slope })
        .collect_into_vec(&mut out);
    out
}

impl CustomOp2 for ActivationGrad {
    fn name(&self) -> &'static str {
        "lattice-vq-activation-grad"
    }

    fn cpu_fwd(
        &self,
        output: &CpuStorage,
        output_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (Some((ys, ye)), Some((gs, ge))) = (
            output_layout.contiguous_offsets(),
            grad_layout.contiguous_offsets(),
        ) else {
            candle_core::bail!("{}: both tensors must be contiguous", self.name());
        };
        if output_layout.shape() != grad_layout.shape() {
            candle_core::bail!(
                "{}: gradient {:?} does not match output {:?}",
                self.name(),
                grad_layout.shape(),
                output_layout.shape()
            );
        }
        let out = match (output, grad) {
            (CpuStorage::F32(y), CpuStorage::F32(g)) => {
                CpuStorage::F32(select(&y[ys..ye], &g[gs..ge], self.slope as f32))
            }
            (CpuStorage::F64(y), CpuStorage::F64(g)) => {
                CpuStorage::F64(select(&y[ys..ye], &g[gs..ge], self.slope))
            }
            _ => candle_core::bail!("{}: tensors must both be f32 or f64", self.name()),
        };
        Ok((out, output_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::{Activation, activate};

    #[test]
    fn finish_adds_bias_then_activates_and_backward_reads_the_output_sign() {
        let mut rows = vec![-1.0f64, 2.0, 0.5, -3.0];
        Activation::LeakyRelu(0.25).finish(&mut rows, Some(&[0.5, -1.0]));
        // (-0.5, 1.0, 1.0, -4.0) activated.
        assert_eq!(rows, vec![-0.125, 1.0, 1.0, -1.0]);
        let mut relu = vec![-1.0f64, 0.0, 2.0];
        Activation::RELU.finish(&mut relu, None);
        assert_eq!(relu, vec![0.0, 0.0, 2.0]);

        let output = Tensor::from_slice(&[-0.125f64, 1.0, 0.0, -1.0], 4, &Device::Cpu).unwrap();
        let grad = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0], 4, &Device::Cpu).unwrap();
        let back = Activation::LeakyRelu(0.25)
            .backward(&output, &grad)
            .unwrap();
        // Output 0 (input 0) takes the slope, as PyTorch's gradient does.
        assert_eq!(back.to_vec1::<f64>().unwrap(), vec![0.25, 2.0, 0.75, 1.0]);
        let same = Activation::Identity.backward(&output, &grad).unwrap();
        assert_eq!(same.to_vec1::<f64>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn values_and_gradient_follow_pytorch_including_zero() {
        let values = [-2.0f64, -0.5, 0.0, 0.25, 3.0, -0.0];
        let x = Var::from_slice(&values, (2, 3), &Device::Cpu).unwrap();
        let weights =
            Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), &Device::Cpu).unwrap();
        let y = activate(x.as_tensor(), Activation::LeakyRelu(0.01)).unwrap();
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
        let a = activate(&x, Activation::LeakyRelu(0.01)).unwrap();
        let b = activate(&permuted, Activation::LeakyRelu(0.01)).unwrap();
        let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(gap.to_scalar::<f32>().unwrap(), 0.0);
    }
}
