//! Approximate counting of distinct code vectors in fixed memory.
//!
//! [`UniqueCodes`](crate::UniqueCodes) needs about 32 bytes per distinct vector; a
//! [`HyperLogLog`] sketch needs `2^precision` bytes whatever the input size, at the price of
//! a relative standard error of about `1.04 / sqrt(2^precision)` (0.8% at precision 14, in
//! 16 KiB).

use ndarray::ArrayView2;

use crate::codes::{code_key, row_key};
use crate::error::{Error, Result};

/// A HyperLogLog sketch estimating the number of distinct code vectors it has seen.
///
/// Each vector is hashed with [`code_key`]; the low 64 bits of the key pick one of
/// `m = 2^precision` registers (the top `precision` bits) and a rank (one plus the number of
/// leading zeros of the remaining `64 - precision` bits), and the register keeps the largest
/// rank seen. The estimate is Otmar Ertl's improved raw estimator ("New cardinality estimation
/// algorithms for HyperLogLog sketches", arXiv 1702.01284, Algorithm 6): no empirical bias
/// tables, and accurate from 0 up to far beyond any dataset (the 64-bit hash only saturates
/// near `2^64` distinct vectors).
///
/// Sketches of the same precision merge losslessly: merging the sketches of two shards gives
/// exactly the sketch of their union.
///
/// # Example
///
/// ```
/// use lattice_vq_core::HyperLogLog;
///
/// let mut sketch = HyperLogLog::new(14)?;
/// for i in 0..10_000 {
///     sketch.insert(&[i % 5_000, -1, 7]);
/// }
/// let error = (sketch.estimate() - 5_000.0).abs() / 5_000.0;
/// assert!(error < 3.0 * sketch.relative_standard_error());
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyperLogLog {
    precision: u8,
    registers: Vec<u8>,
}

impl HyperLogLog {
    /// Smallest supported precision: 16 registers.
    pub const MIN_PRECISION: u8 = 4;

    /// Largest supported precision: 262 144 registers (256 KiB).
    pub const MAX_PRECISION: u8 = 18;

    /// An empty sketch with `2^precision` registers.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPrecision`] if `precision` is outside
    /// [`MIN_PRECISION`](Self::MIN_PRECISION)`..=`[`MAX_PRECISION`](Self::MAX_PRECISION).
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::{Error, HyperLogLog};
    ///
    /// let sketch = HyperLogLog::new(12)?;
    /// assert_eq!(sketch.registers().len(), 4096);
    /// assert!(matches!(HyperLogLog::new(3), Err(Error::InvalidPrecision { .. })));
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(precision: u8) -> Result<Self> {
        if !(Self::MIN_PRECISION..=Self::MAX_PRECISION).contains(&precision) {
            return Err(Error::InvalidPrecision {
                precision,
                min: Self::MIN_PRECISION,
                max: Self::MAX_PRECISION,
            });
        }
        Ok(Self {
            precision,
            registers: vec![0; 1 << precision],
        })
    }

