//! Codebook usage statistics: perplexity and per-dimension histograms of code values.

use std::collections::BTreeMap;

use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// Perplexity of an empirical distribution given by occurrence counts: `exp(H)` with `H` the
/// Shannon entropy in nats, i.e. the effective number of codes in use.
///
/// `n` codes used equally often give `n`; one code gives 1. Zero counts are ignored. An empty
/// or all-zero input gives 1.0, what PyTorch VQ implementations report for a batch with no
/// codes (they compute `exp(-sum(p * log(p + 1e-10)))`, which is `exp(0)` when every `p` is 0),
/// so logs from both are comparable. The result is never NaN and never below 1.
///
/// Computed in one pass and without allocating: the entropy is updated as each count arrives,
/// from a sum of nonnegative terms, so it suffers no cancellation (one code gives exactly 1).
///
/// # Example
///
/// ```
/// use lattice_vq_core::perplexity;
///
/// assert!((perplexity([5, 5, 5, 5]) - 4.0).abs() < 1e-12);
/// assert_eq!(perplexity([7, 0, 0]), 1.0);
/// assert_eq!(perplexity(Vec::<u64>::new()), 1.0);
/// assert!(perplexity([90, 10]) < 2.0);
/// ```
pub fn perplexity<I: IntoIterator<Item = u64>>(counts: I) -> f64 {
    // Totals stay exact in u128 however many u64 counts are added.
    let mut total: u128 = 0;
    let mut entropy = 0.0_f64;
    for count in counts.into_iter().filter(|&count| count > 0) {
        let count = u128::from(count);
        if total == 0 {
            total = count;
            continue;
        }
        // Adding a symbol of count c to a distribution of total N and entropy H gives total
        // N' = N + c and entropy (N / N') (H + ln(N' / N)) + (c / N') ln(N' / c).
        let new_total = total + count;
        let (old, added, new) = (total as f64, count as f64, new_total as f64);
        entropy =
            old / new * (entropy + (added / old).ln_1p()) + added / new * (old / added).ln_1p();
        total = new_total;
    }
    entropy.exp()
}

/// Per-dimension histograms of code values: for each axis `d`, how often each integer value
/// occurs in column `d` of the code vectors (the extent of the lattice actually used along
/// that axis).
///
/// # Example
///
/// ```
/// use lattice_vq_core::DimensionHistograms;
/// use ndarray::array;
///
/// let mut histograms = DimensionHistograms::new(2);
/// histograms.insert_rows(array![[0, 3], [0, -3], [1, 3]].view())?;
/// assert_eq!(histograms.histogram(0).unwrap()[&0], 2);
/// assert_eq!(histograms.distinct_values(1), Some(2));
/// assert_eq!(histograms.total(), 3);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionHistograms {
    histograms: Vec<BTreeMap<i32, u64>>,
    total: u64,
}

impl DimensionHistograms {
    /// Empty histograms for code vectors of length `dim`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    ///
    /// let histograms = DimensionHistograms::new(64);
    /// assert_eq!(histograms.dim(), 64);
    /// assert_eq!(histograms.total(), 0);
    /// ```
    pub fn new(dim: usize) -> Self {
        Self {
            histograms: vec![BTreeMap::new(); dim],
            total: 0,
        }
    }

    /// The length D of the code vectors.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    ///
    /// assert_eq!(DimensionHistograms::new(3).dim(), 3);
    /// ```
    pub fn dim(&self) -> usize {
        self.histograms.len()
    }

