//! Convolutions whose forward and backward passes are matrix products on image chunks, for
//! training on the CPU.
//!
//! candle 0.11 computes a convolution's kernel gradient on the CPU as another convolution
//! whose kernel is the whole output gradient, and its input gradient as a transposed
//! convolution written as loops: a training step of the paper's model spent three quarters
//! of its time there (`docs/benchmarks.md`). Here a convolution is `im2col` (each output
//! position's window as a row), one matrix product, bias and activation; its input gradient
//! is a product and `col2im` (the adjoint of `im2col`), its kernel gradient the product of
//! windows and output gradient. A transposed convolution is the same pieces in the other
//! order. Each runs on chunks of whole images in parallel (`products`), and each layer is one
//! autograd node (`ops`).
//!
//! Data is channels-last `(N, H, W, C)` inside: the layout in which a window is a few
//! contiguous runs and a layer's output rows are the next layer's pixels. [`conv2d`] and
//! [`conv_transpose2d`] take and return PyTorch's `(N, C, H, W)` as views of it; the
//! reference model ([`crate::VqVae`]) stays channels-last between layers. They take this
//! path for `F32`/`F64` tensors on the CPU and call candle's own kernels everywhere else
//! (CUDA has kernels of its own).

mod geometry;
mod ops;
mod products;

use candle_core::{DType, Result, Tensor};

use crate::kernels::activation::Activation;
use geometry::Geometry;
use ops::{Convolution, Product, Shapes};

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

/// Which implementation a call takes: this crate's (CPU) or candle's (anything else, and
/// the tests' oracle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Ours,
    Candle,
}

fn path_for(x: &Tensor) -> Path {
    if on_cpu_path(x) {
        Path::Ours
    } else {
        Path::Candle
    }
}

/// 2-d convolution of `(N, C, H, W)` input with `(O, C, K, K)` kernel, optional `(O,)` bias,
/// square stride and zero padding, dilation 1, one group: `(N, O, OH, OW)` with
/// `OH = (H + 2 * padding - K) / stride + 1`. PyTorch's `conv2d` (cross-correlation).
///
/// On the CPU the result is a permuted view of a channels-last `(N, OH, OW, O)` buffer;
/// elementwise ops and the next convolution read it as it is. Input in NCHW memory is
/// copied to channels-last first (inputs that are views of channels-last memory, such as
/// this function's outputs, are not).
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
/// let ours = lattice_vq_candle::kernels::conv2d(&x, &kernel, None, 1, 1)?;
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
    let mut nhwc = x.permute((0, 2, 3, 1))?;
    if on_cpu_path(x) && !nhwc.is_contiguous() {
        // Windows are copied a pixel's channels at a time: for NCHW memory one transposing
        // copy up front was cheaper than gathering them element by element, in a trial on
        // the conv_profile bench (whose "NCHW memory" row times this path).
        nhwc = nhwc.contiguous()?;
    }
    conv2d_channels_last(&nhwc, kernel, bias, stride, padding, Activation::Identity)?
        .permute((0, 3, 1, 2))
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
/// let ours = lattice_vq_candle::kernels::conv_transpose2d(&x, &kernel, None, 2, 1)?;
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
    let nhwc = x.permute((0, 2, 3, 1))?;
    conv_transpose2d_channels_last(&nhwc, kernel, bias, stride, padding, Activation::Identity)?
        .permute((0, 3, 1, 2))
}

/// [`conv2d`] on channels-last `(N, H, W, C)` input, returning `(N, OH, OW, O)`, with an
/// activation applied after the bias.
pub(crate) fn conv2d_channels_last(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    activation: Activation,
) -> Result<Tensor> {
    convolve(x, kernel, bias, stride, padding, activation, path_for(x))
}

/// [`conv_transpose2d`] on channels-last `(N, H, W, C)` input, returning `(N, OH, OW, O)`,
/// with an activation applied after the bias.
pub(crate) fn conv_transpose2d_channels_last(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    activation: Activation,
) -> Result<Tensor> {
    convolve_transposed(x, kernel, bias, stride, padding, activation, path_for(x))
}

