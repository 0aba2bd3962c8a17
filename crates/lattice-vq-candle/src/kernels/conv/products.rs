//! The three matrix-product kernels every convolution and transposed convolution is made of,
//! on channels-last data, one chunk of whole images per task.
//!
//! With `A` the kernel as a `(K * K * C_image) x P` matrix ([`weights_to_matrix`]) and
//! `im2col` as in [`super::geometry`]:
//! - [`windows_product`]: `rows = im2col(image) * A` (a convolution's forward pass);
//! - [`adjoint_product`]: `image = col2im(rows * A^T)` (a transposed convolution's forward
//!   pass, and the input gradient of a convolution);
//! - [`windows_gram`]: `dA = im2col(image)^T * rows` (the kernel gradient of both).
//!
//! A chunk's windows are built, multiplied and dropped while they are in cache: the
//! `(C * K * K) x (N * OH * OW)` window matrix (29 MB for a 3x3 64-channel layer of the
//! Fashion-MNIST model at batch 64) is never whole in memory.

use crate::kernels::KernelFloat;
use rayon::prelude::*;

use super::geometry::{Geometry, Images, col2im_add};
use crate::kernels::activation::Activation;
use crate::kernels::gemm::{Matrix, multiply};

/// About this many window rows per task: two 14x14 images, so that a batch of 64 makes 32
/// tasks and a task's windows (256 x 576 floats for a 3x3 64-channel layer) stay in cache.
const ROWS_PER_TASK: usize = 256;

/// Whole images per task for `positions` window positions per image.
fn images_per_task(positions: usize) -> usize {
    ROWS_PER_TASK.div_ceil(positions.max(1))
}

/// Bias and activation applied to each task's output while it is in cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epilogue<'a, T> {
    pub(crate) bias: Option<&'a [T]>,
    pub(crate) activation: Activation,
}

/// The window rows of images `first..first + count`: the images themselves when a window is
/// one pixel of a contiguous image, else `im2col` into `buffer`.
fn windows<'a, T: KernelFloat>(
    image: &Images<'a, T>,
    g: &Geometry,
    first: usize,
    count: usize,
    rows: usize,
    buffer: &'a mut Vec<T>,
) -> Matrix<'a, T> {
    if g.is_pointwise()
        && let Some(pixels) = image.contiguous_images(g, first, count)
    {
        return Matrix::row_major(pixels, rows, g.window_len());
    }
    buffer.resize(rows * g.window_len(), T::zero());
    image.im2col(g, first, count, buffer);
    Matrix::row_major(buffer, rows, g.window_len())
}

/// `out = epilogue(im2col(image) * a)`: `out` is `(N * OH * OW) x P` row-major, `a` is
/// `g.window_len() x P`.
pub(crate) fn windows_product<T: KernelFloat>(
    image: &Images<'_, T>,
    g: &Geometry,
    positions: usize,
    a: Matrix<'_, T>,
    epilogue: Epilogue<'_, T>,
    out: &mut [T],
) {
    let per_task = images_per_task(positions);
    let p = out.len() / (g.batch * positions);
    out.par_chunks_mut(per_task * positions * p)
        .enumerate()
        .for_each_init(Vec::new, |buffer, (task, rows_out)| {
            let rows = rows_out.len() / p;
            let lhs = windows(image, g, task * per_task, rows / positions, rows, buffer);
            multiply(rows_out, lhs, a, false);
            epilogue.activation.finish(rows_out, epilogue.bias);
        });
}

/// `out = epilogue(col2im(rows * a^T))`: `rows` is `(N * OH * OW) x P` row-major and
/// contiguous, `a` is `g.window_len() x P`, `out` the contiguous `(N, H, W, C)` images.
pub(crate) fn adjoint_product<T: KernelFloat>(
    rows: &[T],
    g: &Geometry,
    positions: usize,
    a: Matrix<'_, T>,
    epilogue: Epilogue<'_, T>,
    out: &mut [T],
) {
    let per_task = images_per_task(positions);
    let p = rows.len() / (g.batch * positions);
    out.par_chunks_mut(per_task * g.image_len())
        .enumerate()
        .for_each_init(Vec::new, |buffer, (task, images)| {
            let count = images.len() / g.image_len();
            let first_row = task * per_task * positions;
            let task_rows = count * positions;
            let lhs = Matrix::row_major(
                &rows[first_row * p..(first_row + task_rows) * p],
                task_rows,
                p,
            );
            if g.is_pointwise() {
                multiply(images, lhs, a.transpose(), false);
            } else {
                buffer.resize(task_rows * g.window_len(), T::zero());
                multiply(buffer, lhs, a.transpose(), false);
                images.fill(T::zero());
                col2im_add(g, buffer, images);
            }
            epilogue.activation.finish(images, epilogue.bias);
        });
}

