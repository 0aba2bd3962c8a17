//! Token indices of a finite product codebook: a code is one digit `k_i in 0..l_i` per
//! dimension, and its index is the mixed-radix number `sum_i k_i prod_{j < i} l_j`, dimension
//! 0 least significant (the convention of vector-quantize-pytorch's FSQ, whose
//! `codes_to_indices` multiplies by `cumprod([1] + levels[:-1])`). The codebook size
//! `K = prod_i l_i` is exact (checked `u128` arithmetic); indices are `u64`, as
//! [`Lattice::codes_to_indices`](crate::Lattice::codes_to_indices) hands them out, so a
//! codebook with more than `2^64` codes has a size but no indices.
//!
//! This is the index half of the bounded lattices and FSQ (the issue "finite codebooks");
//! their quantizers give the digits.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{Error, Result};

/// The digit counts of a product codebook and its index arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedRadix {
    levels: Vec<u32>,
    /// `prod_{j < i} l_j`, the weight of digit `i`.
    strides: Vec<u128>,
    size: u128,
}

impl MixedRadix {
    /// The radix of `levels` (one count `l_i >= 2` per dimension).
    ///
    /// # Errors
    /// [`Error::ZeroDim`] for no levels, [`Error::InvalidConfig`] for a count outside
    /// `2..=2^31` (digits are `i32` codes),
    /// [`Error::CodebookOverflow`] when `prod_i l_i` does not fit in `u128`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::mixed_radix::MixedRadix;
    ///
    /// let radix = MixedRadix::new(&[8, 5, 5, 5])?;
    /// assert_eq!(radix.codebook_size(), 1000);
    /// assert_eq!(radix.index(&[1, 2, 3, 4])?, 1 + 2 * 8 + 3 * 40 + 4 * 200);
    /// # Ok::<(), lattice_vq_core::Error>(())
    /// ```
    pub fn new(levels: &[u32]) -> Result<Self> {
        if levels.is_empty() {
            return Err(Error::ZeroDim);
        }
        // Digits are `i32` codes, so a level count may reach 2^31 (digits up to 2^31 - 1).
        if let Some(&level) = levels.iter().find(|&&l| !(2..=1 << 31).contains(&l)) {
            return Err(Error::InvalidConfig {
                field: "levels",
                value: level.to_string(),
                requirement: "every dimension needs 2 to 2^31 levels",
            });
        }
        let mut strides = Vec::with_capacity(levels.len());
        let mut size: u128 = 1;
        for &level in levels {
            strides.push(size);
            size = size
                .checked_mul(u128::from(level))
                .ok_or_else(|| overflow(levels, "u128"))?;
        }
        Ok(Self {
            levels: levels.to_vec(),
            strides,
            size,
        })
    }

    /// The level counts `l_i`.
    pub fn levels(&self) -> &[u32] {
        &self.levels
    }

    /// `K = prod_i l_i`, exactly.
    pub fn codebook_size(&self) -> u128 {
        self.size
    }

    /// The index of one code (one digit per dimension).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for another number of digits, [`Error::CodeOutOfRange`] for a
    /// digit outside `0..l_i` (reported at row 0), [`Error::CodebookOverflow`] when `K`
    /// exceeds `2^64`.
    pub fn index(&self, digits: &[i32]) -> Result<u64> {
        self.check_indexable()?;
        self.index_of_row(digits, 0)
    }

    /// The digits of one index.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] for an index `>= K` (reported at row 0).
    pub fn digits(&self, index: u64) -> Result<Vec<i32>> {
        let mut digits = vec![0; self.levels.len()];
        self.digits_into(index, 0, &mut digits)?;
        Ok(digits)
    }

