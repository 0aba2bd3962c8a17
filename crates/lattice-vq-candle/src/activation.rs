//! The activations the reference model fuses into its convolutions, and their gradient.
//!
//! Both are `x > 0 ? x : slope * x` with `slope >= 0` (ReLU is slope 0), so the output has
//! the sign of the input and the gradient can be read off the output alone: a fused
//! convolution keeps no pre-activation buffer.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use lattice_core::LatticeFloat;
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

    fn slope<T: LatticeFloat>(self) -> Option<T> {
        match self {
            Self::Identity => None,
            Self::LeakyRelu(slope) => Some(T::from_f64(slope).unwrap_or_else(T::zero)),
        }
    }

    /// `rows` (contiguous, `bias.len()` channels per row when a bias is given) replaced by
    /// `activation(row + bias)`.
    pub(crate) fn finish<T: LatticeFloat>(self, rows: &mut [T], bias: Option<&[T]>) {
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
}

/// `(output, grad) -> grad * (output > 0 ? 1 : slope)` for contiguous tensors.
struct ActivationGrad {
    slope: f64,
}

fn select<T: LatticeFloat>(output: &[T], grad: &[T], slope: T) -> Vec<T> {
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
    use candle_core::{Device, Tensor};

    use super::Activation;

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
}
