//! Nearest-codeword search of the VQ-VAE baseline (paper Eq. 1): the `O(K)` search the
//! learnable lattice replaces with `O(1)` rounding.
//!
//! # The rule (the specification the tch and candle layers are tested against)
//!
//! The nearest codeword of a latent row `z` is the lowest index `k` minimising
//! `d_k = sum_i (z_i - e_ki)^2`, the squared Euclidean distance evaluated in `f64` (`f32`
//! values are widened first, which is exact) as [`squared_distance`] evaluates it. Rows
//! whose values are so large that a square could overflow `f64` are first scaled by a
//! power of two, which preserves every comparison. The codebook and the latents must be
//! finite: a NaN or infinite codeword or latent is an error, never skipped or chosen.
//!
//! # The fast path, and why it gives the same answer
//!
//! Evaluating the rule costs `K` subtractions per value. Like the official code, the search
//! first computes `d^_k = (|z|^2 + |e_k|^2) - 2 z . e_k` in the input's float type with
//! one matrix product per block of rows, and keeps its minimum `k1` when it is *certified*:
//! every other `d^_j` exceeds `d^_k1 + tau`, with `tau` from [`FastSearchBound`]. `tau`
//! bounds the rounding error of `d^` and of the `f64` rule together, so a certified `k1`
//! is the rule's unique minimum (proof at [`FastSearchBound`]). Rows that are not
//! certified (near ties, duplicated codewords, or values whose squares overflow the float
//! type, such as latents near `1e20` in `f32`) are decided by the rule itself, evaluated
//! only for the codewords within `tau` of `d^_k1` (the others cannot win, by the same
//! bound), or for all of them when the fast distances overflowed.

use ndarray::{Array1, ArrayView1, ArrayView2, ArrayViewMut1, Axis};

use crate::error::{Error, Result};
use crate::float::LatticeFloat;
use crate::shape::check_same_shape;

/// Rows handled per matrix product, so the `(rows, K)` distance block stays in cache-sized
/// memory instead of an `(N, K)` matrix.
const BLOCK_ROWS: usize = 256;

/// Largest magnitude a row may reach before [`squared_distance`] needs a scale: with every
/// value at most `2^480` (about `3.1e144`) in magnitude, `D` squared differences sum to at
/// most `4 D 2^960`, finite for any `D < 2^62`.
const UNSCALED_LIMIT: f64 = 1.0e144;

/// The certificate of the fast path: the tolerance `tau` of a row such that no codeword
/// whose fast distance exceeds the row's smallest one by more than `tau` can be the
/// [rule's](self) nearest codeword.
///
/// # Proof
/// For a row `z` and codewords `e_k` of dimension `D` in a float type with unit roundoff
/// `u` (`2^-24` for `f32`, `2^-53` for `f64`; `u64 = 2^-53`), write `A = |z|^2`,
/// `B_k = |e_k|^2`, `C_k = z . e_k`, `d_k = A + B_k - 2 C_k`, and `A^`, `B^_k`, `C^_k` for
/// the computed sums, in *any* order (blocked, pairwise, with fused multiply-adds: the
/// bounds of Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Sec. 3.1,
/// hold for all): `|A^ - A| <= g A`, `|B^_k - B_k| <= g B_k`, `|C^_k - C_k| <= g sum |z_i
/// e_ki| <= g sqrt(A B_k)`, with `g = D u / (1 - D u)` and `(D + 2) u <= 2^-10` assumed.
/// The fast distance is `d^_k = fl(fl(A^ + B^_k) - 2 C^_k)` (doubling is exact).
///
/// 1. `d^_k - d_k = E + e_k` where `E = A^ - A` is the same for every codeword (it cancels
///    in comparisons, which is why rows far from the origin still certify) and
///    `|e_k| <= (1 + 2^-9) g (B^_k + 2 sqrt(A^ B^_k)) + u (A^ + B^_k) + (1 + 2^-9) u |d^_k|`
///    (the last two from the two final roundings).
/// 2. The rule's `f64` value `r_k` (widened or power-of-two-scaled values: one rounding per
///    difference, square and addition) has `|r_k - d_k| <= g64 d_k`, `g64 = (D + 2) u64 /
///    (1 - (D + 2) u64)`, and `d_k <= |d^_k| + |E| + |e_k|`.
/// 3. Let `1` be the fast minimum and `j` another codeword. `r_j - r_1 >= (d^_j - d^_1) -
///    |e_j| - |e_1| - g64 (d_j + d_1)`; with `|d^_j| <= |d^_1| + (d^_j - d^_1)` this is
///    positive whenever `d^_j > d^_1 + tau` for
///    `tau = 3 D u (B* + 2 sqrt(A^ B*)) + (3u + 3 D (D + 3) u u64) (A^ + B*)
///          + (4u + 3 (D + 3) u64) |d^_1| + (8D + 8) u MIN_POSITIVE`,
///    `B* = max_k B^_k`: the coefficients of 1 and 2 for both codewords, with a quarter to
///    spare for the rounding of `tau` and of `d^_1 + tau` (the check compares with the
///    computed sum). The last term bounds the absolute error of products that fall into
///    subnormal numbers (at most `u MIN_POSITIVE` each), which 1 does not cover.
/// 4. `A^ + B* <= MAX / 4` keeps every `d^_k`, `tau` and `d^_1 + tau` finite; beyond it
///    (squares that overflow, as for latents near `1e20` in `f32`) `tau` is infinite.
///
/// So every `j` with `d^_j > d^_1 + tau` loses to `1` under the rule: when all others do,
/// the fast minimum is the rule's unique answer; otherwise only the codewords within the
/// window can win. The tch and candle layers evaluate the same `tau` on their devices; it
/// assumes IEEE single or double precision products (reduced-precision TF32 matrix
/// products void it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FastSearchBound<F> {
    /// `3 D u`, the factor of `B* + 2 sqrt(A^ B*)`.
    pub norm_factor: F,
    /// `3u + 3 D (D + 3) u u64`, the factor of `A^ + B*`.
    pub scale_factor: F,
    /// `4u + 3 (D + 3) u64`, the factor of `|d^_1|`.
    pub distance_factor: F,
    /// `(8D + 8) u MIN_POSITIVE`, added to `tau` for subnormal products.
    pub floor: F,
    /// `MAX / 4`: rows with `A^ + B*` above it (or NaN) get an infinite `tau`.
    pub max_scale: F,
}