    /// The index of each `(N, D)` code row.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the rows are not `D` wide, [`Error::CodeOutOfRange`]
    /// naming the first bad digit, [`Error::CodebookOverflow`] when `K` exceeds `2^64`.
    pub fn indices(&self, codes: ArrayView2<i32>) -> Result<Array1<u64>> {
        self.check_indexable()?;
        if codes.ncols() != self.levels.len() {
            return Err(Error::ShapeMismatch {
                what: "codes",
                expected: vec![codes.nrows(), self.levels.len()],
                found: codes.shape().to_vec(),
            });
        }
        let mut indices = Array1::zeros(codes.nrows());
        let mut row_digits = Vec::with_capacity(self.levels.len());
        for (row, (code, index)) in codes.outer_iter().zip(indices.iter_mut()).enumerate() {
            row_digits.clear();
            row_digits.extend(code.iter().copied());
            *index = self.index_of_row(&row_digits, row)?;
        }
        Ok(indices)
    }

    /// The `(N, D)` code rows of indices: the inverse of [`MixedRadix::indices`].
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`] naming the first index `>= K`.
    pub fn codes(&self, indices: ArrayView1<u64>) -> Result<Array2<i32>> {
        let dim = self.levels.len();
        let mut codes = Array2::zeros((indices.len(), dim));
        for (row, (&index, mut code)) in indices.iter().zip(codes.outer_iter_mut()).enumerate() {
            let digits = code
                .as_slice_mut()
                .expect("a row of a standard-layout array is contiguous");
            self.digits_into(index, row, digits)?;
        }
        Ok(codes)
    }

    /// `K <= 2^64`, so that every index fits in `u64`.
    /// Require `(N, D)` codes, `N >= 1`, with every digit in its dimension's `0..l_i`: the
    /// rule of decoding a finite product codebook.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for another width, [`Error::EmptyInput`],
    /// [`Error::CodeOutOfRange`] naming the first bad digit.
    pub fn check_codes(&self, codes: ArrayView2<i32>) -> Result<()> {
        crate::shape::check_rows(self.levels.len(), "codes", codes.shape())?;
        for (row, code) in codes.outer_iter().enumerate() {
            for (col, (&digit, &level)) in code.iter().zip(&self.levels).enumerate() {
                if u32::try_from(digit).map_or(true, |d| d >= level) {
                    return Err(Error::CodeOutOfRange {
                        row,
                        col,
                        code: i64::from(digit),
                        levels: level,
                    });
                }
            }
        }
        Ok(())
    }

    fn check_indexable(&self) -> Result<()> {
        if self.size > u128::from(u64::MAX) + 1 {
            return Err(overflow(&self.levels, "u64"));
        }
        Ok(())
    }

    fn index_of_row(&self, digits: &[i32], row: usize) -> Result<u64> {
        if digits.len() != self.levels.len() {
            return Err(Error::ShapeMismatch {
                what: "code",
                expected: vec![self.levels.len()],
                found: vec![digits.len()],
            });
        }
        let mut index: u128 = 0;
        for (col, ((&digit, &level), &stride)) in digits
            .iter()
            .zip(&self.levels)
            .zip(&self.strides)
            .enumerate()
        {
            let Some(digit) = u32::try_from(digit).ok().filter(|&d| d < level) else {
                return Err(Error::CodeOutOfRange {
                    row,
                    col,
                    code: i64::from(digit),
                    levels: level,
                });
            };
            // Below K <= 2^64 by construction: no overflow.
            index += u128::from(digit) * stride;
        }
        Ok(u64::try_from(index).expect("an index below K <= 2^64 fits in u64"))
    }

    fn digits_into(&self, index: u64, row: usize, digits: &mut [i32]) -> Result<()> {
        if u128::from(index) >= self.size {
            return Err(Error::TokenOutOfRange {
                row,
                index,
                codebook_size: self.size,
            });
        }
        let mut rest = u128::from(index);
        for (digit, &level) in digits.iter_mut().zip(&self.levels) {
            let level = u128::from(level);
            *digit = i32::try_from(rest % level).expect("a digit below a u32 level count");
            rest /= level;
        }
        Ok(())
    }
}

fn overflow(levels: &[u32], index_type: &'static str) -> Error {
    Error::CodebookOverflow {
        levels: levels.len(),
        index_type,
    }
}
