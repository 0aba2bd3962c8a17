//! Convolutions whose backward pass is two matrix products, for training on the CPU.
//!
//! candle 0.11 computes a convolution's kernel gradient on the CPU as another convolution
//! whose kernel is the whole output gradient, and its input gradient as a transposed
//! convolution written as loops: a training step of the paper's model spent three quarters
//! of its time there (`docs/benchmarks.md`). Written as `im2col`, one matrix product and a
//! reshape, a convolution's backward is the matrix product's backward (two more products)
//! and `col2im`, the adjoint of `im2col`. A transposed convolution is the same pieces in the
//! other order: a product, then `col2im`.
//!
//! [`conv2d`] and [`conv_transpose2d`] take this path for `F32`/`F64` tensors on the CPU and
//! call candle's own kernels everywhere else (CUDA has cuDNN-style kernels of its own).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use lattice_core::LatticeFloat;
use rayon::prelude::*;

/// The geometry of a square-kernel convolution over an image: the image side of `im2col`
/// and the output side of `col2im`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Geometry {
    /// Rows and columns of the convolution's output grid.
    fn grid(&self) -> Result<(usize, usize)> {
        let side = |extent: usize| {
            (extent + 2 * self.padding)
                .checked_sub(self.kernel)
                .and_then(|span| span.checked_div(self.stride))
                .map(|steps| steps + 1)
        };
        match (side(self.height), side(self.width)) {
            (Some(rows), Some(columns)) if self.kernel > 0 => Ok((rows, columns)),
            _ => candle_core::bail!(
                "convolution geometry {self:?} has no output (needs stride >= 1, kernel >= 1 and \
                 kernel <= padded image)"
            ),
        }
    }

    /// `(channels * kernel^2, batch * grid rows * grid columns)`: the `im2col` matrix, one
    /// row per (channel, kernel tap), so that a row is filled from runs of an image row.
    fn columns_shape(&self) -> Result<(usize, usize)> {
        let (rows, columns) = self.grid()?;
        Ok((
            self.channels * self.kernel * self.kernel,
            self.batch * rows * columns,
        ))
    }

    /// The output positions `lo..hi` (of `count`) at which kernel tap `k` reads inside an
    /// axis of `extent` pixels: `0 <= out * stride + k - padding < extent`.
    fn inside(&self, k: usize, extent: usize, count: usize) -> (usize, usize) {
        let lo = self.padding.saturating_sub(k).div_ceil(self.stride);
        let hi = match (extent + self.padding).checked_sub(k + 1) {
            Some(last) => (last / self.stride + 1).min(count),
            None => 0,
        };
        (lo.min(hi), hi)
    }
}

/// The four strides and the offset of a 4-d layout.
fn strides4(layout: &Layout) -> Result<([usize; 4], usize)> {
    let strides = <[usize; 4]>::try_from(layout.stride())
        .map_err(|_| candle_core::Error::Msg(format!("layout {layout:?} is not 4-d")))?;
    Ok((strides, layout.start_offset()))
}

/// `(N, C, H, W)` image, any strides -> `(C * K * K, N * OH * OW)` matrix of kernel windows.
fn im2col<T: LatticeFloat>(src: &[T], layout: &Layout, g: &Geometry) -> Result<Vec<T>> {
    if layout.shape().dims4()? != (g.batch, g.channels, g.height, g.width) {
        candle_core::bail!("im2col: input {:?} does not match {g:?}", layout.shape());
    }
    let ([sn, sc, sh, sw], offset) = strides4(layout)?;
    let (rows, columns) = g.grid()?;
    let (_, row_len) = g.columns_shape()?;
    let taps = g.kernel * g.kernel;
    let mut out = vec![T::zero(); g.channels * taps * row_len];
    out.par_chunks_exact_mut(row_len)
        .enumerate()
        .for_each(|(r, row)| {
            let (ch, ky, kx) = (r / taps, r % taps / g.kernel, r % g.kernel);
            let (y_lo, y_hi) = g.inside(ky, g.height, rows);
            let (x_lo, x_hi) = g.inside(kx, g.width, columns);
            // x_lo > 0 only when padding > kx, so the first source column is x_lo*s + kx - p.
            let first_column = x_lo * g.stride + kx - g.padding;
            for (b, image) in row.chunks_exact_mut(rows * columns).enumerate() {
                for y in y_lo..y_hi {
                    let sy = y * g.stride + ky - g.padding;
                    let start = offset + b * sn + ch * sc + sy * sh + first_column * sw;
                    let line = &mut image[y * columns + x_lo..y * columns + x_hi];
                    if g.stride == 1 && sw == 1 {
                        line.copy_from_slice(&src[start..start + line.len()]);
                    } else {
                        for (i, value) in line.iter_mut().enumerate() {
                            *value = src[start + i * g.stride * sw];
                        }
                    }
                }
            }
        });
    Ok(out)
}