impl<F: LatticeFloat> FastSearchBound<F> {
    /// The certificate for rows of dimension `dim`, or `None` when `(dim + 2) u > 2^-10`
    /// (`dim > 16382` for `f32`): then the fast path proves nothing and every row must be
    /// decided by the rule.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::vq::FastSearchBound;
    ///
    /// let bound = FastSearchBound::<f32>::new(64).unwrap();
    /// assert_eq!(bound.norm_factor, 192.0 * f32::EPSILON / 2.0);
    /// assert!(FastSearchBound::<f32>::new(1 << 20).is_none());
    /// ```
    pub fn new(dim: usize) -> Option<Self> {
        let u = F::epsilon() / F::from_f64(2.0)?;
        let u64 = f64::EPSILON / 2.0;
        let dims = F::from_usize(dim)?;
        let two = F::from_f64(2.0)?;
        if (dims + two) * u > F::from_f64(1.0 / 1024.0)? {
            return None;
        }
        let d = dim as f64;
        let three = F::from_f64(3.0)?;
        Some(Self {
            norm_factor: three * dims * u,
            scale_factor: three * u + F::from_f64(3.0 * d * (d + 3.0) * u64)? * u,
            distance_factor: F::from_f64(4.0)? * u + F::from_f64(3.0 * (d + 3.0) * u64)?,
            floor: F::from_f64(8.0 * d + 8.0)? * u * F::min_positive_value(),
            max_scale: F::max_value() / F::from_f64(4.0)?,
        })
    }

    /// The tolerance `tau` of a row with computed `|z|^2 = z_norm`, smallest fast
    /// distance `best`, against a codebook whose largest computed squared norm is
    /// `max_codeword_norm`: `+inf` (nothing certified) when `z_norm + max_codeword_norm`
    /// exceeds [`FastSearchBound::max_scale`] or is NaN.
    pub fn tolerance(&self, z_norm: F, max_codeword_norm: F, best: F) -> F {
        let scale = z_norm + max_codeword_norm;
        if scale.is_nan() || scale > self.max_scale {
            return F::infinity();
        }
        let two = F::one() + F::one();
        let cross = max_codeword_norm + two * (z_norm.sqrt() * max_codeword_norm.sqrt());
        self.norm_factor * cross
            + self.scale_factor * scale
            + self.distance_factor * best.abs()
            + self.floor
    }
}