fn convolve(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    activation: Activation,
    path: Path,
) -> Result<Tensor> {
    let (batch, height, width, channels) = x.dims4()?;
    let (outputs, k) = check_operands("conv2d", x, kernel, bias, stride, 1)?;
    let g = Geometry {
        batch,
        height,
        width,
        channels,
        kernel: k,
        stride,
        padding,
    };
    let grid = g.grid()?;
    if path == Path::Candle {
        let y = x
            .permute((0, 3, 1, 2))?
            .contiguous()?
            .conv2d(kernel, padding, stride, 1, 1)?;
        return candle_finish(y, bias, activation);
    }
    let op = Convolution {
        shapes: Shapes {
            g,
            grid,
            rows_channels: outputs,
        },
        product: Product::Windows,
        activation,
    };
    apply(x, kernel, bias, op)
}

fn convolve_transposed(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    activation: Activation,
    path: Path,
) -> Result<Tensor> {
    let (batch, height, width, channels) = x.dims4()?;
    let (outputs, k) = check_operands("conv_transpose2d", x, kernel, bias, stride, 0)?;
    let side = |extent: usize| ((extent - 1) * stride + k).checked_sub(2 * padding);
    let (Some(out_height), Some(out_width)) = (side(height), side(width)) else {
        candle_core::bail!("conv_transpose2d: padding {padding} exceeds the output");
    };
    // The image side is the output; its window grid must be the input.
    let g = Geometry {
        batch,
        height: out_height,
        width: out_width,
        channels: outputs,
        kernel: k,
        stride,
        padding,
    };
    if out_height == 0 || out_width == 0 || g.grid()? != (height, width) {
        candle_core::bail!("conv_transpose2d: geometry {g:?} does not invert to {height}x{width}");
    }
    if path == Path::Candle {
        let y = x
            .permute((0, 3, 1, 2))?
            .contiguous()?
            .conv_transpose2d(kernel, padding, 0, stride, 1)?;
        return candle_finish(y, bias, activation);
    }
    let op = Convolution {
        shapes: Shapes {
            g,
            grid: (height, width),
            rows_channels: channels,
        },
        product: Product::Adjoint,
        activation,
    };
    apply(&x.contiguous()?, kernel, bias, op)
}

/// The checks both convolutions share: channels-last `(N, H, W, C)` input, a square
/// `(., ., K, K)` kernel whose axis `channel_axis` holds the C input channels (0 for a
/// transposed convolution's `(C, O, K, K)`, else 1), stride >= 1, no empty tensor, and a
/// bias of one value per output channel. Returns the output channels and K.
fn check_operands(
    op: &str,
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    channel_axis: usize,
) -> Result<(usize, usize)> {
    let channels = x.dims4()?.3;
    let dims = kernel.dims4()?;
    check_not_empty(op, x, kernel)?;
    let (kernel_channels, outputs) = if channel_axis == 0 {
        (dims.0, dims.1)
    } else {
        (dims.1, dims.0)
    };
    if kernel_channels != channels || dims.2 != dims.3 || stride == 0 {
        let expected = if channel_axis == 0 {
            format!("({channels}, O, K, K)")
        } else {
            format!("(O, {channels}, K, K)")
        };
        candle_core::bail!(
            "{op}: kernel {:?} must be {expected} for input {:?} (channels-last), stride >= 1",
            kernel.shape(),
            x.shape()
        );
    }
    if let Some(bias) = bias
        && bias.dims() != [outputs]
    {
        candle_core::bail!(
            "{op}: bias {:?} must be ({outputs},), one per output channel",
            bias.shape()
        );
    }
    Ok((outputs, dims.2))
}

fn apply(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, op: Convolution) -> Result<Tensor> {
    match bias {
        Some(bias) => x.apply_op3(kernel, &bias.contiguous()?, op),
        None => x.apply_op2(kernel, op),
    }
}