/// Partial sums a reduction over image chunks is split into: a fixed number, so that the
/// order of every floating-point addition (and so the result, to the last bit) does not
/// depend on the thread count or on which thread ran what.
const PARTIAL_SUMS: usize = 16;

/// `im2col(image)^T * rows`, a `g.window_len() x P` row-major matrix; `rows` is
/// `(N * OH * OW) x P`, row-major and contiguous. Deterministic: tasks are summed in
/// [`PARTIAL_SUMS`] fixed groups, the groups in order.
pub(crate) fn windows_gram<T: KernelFloat>(
    image: &Images<'_, T>,
    g: &Geometry,
    positions: usize,
    rows: &[T],
) -> Vec<T> {
    let per_task = images_per_task(positions);
    let p = rows.len() / (g.batch * positions);
    let size = g.window_len() * p;
    let tasks = g.batch.div_ceil(per_task);
    let groups = tasks.min(PARTIAL_SUMS);
    let partials: Vec<Vec<T>> = (0..groups)
        .into_par_iter()
        .map(|group| {
            let (mut gram, mut buffer) = (vec![T::zero(); size], Vec::new());
            for task in group * tasks / groups..(group + 1) * tasks / groups {
                let first = task * per_task;
                let count = per_task.min(g.batch - first);
                let task_rows = count * positions;
                let lhs = windows(image, g, first, count, task_rows, &mut buffer);
                let first_row = first * positions;
                let rhs = Matrix::row_major(
                    &rows[first_row * p..(first_row + task_rows) * p],
                    task_rows,
                    p,
                );
                multiply(&mut gram, lhs.transpose(), rhs, true);
            }
            gram
        })
        .collect();
    sum_in_order(partials)
}

/// The elementwise sum of equal-length vectors, first to last.
pub(crate) fn sum_in_order<T: KernelFloat>(partials: Vec<Vec<T>>) -> Vec<T> {
    let mut partials = partials.into_iter();
    let mut total = partials.next().unwrap_or_default();
    for partial in partials {
        total.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
    }
    total
}

/// A `(D0, D1, K, K)` kernel (any strides, `offset` and `strides` of its layout) as the
/// `(K * K * D1) x D0` matrix `A[(ky, kx, j), i] = w[i, j, ky, kx]`: the image side's channels
/// `D1` inside each tap, the rows side's channels `D0` across.
pub(crate) fn weights_to_matrix<T: KernelFloat>(
    w: &[T],
    dims: [usize; 4],
    strides: [usize; 4],
    offset: usize,
) -> Vec<T> {
    let [d0, d1, k, _] = dims;
    let mut a = Vec::with_capacity(k * k * d1 * d0);
    for ky in 0..k {
        for kx in 0..k {
            for j in 0..d1 {
                let base = offset + j * strides[1] + ky * strides[2] + kx * strides[3];
                a.extend((0..d0).map(|i| w[base + i * strides[0]]));
            }
        }
    }
    a
}

/// The inverse of [`weights_to_matrix`]: a `(K * K * D1) x D0` matrix back to a contiguous
/// `(D0, D1, K, K)` kernel.
pub(crate) fn matrix_to_weights<T: KernelFloat>(a: &[T], dims: [usize; 4]) -> Vec<T> {
    let [d0, d1, k, _] = dims;
    let mut w = Vec::with_capacity(a.len());
    for i in 0..d0 {
        for j in 0..d1 {
            for ky in 0..k {
                w.extend((0..k).map(|kx| a[((ky * k + kx) * d1 + j) * d0 + i]));
            }
        }
    }
    w
}