/// `sum_i (z_i - e_i)^2` in `f64`, both vectors first multiplied by `scale` (a power of
/// two, so exactly unless a value becomes subnormal): the distance of the [rule](self).
///
/// The sum runs over four interleaved partial sums, `((s0 + s1) + (s2 + s3))`, so that it
/// vectorizes; the order is part of the rule, and [`nearest_codewords`] always uses it.
///
/// # Panics
/// If `z` and `e` differ in length.
///
/// # Example
/// ```
/// use lattice_vq_core::vq::squared_distance;
///
/// assert_eq!(squared_distance(&[1e200, 0.0], &[-1e200, 0.0], 1.0), f64::INFINITY);
/// let scale = 2f64.powi(-600);
/// let scaled = squared_distance(&[1e200, 0.0], &[-1e200, 0.0], scale);
/// assert_eq!(scaled, (2.0 * 1e200 * scale).powi(2)); // finite: the same comparisons
/// ```
pub fn squared_distance(z: &[f64], e: &[f64], scale: f64) -> f64 {
    assert_eq!(z.len(), e.len(), "squared_distance: lengths differ");
    let mut sums = [0.0f64; 4];
    let (z_chunks, e_chunks) = (z.chunks_exact(4), e.chunks_exact(4));
    let (z_rest, e_rest) = (z_chunks.remainder(), e_chunks.remainder());
    for (zc, ec) in z_chunks.zip(e_chunks) {
        for lane in 0..4 {
            let d = zc[lane] * scale - ec[lane] * scale;
            sums[lane] += d * d;
        }
    }
    for (lane, (&zi, &ei)) in z_rest.iter().zip(e_rest).enumerate() {
        let d = zi * scale - ei * scale;
        sums[lane] += d * d;
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3])
}