/// Bias and activation after one of candle's convolutions (NCHW), back to channels-last.
fn candle_finish(y: Tensor, bias: Option<&Tensor>, activation: Activation) -> Result<Tensor> {
    let y = match bias {
        Some(bias) => y.broadcast_add(&bias.reshape((1, bias.dim(0)?, 1, 1))?)?,
        None => y,
    };
    activation.with_candle_ops(&y)?.permute((0, 2, 3, 1))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::{Activation, Path, convolve, convolve_transposed};
    use crate::test_support::max_gap;

    fn var(shape: &[usize], scale: f64) -> Var {
        let count: usize = shape.iter().product();
        let values: Vec<f64> = (0..count)
            .map(|i| scale * ((i as f64 * 0.7548).sin() + 0.3 * (i as f64 * 0.13).cos()))
            .collect();
        Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap()).unwrap()
    }

    /// Output and gradients (of `sum(y * weights)`) on both paths agree to `1e-12`.
    fn assert_paths_agree(
        f: impl Fn(&Tensor, &Tensor, &Tensor, Path) -> Tensor,
        x: &Var,
        kernel: &Var,
        bias: &Var,
    ) {
        let run = |path| {
            let y = f(x.as_tensor(), kernel.as_tensor(), bias.as_tensor(), path);
            let weights = var(y.dims(), 1.0);
            let grads = (&y * weights.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let grad = |v: &Var| grads.get(v.as_tensor()).unwrap().clone();
            (y, [grad(x), grad(kernel), grad(bias)])
        };
        let (ours, our_grads) = run(Path::Ours);
        let (theirs, their_grads) = run(Path::Candle);
        assert_eq!(ours.dims(), theirs.dims());
        assert!(max_gap(&ours, &theirs) < 1e-12);
        for (a, b) in our_grads.iter().zip(&their_grads) {
            assert!(max_gap(a, b) < 1e-12, "gradient gap {}", max_gap(a, b));
        }
    }

    #[test]
    fn fused_bias_and_activations_match_candles_ops_over_several_image_chunks() {
        // 16x16 grids: 256 window positions, one image per task, five tasks.
        let x = var(&[5, 16, 16, 3], 1.0);
        for activation in [Activation::RELU, Activation::LeakyRelu(0.01)] {
            let kernel = var(&[4, 3, 3, 3], 0.3);
            let bias = var(&[4], 0.5);
            let conv = |x: &Tensor, k: &Tensor, b: &Tensor, path| {
                convolve(x, k, Some(b), 1, 1, activation, path).unwrap()
            };
            assert_paths_agree(conv, &x, &kernel, &bias);
            // A 1x1 kernel reads the contiguous channels-last input in place.
            let kernel = var(&[4, 3, 1, 1], 0.3);
            let pointwise = |x: &Tensor, k: &Tensor, b: &Tensor, path| {
                convolve(x, k, Some(b), 1, 0, activation, path).unwrap()
            };
            assert_paths_agree(pointwise, &x, &kernel, &bias);
            let kernel = var(&[3, 2, 4, 4], 0.3);
            let bias = var(&[2], 0.5);
            let transposed = |x: &Tensor, k: &Tensor, b: &Tensor, path| {
                convolve_transposed(x, k, Some(b), 2, 1, activation, path).unwrap()
            };
            assert_paths_agree(transposed, &x, &kernel, &bias);
        }
    }

    #[test]
    fn gradients_are_the_same_to_the_last_bit_whatever_the_thread_count() {
        // 40 images of 14x14: 20 tasks of the kernel-gradient reduction.
        let x = var(&[40, 14, 14, 8], 1.0);
        let kernel = var(&[8, 8, 3, 3], 0.2);
        let bias = var(&[8], 0.1);
        let gradients = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let as_f32 = |v: &Var| v.as_tensor().to_dtype(candle_core::DType::F32).unwrap();
                let (x, kernel, bias) = (as_f32(&x), as_f32(&kernel), as_f32(&bias));
                let (k, b) = (
                    Var::from_tensor(&kernel).unwrap(),
                    Var::from_tensor(&bias).unwrap(),
                );
                let y = convolve(
                    &x,
                    k.as_tensor(),
                    Some(b.as_tensor()),
                    1,
                    1,
                    Activation::RELU,
                    Path::Ours,
                )
                .unwrap();
                let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                [k.as_tensor(), b.as_tensor()].map(|v| {
                    grads
                        .get(v)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                })
            })
        };
        assert_eq!(gradients(1), gradients(3));
    }
}