/// The adjoint of [`im2col`]: `(C * K * K, N * OH * OW)` matrix, any strides -> image, each
/// window's entries added back onto the pixels they were read from. The image comes out
/// channel-major, `(C, N, H, W)`, so that channels are filled in parallel.
fn col2im<T: LatticeFloat>(src: &[T], layout: &Layout, g: &Geometry) -> Result<Vec<T>> {
    if layout.shape().dims2()? != g.columns_shape()? {
        candle_core::bail!("col2im: input {:?} does not match {g:?}", layout.shape());
    }
    let (s0, s1) = (layout.stride()[0], layout.stride()[1]);
    let offset = layout.start_offset();
    let (rows, columns) = g.grid()?;
    let taps = g.kernel * g.kernel;
    let plane = g.height * g.width;
    let mut out = vec![T::zero(); g.channels * g.batch * plane];
    out.par_chunks_exact_mut(g.batch * plane)
        .enumerate()
        .for_each(|(ch, planes)| {
            for tap in 0..taps {
                let (ky, kx) = (tap / g.kernel, tap % g.kernel);
                let row = offset + (ch * taps + tap) * s0;
                let (y_lo, y_hi) = g.inside(ky, g.height, rows);
                let (x_lo, x_hi) = g.inside(kx, g.width, columns);
                let first_column = x_lo * g.stride + kx - g.padding;
                for (b, image) in planes.chunks_exact_mut(plane).enumerate() {
                    for y in y_lo..y_hi {
                        let sy = y * g.stride + ky - g.padding;
                        let cells = row + ((b * rows + y) * columns + x_lo) * s1;
                        let target = sy * g.width + first_column;
                        for x in 0..x_hi - x_lo {
                            let pixel = &mut image[target + x * g.stride];
                            *pixel = *pixel + src[cells + x * s1];
                        }
                    }
                }
            }
        });
    Ok(out)
}

/// Dispatch one of the two ops over the storage's element type.
fn run(
    storage: &CpuStorage,
    layout: &Layout,
    g: &Geometry,
    op: &'static str,
    f32_op: fn(&[f32], &Layout, &Geometry) -> Result<Vec<f32>>,
    f64_op: fn(&[f64], &Layout, &Geometry) -> Result<Vec<f64>>,
) -> Result<CpuStorage> {
    Ok(match storage {
        CpuStorage::F32(data) => CpuStorage::F32(f32_op(data, layout, g)?),
        CpuStorage::F64(data) => CpuStorage::F64(f64_op(data, layout, g)?),
        _ => candle_core::bail!("{op}: only f32 and f64 tensors are supported"),
    })
}

/// `im2col` as a differentiable candle op (its gradient is `col2im`).
struct Im2Col(Geometry);