/// The power of two that [`nearest_codewords`] scales a row by before [`squared_distance`]:
/// `1` unless the row's or the codebook's largest magnitude `largest` exceeds about
/// `1e144` (only possible for `f64` inputs), then `2^-k` bringing it below `2^480`.
///
/// # Example
/// ```
/// use lattice_vq_core::vq::distance_scale;
///
/// assert_eq!(distance_scale(3.0e38), 1.0); // any f32 value
/// assert!(distance_scale(1e300) * 1e300 < 2f64.powi(480));
/// ```
pub fn distance_scale(largest: f64) -> f64 {
    if largest <= UNSCALED_LIMIT {
        return 1.0;
    }
    // largest < 2^(exponent + 1); subtract enough to land below 2^480.
    let exponent = ((largest.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    let shift = exponent + 1 - 480;
    f64::from_bits(((1023 - shift) as u64) << 52)
}

/// Check that every codebook entry is finite.
///
/// # Errors
/// [`Error::EmptyInput`] for a codebook without codewords; [`Error::NonFiniteCodeword`]
/// naming the first NaN or infinite entry in row-major order.
///
/// # Example
/// ```
/// use lattice_vq_core::{vq::check_codebook, Error};
/// use ndarray::array;
///
/// let err = check_codebook(array![[0.0f32, 1.0], [f32::NAN, 0.0]].view()).unwrap_err();
/// assert!(matches!(err, Error::NonFiniteCodeword { index: 1, col: 0, .. }));
/// ```
pub fn check_codebook<F: LatticeFloat>(codebook: ArrayView2<F>) -> Result<()> {
    if codebook.nrows() == 0 {
        return Err(Error::EmptyInput { what: "codebook" });
    }
    for (index, e) in codebook.outer_iter().enumerate() {
        if let Some(col) = e.iter().position(|x| !x.is_finite()) {
            let value = e[col].to_f64().unwrap_or(f64::NAN);
            return Err(Error::NonFiniteCodeword { index, col, value });
        }
    }
    Ok(())
}

/// Index of the nearest codeword of each latent row, by squared Euclidean distance (Eq. 1),
/// as the [rule](self) defines it: exact ties go to the lowest index, like `torch.argmin`
/// (the official VQ-EMA checkpoint has duplicate codewords).
///
/// Most rows are decided by the certified fast path of the [module documentation](self),
/// one matrix product per block of 256 rows; the others by [`squared_distance`].
///
/// # Shapes
/// `codebook`: `(K, D)`, `K >= 1`; `latents`: `(N, D)`, `N >= 1`. Returns `(N,)`.
///
/// # Errors
/// [`Error::EmptyInput`] for an empty codebook or batch, [`Error::ShapeMismatch`] if the
/// dimensions differ, [`Error::NonFiniteCodeword`] for a NaN or infinite codebook entry
/// (checked first), [`Error::NonFiniteLatent`] for a NaN or infinite latent.
///
/// # Example
/// ```
/// use lattice_vq_core::vq::nearest_codewords;
/// use ndarray::array;
///
/// let codebook = array![[0.0f32, 0.0], [1.0, 1.0], [1.0, 1.0]];
/// let indices = nearest_codewords(codebook.view(), array![[0.9, 0.8], [0.1, 0.0]].view())?;
/// assert_eq!(indices.to_vec(), vec![1, 0]); // the tie between 1 and 2 goes to 1
/// // |z|^2 overflows f32 here; the rule still finds the codeword equal to the latent.
/// let huge = array![[0.0f32, 0.0], [1e20, -1e20]];
/// assert_eq!(nearest_codewords(huge.view(), array![[1e20, -1e20]].view())?[0], 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nearest_codewords<F: LatticeFloat + ndarray::LinalgScalar>(
    codebook: ArrayView2<F>,
    latents: ArrayView2<F>,
) -> Result<Array1<usize>> {
    let mut indices = Array1::zeros(latents.nrows());
    nearest_codewords_into(codebook, latents, indices.view_mut())?;
    Ok(indices)
}

/// [`nearest_codewords`] into a caller-provided index buffer of shape `(N,)`.
///
/// Allocates one `(256, K)` distance block per call, not per row, and an `f64` copy of the
/// codebook only when some row is decided by the rule.
///
/// # Errors
/// As [`nearest_codewords`], plus [`Error::ShapeMismatch`] for a wrong `indices` length.
///
/// # Example
/// ```
/// use lattice_vq_core::vq::nearest_codewords_into;
/// use ndarray::{array, Array1};
///
/// let mut indices = Array1::zeros(1);
/// nearest_codewords_into(array![[0.0f64], [4.0]].view(), array![[3.0]].view(), indices.view_mut())?;
/// assert_eq!(indices[0], 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nearest_codewords_into<F: LatticeFloat + ndarray::LinalgScalar>(
    codebook: ArrayView2<F>,
    latents: ArrayView2<F>,
    mut indices: ArrayViewMut1<usize>,
) -> Result<()> {
    if codebook.nrows() == 0 {
        return Err(Error::EmptyInput { what: "codebook" });
    }
    if latents.nrows() == 0 {
        return Err(Error::EmptyInput { what: "latents" });
    }
    if latents.ncols() != codebook.ncols() {
        return Err(Error::ShapeMismatch {
            what: "latents",
            expected: vec![latents.nrows(), codebook.ncols()],
            found: latents.shape().to_vec(),
        });
    }
    check_same_shape("indices", indices.shape(), &[latents.nrows()])?;
    check_codebook(codebook)?;
    let codeword_norms: Array1<F> = codebook.rows().into_iter().map(|e| e.dot(&e)).collect();
    let max_codeword_norm = codeword_norms.iter().copied().fold(F::zero(), F::max);
    let bound = FastSearchBound::<F>::new(codebook.ncols());
    let mut exact = ExactSearch::new(codebook);
    let two = F::one() + F::one();
    for (block_index, block) in latents.axis_chunks_iter(Axis(0), BLOCK_ROWS).enumerate() {
        let first_row = block_index * BLOCK_ROWS;
        let dots = block.dot(&codebook.t());
        for (offset, (z, dot_row)) in block.outer_iter().zip(dots.outer_iter()).enumerate() {
            let row = first_row + offset;
            if let Some(col) = z.iter().position(|x| !x.is_finite()) {
                let value = z[col].to_f64().unwrap_or(f64::NAN);
                return Err(Error::NonFiniteLatent { row, col, value });
            }
            let z_norm = z.dot(&z);
            let fast_distances = dot_row
                .iter()
                .zip(&codeword_norms)
                .map(|(&dot, &e_norm)| z_norm + e_norm - two * dot);
            // The smallest fast distance (lowest index among equals) and the next one.
            let (mut best, mut best_distance, mut second) = (0, F::infinity(), F::infinity());
            for (k, distance) in fast_distances.clone().enumerate() {
                if distance < best_distance {
                    (best, best_distance, second) = (k, distance, best_distance);
                } else if distance < second {
                    second = distance;
                }
            }
            let tolerance = bound.map_or(F::infinity(), |bound| {
                bound.tolerance(z_norm, max_codeword_norm, best_distance)
            });
            let window = best_distance + tolerance;
            indices[row] = if second > window || codebook.nrows() == 1 {
                best
            } else {
                // Only codewords inside the window can be the rule's minimum: outside it,
                // step 3 of `FastSearchBound`'s proof puts them above `best`. An infinite
                // window (overflowed squares) keeps every codeword.
                let keep_all = !window.is_finite();
                let candidates = fast_distances
                    .enumerate()
                    .filter(|&(_, distance)| keep_all || distance <= window)
                    .map(|(k, _)| k);
                exact.nearest(z, candidates)
            };
        }
    }
    Ok(())
}