    /// Count the values of one code vector.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `code.len() != self.dim()`; nothing is counted then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    ///
    /// let mut histograms = DimensionHistograms::new(2);
    /// histograms.insert(&[4, -1])?;
    /// assert_eq!(histograms.histogram(1).unwrap()[&-1], 1);
    /// assert!(histograms.insert(&[4]).is_err());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, code: &[i32]) -> Result<()> {
        if code.len() != self.dim() {
            return Err(Error::ShapeMismatch {
                what: "code",
                expected: vec![self.dim()],
                found: vec![code.len()],
            });
        }
        for (histogram, &value) in self.histograms.iter_mut().zip(code) {
            *histogram.entry(value).or_insert(0) += 1;
        }
        self.total += 1;
        Ok(())
    }

    /// Count the values of every row of an `(N, D)` array of codes, in any memory layout.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if the array does not have `self.dim()` columns; nothing is
    /// counted then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    /// use ndarray::array;
    ///
    /// let mut histograms = DimensionHistograms::new(2);
    /// histograms.insert_rows(array![[0, 1], [0, 2]].view())?;
    /// assert_eq!(histograms.histogram(0).unwrap()[&0], 2);
    /// assert!(histograms.insert_rows(array![[0, 1, 2]].view()).is_err());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_rows(&mut self, codes: ArrayView2<'_, i32>) -> Result<()> {
        if codes.ncols() != self.dim() {
            return Err(Error::ShapeMismatch {
                what: "codes",
                expected: vec![codes.nrows(), self.dim()],
                found: vec![codes.nrows(), codes.ncols()],
            });
        }
        // Column by column, so each map is updated in one run and stays in cache.
        for (histogram, column) in self.histograms.iter_mut().zip(codes.columns()) {
            for &value in column {
                *histogram.entry(value).or_insert(0) += 1;
            }
        }
        self.total += codes.nrows() as u64;
        Ok(())
    }

    /// The histogram of dimension `d`: value to number of occurrences, for the values that
    /// occurred. `None` if `d >= self.dim()`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    ///
    /// let mut histograms = DimensionHistograms::new(1);
    /// histograms.insert(&[2])?;
    /// histograms.insert(&[-2])?;
    /// let values: Vec<(i32, u64)> =
    ///     histograms.histogram(0).unwrap().iter().map(|(&v, &c)| (v, c)).collect();
    /// assert_eq!(values, [(-2, 1), (2, 1)]);
    /// assert!(histograms.histogram(1).is_none());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn histogram(&self, d: usize) -> Option<&BTreeMap<i32, u64>> {
        self.histograms.get(d)
    }

    /// Number of distinct values seen in dimension `d`; `None` if `d >= self.dim()`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    /// use ndarray::array;
    ///
    /// let mut histograms = DimensionHistograms::new(2);
    /// histograms.insert_rows(array![[0, 5], [1, 5], [2, 5]].view())?;
    /// assert_eq!(histograms.distinct_values(0), Some(3));
    /// assert_eq!(histograms.distinct_values(1), Some(1));
    /// assert_eq!(histograms.distinct_values(2), None);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn distinct_values(&self, d: usize) -> Option<usize> {
        self.histograms.get(d).map(BTreeMap::len)
    }

    /// [`perplexity`] of the values in dimension `d`; `None` if `d >= self.dim()`.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    /// use ndarray::array;
    ///
    /// let mut histograms = DimensionHistograms::new(2);
    /// histograms.insert_rows(array![[0, 5], [1, 5]].view())?;
    /// assert!((histograms.perplexity(0).unwrap() - 2.0).abs() < 1e-12);
    /// assert_eq!(histograms.perplexity(1), Some(1.0));
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn perplexity(&self, d: usize) -> Option<f64> {
        self.histograms
            .get(d)
            .map(|histogram| perplexity(histogram.values().copied()))
    }

    /// Number of code vectors counted.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    /// use ndarray::Array2;
    ///
    /// let mut histograms = DimensionHistograms::new(4);
    /// histograms.insert_rows(Array2::zeros((10, 4)).view())?;
    /// assert_eq!(histograms.total(), 10);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Add the counts of `other`, as if its vectors had been inserted here.
    ///
    /// # Errors
    ///
    /// [`Error::MergeMismatch`] if the two have different dimensions; `self` is left unchanged
    /// then.
    ///
    /// # Example
    ///
    /// ```
    /// use lattice_vq_core::DimensionHistograms;
    ///
    /// let mut left = DimensionHistograms::new(1);
    /// left.insert(&[3])?;
    /// let mut right = DimensionHistograms::new(1);
    /// right.insert(&[3])?;
    /// left.merge(&right)?;
    /// assert_eq!(left.histogram(0).unwrap()[&3], 2);
    /// assert!(left.merge(&DimensionHistograms::new(2)).is_err());
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&mut self, other: &DimensionHistograms) -> Result<()> {
        if self.dim() != other.dim() {
            return Err(Error::MergeMismatch {
                what: "dimension histograms of dim",
                left: self.dim(),
                right: other.dim(),
            });
        }
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            for (&value, &count) in theirs {
                *mine.entry(value).or_insert(0) += count;
            }
        }
        self.total += other.total;
        Ok(())
    }
}
