//! Matrix products on one thread through the `gemm` crate (the kernel candle's CPU backend
//! calls), behind bounds checks: the crate's only `unsafe`.
//!
//! The convolutions (`super::conv`) split their work into image chunks themselves and multiply
//! each chunk on one thread, with the chunk's windows still in cache; candle's `matmul` would
//! thread one whole product by column blocks into a freshly zeroed buffer. Speed:
//! `docs/benchmarks.md` (the conv_profile bench).

use super::KernelFloat;

/// A strided read-only view of a `rows x columns` matrix: entry `(i, j)` is
/// `data[i * row_stride + j * column_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matrix<'a, T> {
    data: &'a [T],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// The first `rows * columns` entries of `data`, row after row.
    ///
    /// # Panics
    /// If `data` is shorter than `rows * columns`.
    pub(crate) fn row_major(data: &'a [T], rows: usize, columns: usize) -> Self {
        assert!(
            data.len() >= rows * columns,
            "a {rows}x{columns} matrix needs {} entries, the slice has {}",
            rows * columns,
            data.len()
        );
        Self {
            data,
            rows,
            columns,
            row_stride: columns,
            column_stride: 1,
        }
    }

    /// The same entries read as the transposed matrix (no copy).
    pub(crate) fn transpose(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every entry's index lies inside `data` (vacuously true when empty).
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.columns == 0 {
            return true;
        }
        (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|a| {
                (self.columns - 1)
                    .checked_mul(self.column_stride)
                    .and_then(|b| a.checked_add(b))
            })
            .is_some_and(|last| last < self.data.len())
    }
}

fn stride(value: usize) -> isize {
    isize::try_from(value).expect("matrix strides fit in isize")
}

/// `out = lhs * rhs`, or `out += lhs * rhs` when `accumulate`, with `out` the row-major
/// `lhs.rows x rhs.columns` result, computed on the calling thread.
///
/// # Panics
/// If the inner dimensions differ, `out` has another length, or a view reaches outside its
/// slice: internal invariants of the convolutions, checked because the kernel reads raw
/// pointers.
pub(crate) fn multiply<T: KernelFloat>(
    out: &mut [T],
    lhs: Matrix<'_, T>,
    rhs: Matrix<'_, T>,
    accumulate: bool,
) {
    assert_eq!(
        lhs.columns, rhs.rows,
        "inner dimensions of a matrix product"
    );
    assert_eq!(out.len(), lhs.rows * rhs.columns, "matrix product output");
    assert!(
        lhs.in_bounds() && rhs.in_bounds(),
        "matrix view out of bounds"
    );
    if out.is_empty() {
        return;
    }
    if lhs.columns == 0 {
        if !accumulate {
            out.fill(T::zero());
        }
        return;
    }
    // SAFETY: the kernel reads lhs at i * row_stride + k * column_stride for i < lhs.rows and
    // k < lhs.columns, rhs likewise, and writes out at i * rhs.columns + j: all checked above
    // to lie inside the three slices, and `out` is borrowed exclusively so it aliases neither
    // input. T is f32 or f64 (KernelFloat is sealed), which the kernel supports.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            lhs.rows,
            rhs.columns,
            lhs.columns,
            out.as_mut_ptr(),
            1,
            stride(rhs.columns),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.column_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.column_stride),
            stride(rhs.row_stride),
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Matrix, multiply};

    /// Schoolbook product of row-major matrices, the oracle.
    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn products_transposes_and_accumulation_match_the_schoolbook_oracle() {
        let (m, k, n) = (7, 5, 9);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let expected = naive(&a, &b, m, k, n);
        let mut out = vec![f64::NAN; m * n];
        multiply(
            &mut out,
            Matrix::row_major(&a, m, k),
            Matrix::row_major(&b, k, n),
            false,
        );
        let gap = |x: &[f64], y: &[f64]| {
            x.iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max)
        };
        assert!(gap(&out, &expected) < 1e-12);
        // (b^T a^T)^T = a b, read through transposed views; then accumulate a second copy.
        let mut transposed = vec![0.0; n * m];
        multiply(
            &mut transposed,
            Matrix::row_major(&b, k, n).transpose(),
            Matrix::row_major(&a, m, k).transpose(),
            false,
        );
        let back: Vec<f64> = (0..m * n)
            .map(|i| transposed[(i % n) * m + i / n])
            .collect();
        assert!(gap(&back, &expected) < 1e-12);
        multiply(
            &mut out,
            Matrix::row_major(&a, m, k),
            Matrix::row_major(&b, k, n),
            true,
        );
        let doubled: Vec<f64> = expected.iter().map(|v| 2.0 * v).collect();
        assert!(gap(&out, &doubled) < 1e-12);
    }

    #[test]
    #[should_panic(expected = "matrix view out of bounds")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![1.0f32; 6];
        let view = Matrix {
            data: &a,
            rows: 3,
            columns: 3,
            row_stride: 3,
            column_stride: 1,
        };
        let mut out = vec![0.0f32; 3];
        multiply(&mut out, view, Matrix::row_major(&a, 3, 1), false);
    }
}