/// [`nearest_codewords`] over row-major slices of rows of length `dim`: for callers
/// (the tch layer) that hold host copies of tensors rather than `ndarray` arrays.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `dim` is 0 or does not divide both lengths, then as
/// [`nearest_codewords`].
///
/// # Example
/// ```
/// use lattice_vq_core::vq::nearest_codewords_in_slices;
///
/// let indices = nearest_codewords_in_slices(&[0.0f32, 0.0, 1.0, 1.0], &[0.9, 0.8], 2)?;
/// assert_eq!(indices, vec![1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nearest_codewords_in_slices<F: LatticeFloat + ndarray::LinalgScalar>(
    codebook: &[F],
    latents: &[F],
    dim: usize,
) -> Result<Vec<usize>> {
    let codebook = rows_view("codebook", codebook, dim)?;
    let latents = rows_view("latents", latents, dim)?;
    Ok(nearest_codewords(codebook, latents)?.to_vec())
}

/// [`check_codebook`] over a row-major slice of codewords of length `dim`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `dim` is 0 or does not divide the length, then as
/// [`check_codebook`].
///
/// # Example
/// ```
/// use lattice_vq_core::{vq::check_codebook_in_slice, Error};
///
/// let err = check_codebook_in_slice(&[0.0f64, 1.0, 2.0, f64::INFINITY], 2).unwrap_err();
/// assert!(matches!(err, Error::NonFiniteCodeword { index: 1, col: 1, .. }));
/// ```
pub fn check_codebook_in_slice<F: LatticeFloat>(codebook: &[F], dim: usize) -> Result<()> {
    check_codebook(rows_view("codebook", codebook, dim)?)
}

/// A row-major slice as `(len / dim, dim)` rows.
fn rows_view<'a, F>(what: &'static str, values: &'a [F], dim: usize) -> Result<ArrayView2<'a, F>> {
    if dim == 0 || !values.len().is_multiple_of(dim) {
        return Err(Error::ShapeMismatch {
            what,
            expected: vec![values.len() / dim.max(1), dim],
            found: vec![values.len()],
        });
    }
    Ok(ArrayView2::from_shape((values.len() / dim, dim), values)
        .expect("the length is a multiple of dim"))
}

/// The rule's search over some candidate codewords.
struct ExactSearch<'a, F> {
    codebook: ArrayView2<'a, F>,
    /// The codebook's largest magnitude, computed on first use.
    codebook_max: Option<f64>,
    row: Vec<f64>,
    codeword: Vec<f64>,
}

impl<'a, F: LatticeFloat> ExactSearch<'a, F> {
    fn new(codebook: ArrayView2<'a, F>) -> Self {
        Self {
            codebook,
            codebook_max: None,
            row: Vec::with_capacity(codebook.ncols()),
            codeword: Vec::with_capacity(codebook.ncols()),
        }
    }

    /// The rule's nearest codeword to a finite row `z` among `candidates` (ascending).
    fn nearest(&mut self, z: ArrayView1<F>, candidates: impl Iterator<Item = usize>) -> usize {
        let widen = |x: &F| x.to_f64().unwrap_or(f64::NAN);
        let codebook = self.codebook;
        let codebook_max = *self
            .codebook_max
            .get_or_insert_with(|| codebook.iter().fold(0.0f64, |m, x| m.max(widen(x).abs())));
        self.row.clear();
        self.row.extend(z.iter().map(widen));
        let largest = self.row.iter().fold(codebook_max, |m, x| m.max(x.abs()));
        let scale = distance_scale(largest);
        let mut best = (0, f64::INFINITY);
        for k in candidates {
            self.codeword.clear();
            self.codeword.extend(codebook.row(k).iter().map(widen));
            let distance = squared_distance(&self.row, &self.codeword, scale);
            // Strict `<` keeps the lowest index on exact ties, as torch.argmin does.
            if distance < best.1 {
                best = (k, distance);
            }
        }
        best.0
    }
}