/// `col2im` as a differentiable candle op (its gradient is `im2col`).
struct Col2Im(Geometry);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "lattice-vq-im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = run(storage, layout, &self.0, self.name(), im2col, im2col)?;
        Ok((out, self.0.columns_shape()?.into()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // col2im comes out channel-major (C, N, H, W); the argument was (N, C, H, W).
        grad.apply_op1(Col2Im(self.0))?
            .permute((1, 0, 2, 3))
            .map(Some)
    }
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "lattice-vq-col2im"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = run(storage, layout, &self.0, self.name(), col2im, col2im)?;
        let g = self.0;
        Ok((out, (g.channels, g.batch, g.height, g.width).into()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // The result is channel-major (C, N, H, W); im2col reads (N, C, H, W) by strides.
        grad.permute((1, 0, 2, 3))?
            .apply_op1(Im2Col(self.0))
            .map(Some)
    }
}

/// Every dimension of input and kernel at least 1: empty tensors are errors, not panics.
fn check_not_empty(op: &str, x: &Tensor, kernel: &Tensor) -> Result<()> {
    if x.dims().contains(&0) || kernel.dims().contains(&0) {
        candle_core::bail!(
            "{op}: input {:?} and kernel {:?} must have no zero-sized dimension",
            x.shape(),
            kernel.shape()
        );
    }
    Ok(())
}

/// Whether the matrix-product formulation applies to `x` (CPU, `F32` or `F64`).
fn on_cpu_path(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// 2-d convolution of `(N, C, H, W)` input with `(O, C, K, K)` kernel, optional `(O,)` bias,
/// square stride and zero padding, dilation 1, one group: `(N, O, OH, OW)` with
/// `OH = (H + 2 * padding - K) / stride + 1`. PyTorch's `conv2d` (cross-correlation).
///
/// On the CPU the result is a permuted view of an `(O, N, OH, OW)` buffer (the matrix
/// product's natural layout); elementwise ops and the next convolution read it as it is.
///
/// # Errors
/// Shape mismatches (non-4-d input or kernel, channel counts, a zero-sized dimension, a
/// kernel larger than the padded image, stride 0) and candle's errors.
///
/// # Example
/// ```
/// use candle_core::{Device, Tensor};
/// let x = Tensor::randn(0f32, 1.0, (2, 3, 8, 8), &Device::Cpu)?;
/// let kernel = Tensor::randn(0f32, 1.0, (4, 3, 3, 3), &Device::Cpu)?;
/// let ours = lattice_vq_candle::conv::conv2d(&x, &kernel, None, 1, 1)?;
/// let theirs = x.conv2d(&kernel, 1, 1, 1, 1)?;
/// let gap = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
/// assert!(gap < 1e-4);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv2d(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (batch, channels, height, width) = x.dims4()?;
    let (outputs, kernel_channels, k, k2) = kernel.dims4()?;
    check_not_empty("conv2d", x, kernel)?;
    if kernel_channels != channels || k != k2 || stride == 0 {
        candle_core::bail!(
            "conv2d: kernel {:?} must be (O, {channels}, K, K) for input {:?}, stride >= 1",
            kernel.shape(),
            x.shape()
        );
    }
    if on_cpu_path(x) {
        let g = Geometry {
            batch,
            channels,
            height,
            width,
            kernel: k,
            stride,
            padding,
        };
        let (rows, columns) = g.grid()?;
        let windows = x.apply_op1(Im2Col(g))?;
        let y = kernel
            .reshape((outputs, channels * k * k))?
            .matmul(&windows)?;
        channel_major_to_nchw(add_row_bias(y, bias)?, (outputs, batch, rows, columns))
    } else {
        add_bias(x.conv2d(kernel, padding, stride, 1, 1)?, bias)
    }
}

/// 2-d transposed convolution of `(N, C, H, W)` input with `(C, O, K, K)` kernel, optional
/// `(O,)` bias, square stride and padding, no output padding, dilation 1, one group:
/// `(N, O, (H - 1) * stride - 2 * padding + K, ...)`. PyTorch's `conv_transpose2d`.
///
/// # Errors
/// Shape mismatches and candle's errors, as [`conv2d`].
///
/// # Example
/// ```
/// use candle_core::{Device, Tensor};
/// let x = Tensor::randn(0f32, 1.0, (2, 3, 7, 7), &Device::Cpu)?;
/// let kernel = Tensor::randn(0f32, 1.0, (3, 4, 4, 4), &Device::Cpu)?;
/// let ours = lattice_vq_candle::conv::conv_transpose2d(&x, &kernel, None, 2, 1)?;
/// assert_eq!(ours.dims(), &[2, 4, 14, 14]);
/// let theirs = x.conv_transpose2d(&kernel, 1, 0, 2, 1)?;
/// let gap = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
/// assert!(gap < 1e-4);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv_transpose2d(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (batch, channels, height, width) = x.dims4()?;
    let (kernel_channels, outputs, k, k2) = kernel.dims4()?;
    check_not_empty("conv_transpose2d", x, kernel)?;
    if kernel_channels != channels || k != k2 || stride == 0 {
        candle_core::bail!(
            "conv_transpose2d: kernel {:?} must be ({channels}, O, K, K) for input {:?}, stride >= 1",
            kernel.shape(),
            x.shape()
        );
    }
    let side = |extent: usize| ((extent - 1) * stride + k).checked_sub(2 * padding);
    let (Some(out_height), Some(out_width)) = (side(height), side(width)) else {
        candle_core::bail!("conv_transpose2d: padding {padding} exceeds the output");
    };
    if on_cpu_path(x) {
        let g = Geometry {
            batch,
            channels: outputs,
            height: out_height,
            width: out_width,
            kernel: k,
            stride,
            padding,
        };
        if g.grid()? != (height, width) {
            candle_core::bail!(
                "conv_transpose2d: geometry {g:?} does not invert to {height}x{width}"
            );
        }
        let pixels = x
            .permute((1, 0, 2, 3))?
            .reshape((channels, batch * height * width))?;
        let image = kernel
            .reshape((channels, outputs * k * k))?
            .t()?
            .matmul(&pixels)?
            .apply_op1(Col2Im(g))?
            .reshape((outputs, batch * out_height * out_width))?;
        channel_major_to_nchw(
            add_row_bias(image, bias)?,
            (outputs, batch, out_height, out_width),
        )
    } else {
        add_bias(x.conv_transpose2d(kernel, padding, 0, stride, 1)?, bias)
    }
}

/// `(O, N * H * W)` matrix -> `(N, O, H, W)` view of the same buffer.
fn channel_major_to_nchw(y: Tensor, dims: (usize, usize, usize, usize)) -> Result<Tensor> {
    y.reshape(dims)?.permute((1, 0, 2, 3))
}

/// Bias `(O,)` added to each row of an `(O, M)` matrix (a contiguous broadcast, fast in candle).
fn add_row_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(bias) => y.broadcast_add(&bias.reshape((bias.dim(0)?, 1))?),
        None => Ok(y),
    }
}

fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(bias) => y.broadcast_add(&bias.reshape((1, bias.dim(0)?, 1, 1))?),
        None => Ok(y),
    }
}
