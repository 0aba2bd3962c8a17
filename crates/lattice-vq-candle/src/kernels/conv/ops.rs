//! The convolutions as candle ops: one differentiable op per (transposed) convolution with
//! its bias and activation fused, whose backward pass is two more ops built from the same
//! three kernels ([`super::products`]).
//!
//! Fusing keeps the autograd graph to one node per layer. candle's backward allocates a
//! zeroed gradient for every node input and adds into it; with `im2col`, a matrix product,
//! a bias add and an activation as separate nodes that was four full passes per layer, one
//! of them over the whole window matrix.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::geometry::{Geometry, Images};
use super::products::{
    Epilogue, adjoint_product, matrix_to_weights, sum_in_order, weights_to_matrix, windows_gram,
    windows_product,
};
use crate::kernels::activation::Activation;
use crate::kernels::gemm::Matrix;
use crate::kernels::{KernelFloat, elements};

/// The elements of a contiguous layout of the given dims.
fn contiguous<'a, T>(
    data: &'a [T],
    layout: &Layout,
    dims: &[usize],
    what: &str,
) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) if layout.dims() == dims => Ok(&data[start..end]),
        _ => candle_core::bail!(
            "convolution: {what} {:?} must be contiguous with dims {dims:?}",
            layout.shape()
        ),
    }
}

/// Which side of the geometry an op reads and which it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Product {
    /// Image -> rows (`windows_product`): a convolution, or a transposed one's input gradient.
    Windows,
    /// Rows -> image (`adjoint_product`): a transposed convolution, or a convolution's input
    /// gradient.
    Adjoint,
    /// (image, rows) -> kernel (`windows_gram`): the kernel gradient of both.
    Gram,
}

/// One convolution's shapes: the image side `g`, the window grid, `rows_channels` channels
/// on the rows side. The kernel is `(rows_channels, g.channels, K, K)`, PyTorch's layout for
/// a convolution (image in, rows out) and for a transposed one (rows in, image out).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shapes {
    pub(super) g: Geometry,
    pub(super) grid: (usize, usize),
    pub(super) rows_channels: usize,
}

impl Shapes {
    fn positions(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    fn image_dims(&self) -> [usize; 4] {
        [self.g.batch, self.g.height, self.g.width, self.g.channels]
    }

    fn rows_dims(&self) -> [usize; 4] {
        [self.g.batch, self.grid.0, self.grid.1, self.rows_channels]
    }

    fn kernel_dims(&self) -> [usize; 4] {
        [
            self.rows_channels,
            self.g.channels,
            self.g.kernel,
            self.g.kernel,
        ]
    }

    /// `A` of [`super::products`] from a kernel tensor's storage.
    fn matrix<T: KernelFloat>(&self, w: &[T], layout: &Layout) -> Result<Vec<T>> {
        let dims = self.kernel_dims();
        if layout.dims() != dims {
            candle_core::bail!("convolution: kernel {:?} must be {dims:?}", layout.shape());
        }
        let strides = <[usize; 4]>::try_from(layout.stride())
            .map_err(|_| candle_core::Error::Msg("convolution: kernel is not 4-d".into()))?;
        Ok(weights_to_matrix(w, dims, strides, layout.start_offset()))
    }

    /// Run one kernel: `first` and `second` as [`Product`] says, `bias` (its output channels)
    /// and `activation` applied to a forward product's output.
    #[allow(clippy::too_many_arguments)]
    fn run<T: KernelFloat>(
        &self,
        product: Product,
        first: (&CpuStorage, &Layout),
        second: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
        activation: Activation,
        op: &str,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let (a, b) = (elements::<T>(first.0, op)?, elements::<T>(second.0, op)?);
        let bias = match bias {
            Some((storage, layout)) => {
                let channels = match product {
                    Product::Windows => self.rows_channels,
                    _ => g.channels,
                };
                Some(contiguous(
                    elements::<T>(storage, op)?,
                    layout,
                    &[channels],
                    "bias",
                )?)
            }
            None => None,
        };
        let epilogue = Epilogue { bias, activation };
        let window_len = g.window_len();
        Ok(match product {
            Product::Windows => {
                let image = Images::new(a, first.1, g)?;
                let weights = self.matrix(b, second.1)?;
                let mut out = vec![T::zero(); g.batch * self.positions() * self.rows_channels];
                let matrix = Matrix::row_major(&weights, window_len, self.rows_channels);
                windows_product(&image, g, self.positions(), matrix, epilogue, &mut out);
                (T::storage(out), Shape::from_dims(&self.rows_dims()))
            }
            Product::Adjoint => {
                let rows = contiguous(a, first.1, &self.rows_dims(), "input")?;
                let weights = self.matrix(b, second.1)?;
                let mut out = vec![T::zero(); g.batch * g.image_len()];
                let matrix = Matrix::row_major(&weights, window_len, self.rows_channels);
                adjoint_product(rows, g, self.positions(), matrix, epilogue, &mut out);
                (T::storage(out), Shape::from_dims(&self.image_dims()))
            }
            Product::Gram => {
                let image = Images::new(a, first.1, g)?;
                let rows = contiguous(b, second.1, &self.rows_dims(), "gradient")?;
                let gram = windows_gram(&image, g, self.positions(), rows);
                let dims = self.kernel_dims();
                (
                    T::storage(matrix_to_weights(&gram, dims)),
                    Shape::from_dims(&dims),
                )
            }
        })
    }

    fn dispatch(
        &self,
        product: Product,
        first: (&CpuStorage, &Layout),
        second: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
        activation: Activation,
        op: &str,
    ) -> Result<(CpuStorage, Shape)> {
        match first.0 {
            CpuStorage::F32(_) => self.run::<f32>(product, first, second, bias, activation, op),
            CpuStorage::F64(_) => self.run::<f64>(product, first, second, bias, activation, op),
            other => candle_core::bail!(
                "{op}: only f32 and f64 tensors are supported, not {:?}",
                other.dtype()
            ),
        }
    }
}

/// A (transposed) convolution with bias and activation, differentiable in all three inputs.
/// `Product::Windows` is a convolution (image in), `Product::Adjoint` a transposed one.
pub(super) struct Convolution {
    pub(super) shapes: Shapes,
    pub(super) product: Product,
    pub(super) activation: Activation,
}

/// One gradient kernel, not itself differentiable.
struct Gradient {
    shapes: Shapes,
    product: Product,
}

impl Convolution {
    /// Gradients of input and kernel, and the `dz` they were computed from.
    fn gradients(
        &self,
        input: &Tensor,
        kernel: &Tensor,
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let dz = self.activation.backward(output, grad)?;
        let kernel = kernel.detach();
        let gradient = |product| Gradient {
            shapes: self.shapes,
            product,
        };
        let (input_grad, kernel_grad) = match self.product {
            Product::Windows => (
                dz.apply_op2_no_bwd(&kernel, &gradient(Product::Adjoint))?,
                input.apply_op2_no_bwd(&dz, &gradient(Product::Gram))?,
            ),
            _ => (
                dz.apply_op2_no_bwd(&kernel, &gradient(Product::Windows))?,
                dz.apply_op2_no_bwd(&input.contiguous()?, &gradient(Product::Gram))?,
            ),
        };
        Ok((input_grad, kernel_grad, dz))
    }
}

impl CustomOp2 for Convolution {
    fn name(&self) -> &'static str {
        "lattice-vq-conv"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = CustomOp2::name(self);
        self.shapes
            .dispatch(self.product, (s1, l1), (s2, l2), None, self.activation, op)
    }