    /// The precision `p`: the sketch has `2^p` registers.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    ///
    /// assert_eq!(HyperLogLog::new(10)?.precision(), 10);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// The registers, one byte each: the largest rank seen, 0 for none, at most
    /// `64 - precision + 1`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    ///
    /// let mut sketch = HyperLogLog::new(4)?;
    /// sketch.insert(&[1, 2, 3]);
    /// assert_eq!(sketch.registers().iter().filter(|&&rank| rank > 0).count(), 1);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn registers(&self) -> &[u8] {
        &self.registers
    }

    /// Add an element by its 128-bit [`code_key`] (or any other uniformly mixed 128-bit hash).
    ///
    /// Only the low 64 bits are used: XXH3-128 mixes every output bit, and 64 bits do not
    /// saturate before about `2^64` distinct elements.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::{code_key, HyperLogLog};
    ///
    /// let mut by_key = HyperLogLog::new(8)?;
    /// by_key.insert_key(code_key(&[4, 2]));
    /// let mut by_code = HyperLogLog::new(8)?;
    /// by_code.insert(&[4, 2]);
    /// assert_eq!(by_key, by_code);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_key(&mut self, key: u128) {
        let hash = key as u64;
        let index = (hash >> (64 - u32::from(self.precision))) as usize;
        // The low `precision` bits of `rest` are zero, so an all-zero remainder would count
        // them too; the cap gives it the largest rank, `64 - precision + 1`.
        let rest = hash << self.precision;
        let max_rank = 64 - u32::from(self.precision) + 1;
        let rank = (rest.leading_zeros() + 1).min(max_rank) as u8;
        let register = &mut self.registers[index];
        *register = (*register).max(rank);
    }

    /// Add one code vector. Vectors of any length may be mixed: they are distinct elements
    /// whenever they differ, lengths included.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    ///
    /// let mut sketch = HyperLogLog::new(12)?;
    /// sketch.insert(&[0, 1]);
    /// sketch.insert(&[0, 1]);
    /// sketch.insert(&[1, 0]);
    /// assert!((sketch.estimate() - 2.0).abs() < 0.1);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, code: &[i32]) {
        self.insert_key(code_key(code));
    }

    /// Add every row of an `(N, D)` array of codes, in any memory layout.
    ///
    /// A sketch has no dimension of its own, so any D is accepted (rows of different arrays
    /// may differ in length, like vectors passed to [`insert`](Self::insert)); with `D = 0`
    /// every row is the empty vector. Check D against your model's beforehand if mixing
    /// dimensions would be a mistake.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    /// use ndarray::array;
    ///
    /// let mut sketch = HyperLogLog::new(12)?;
    /// sketch.insert_rows(array![[0, 1], [1, 0], [0, 1]].view());
    /// assert!((sketch.estimate() - 2.0).abs() < 0.1);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_rows(&mut self, codes: ArrayView2<'_, i32>) {
        for row in codes.rows() {
            self.insert_key(row_key(row));
        }
    }

    /// Estimated number of distinct elements inserted: exactly 0.0 for an empty sketch.
    ///
    /// Returns infinity only if every register holds the largest rank, which takes on the
    /// order of `2^64` distinct elements.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    ///
    /// let mut sketch = HyperLogLog::new(14)?;
    /// assert_eq!(sketch.estimate(), 0.0);
    /// for i in 0..1_000 {
    ///     sketch.insert(&[i]);
    /// }
    /// assert!((sketch.estimate() - 1_000.0).abs() < 30.0);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn estimate(&self) -> f64 {
        let q = 64 - usize::from(self.precision);
        let m = self.registers.len() as f64;
        // histogram[k] = number of registers holding rank k, for k = 0..=q+1.
        let mut histogram = [0_u32; 64 - Self::MIN_PRECISION as usize + 2];
        for &rank in &self.registers {
            histogram[usize::from(rank)] += 1;
        }
        let mut z = m * tau(1.0 - f64::from(histogram[q + 1]) / m);
        for &count in histogram[1..=q].iter().rev() {
            z = 0.5 * (z + f64::from(count));
        }
        z += m * sigma(f64::from(histogram[0]) / m);
        // alpha_inf * m^2 / z with alpha_inf = 1 / (2 ln 2); z = inf for an empty sketch.
        m * m / (2.0 * std::f64::consts::LN_2 * z)
    }

    /// The relative standard error of [`estimate`](Self::estimate): `1.04 / sqrt(2^precision)`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    ///
    /// assert!((HyperLogLog::new(14)?.relative_standard_error() - 1.04 / 128.0).abs() < 1e-15);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn relative_standard_error(&self) -> f64 {
        1.04 / (self.registers.len() as f64).sqrt()
    }

    /// Merge `other` into `self` (register-wise maximum): afterwards `self` is exactly the
    /// sketch of the union of both inputs, so shards can be sketched separately.
    ///
    /// # Errors
    ///
    /// [`Error::MergeMismatch`] if the precisions differ; `self` is left unchanged then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::HyperLogLog;
    ///
    /// let mut left = HyperLogLog::new(10)?;
    /// left.insert(&[1]);
    /// let mut right = HyperLogLog::new(10)?;
    /// right.insert(&[2]);
    /// left.merge(&right)?;
    ///
    /// let mut both = HyperLogLog::new(10)?;
    /// both.insert(&[2]);
    /// both.insert(&[1]);
    /// assert_eq!(left, both);
    ///
    /// assert!(left.merge(&HyperLogLog::new(12)?).is_err());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&mut self, other: &HyperLogLog) -> Result<()> {
        if self.precision != other.precision {
            return Err(Error::MergeMismatch {
                what: "sketches of precision",
                left: usize::from(self.precision),
                right: usize::from(other.precision),
            });
        }
        for (mine, &theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(theirs);
        }
        Ok(())
    }
}

/// Ertl's `sigma(x) = x + sum_{k >= 1} x^(2^k) 2^(k - 1)`, the correction for empty registers.
/// The series is summed until adding a term no longer changes the sum.
fn sigma(x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut x = x;
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if z == previous {
            return z;
        }
    }
}

/// Ertl's `tau(x) = (1 - x - sum_{k >= 1} (1 - x^(2^-k))^2 2^-k) / 3`, the correction for
/// saturated registers.
fn tau(x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut x = x;
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == previous {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{sigma, tau};

    #[test]
    fn sigma_matches_its_series() {
        for x in [0.0, 0.1, 0.5, 0.9, 0.99] {
            let series: f64 = (1..60)
                .map(|k| f64::powf(x, 2_f64.powi(k)) * 2_f64.powi(k - 1))
                .sum::<f64>()
                + x;
            assert!(
                (sigma(x) - series).abs() <= 1e-12 * series.max(1.0),
                "x = {x}"
            );
        }
        assert_eq!(sigma(1.0), f64::INFINITY);
    }

    #[test]
    fn tau_matches_its_series() {
        for x in [0.1, 0.5, 0.9, 0.99] {
            let series: f64 = (1..60)
                .map(|k| (1.0 - f64::powf(x, 2_f64.powi(-k))).powi(2) * 2_f64.powi(-k))
                .sum();
            let expected = (1.0 - x - series) / 3.0;
            assert!((tau(x) - expected).abs() <= 1e-12, "x = {x}");
        }
        assert_eq!(tau(0.0), 0.0);
        assert_eq!(tau(1.0), 0.0);
    }
}