    fn bwd(
        &self,
        input: &Tensor,
        kernel: &Tensor,
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (input_grad, kernel_grad, _) = self.gradients(input, kernel, output, grad)?;
        Ok((Some(input_grad), Some(kernel_grad)))
    }
}

impl CustomOp3 for Convolution {
    fn name(&self) -> &'static str {
        "lattice-vq-conv-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = CustomOp3::name(self);
        let bias = Some((s3, l3));
        self.shapes
            .dispatch(self.product, (s1, l1), (s2, l2), bias, self.activation, op)
    }

    fn bwd(
        &self,
        input: &Tensor,
        kernel: &Tensor,
        bias: &Tensor,
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (input_grad, kernel_grad, dz) = self.gradients(input, kernel, output, grad)?;
        let channels = bias.elem_count();
        let bias_grad = dz.apply_op1_no_bwd(&BiasGrad { channels })?;
        Ok((Some(input_grad), Some(kernel_grad), Some(bias_grad)))
    }
}

/// A bias's gradient: the sums of each channel of a contiguous channels-last gradient, in
/// parallel (candle's `sum(0)` over the rows of an `(N * H * W, C)` matrix is one thread
/// walking strided columns).
struct BiasGrad {
    channels: usize,
}

/// Per-channel sums of `(rows, channels)` values; deterministic (fixed chunks, summed in
/// order).
fn channel_sums<T: KernelFloat>(values: &[T], channels: usize) -> Vec<T> {
    let partials: Vec<Vec<T>> = values
        .par_chunks(channels * 1024)
        .map(|rows| {
            let mut sums = vec![T::zero(); channels];
            for row in rows.chunks_exact(channels) {
                sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
            }
            sums
        })
        .collect();
    sum_in_order(partials)
}

impl CustomOp1 for BiasGrad {
    fn name(&self) -> &'static str {
        "lattice-vq-bias-grad"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let channels = self.channels;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{}: the gradient must be contiguous", self.name());
        };
        if layout.dims().last() != Some(&channels) {
            candle_core::bail!(
                "{}: gradient {:?} must end in {channels} channels",
                self.name(),
                layout.shape()
            );
        }
        let sums = match storage {
            CpuStorage::F32(v) => f32::storage(channel_sums(&v[start..end], channels)),
            CpuStorage::F64(v) => f64::storage(channel_sums(&v[start..end], channels)),
            other => candle_core::bail!("{}: f32 or f64, not {:?}", self.name(), other.dtype()),
        };
        Ok((sums, Shape::from_dims(&[channels])))
    }
}

impl CustomOp2 for Gradient {
    fn name(&self) -> &'static str {
        "lattice-vq-conv-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        self.shapes.dispatch(
            self.product,
            (s1, l1),
            (s2, l2),
            None,
            Activation::Identity,
            op,
        )
    }
}
