//! Finite scalar quantization (FSQ, Mentzer et al. 2023, "Finite Scalar Quantization: VQ-VAE
//! Made Simple") as vector-quantize-pytorch 1.32.0 computes it with its default options: a
//! tanh bound, unit steps rounded to the nearest level, codes scaled to `[-1, 1]`. It is the
//! fixed-step member of the bounded family (`bounded.rs`): nothing is learned.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use super::{Lattice, decode_digits};
use crate::error::{Error, Result};
use crate::float::{LatticeFloat, from_f64, to_f64};
use crate::mixed_radix::MixedRadix;
use crate::shape::{
    check_finite_latent_slice, check_finite_latents, check_rows, check_same_shape,
    check_step_shapes,
};

/// The reference's `eps`: the bound reaches `(l - 1)(1 + eps) / 2`, slightly past the
/// outermost level, so that it is reached with a finite latent.
const BOUND_EPS: f64 = 1e-3;

/// FSQ over D dimensions of `l_i` levels each (`K = prod_i l_i` codes).
///
/// In dimension `i`, with `h = (l - 1)(1 + eps) / 2`, `s = 0.5` for an even `l` (0 for an
/// odd one) and `w = floor(l / 2)`:
///
/// - the bound `y = tanh(z + atanh(s / h)) h - s` (the half-step shift makes an even count's
///   levels symmetric about zero after rounding);
/// - the digit `k = round(y) + w`, in `0..l` (ties to even, as `torch.round`);
/// - the point (FSQ's "code") `(k - w) / w`, in `[-1, 1]`.
///
/// Each constant is computed in `F` in the reference's order of operations, so f32 inputs
/// give its values. Token indices are mixed radix with dimension 0 least significant, the
/// reference's `codes_to_indices`.
///
/// Differences from the reference, all on inputs it does not handle: latents must be finite
/// (it maps infinities to the outermost levels); digits are clamped to `0..l` (for
/// `l > 1001` its bound can round one level past the box, giving an index out of range);
/// indices are exact integers for any `K <= 2^64` (it sums them in `f32` and casts to
/// `int32`). Two levels are accepted (the reference asks for `preserve_symmetry` there).
///
/// As a [`Lattice`] it has no parameters and no losses; its points are the closest levels to
/// the *bounded* latent, not to `z` ([`Lattice::is_exact`] is false). A layer's
/// straight-through output is `bounded + sg(points - bounded)` with
/// [`FiniteScalarQuantizer::bounded`], so gradients flow through the tanh.
///
/// # Example
/// ```
/// use lattice_vq_core::{FiniteScalarQuantizer, Lattice};
/// use ndarray::array;
///
/// let fsq = FiniteScalarQuantizer::<f32>::new(&[5, 4])?;
/// let q = fsq.quantize(array![[0.0f32, 0.0], [100.0, -100.0]].view())?;
/// assert_eq!(q.codes, array![[2, 2], [4, 0]]);
/// assert_eq!(q.points, array![[0.0, 0.0], [1.0, -1.0]]);
/// assert_eq!(fsq.codes_to_indices(q.codes.view())?.to_vec(), vec![12, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FiniteScalarQuantizer<F: LatticeFloat> {
    radix: MixedRadix,
    /// `h = (l - 1)(1 + eps) / 2`.
    half_range: Vec<F>,
    /// `s`: 0.5 for even level counts, 0 for odd ones.
    half_step: Vec<F>,
    /// `atanh(s / h)`.
    shift: Vec<F>,
    /// `w = floor(l / 2)`.
    half_width: Vec<F>,
    /// `l - 1`.
    top: Vec<F>,
}

impl<F: LatticeFloat> FiniteScalarQuantizer<F> {
    /// FSQ with `levels[i]` levels in dimension `i`.
    ///
    /// # Errors
    /// [`MixedRadix::new`]'s errors ([`Error::ZeroDim`], [`Error::InvalidConfig`] for a count
    /// outside `2..=2^31`, [`Error::CodebookOverflow`]); [`Error::InvalidConfig`] for a count
    /// whose digits `F` cannot represent exactly (more than `2^24` in `f32`).
    pub fn new(levels: &[u32]) -> Result<Self> {
        let radix = MixedRadix::new(levels)?;
        let mut fsq = Self {
            radix,
            half_range: Vec::new(),
            half_step: Vec::new(),
            shift: Vec::new(),
            half_width: Vec::new(),
            top: Vec::new(),
        };
        let (one, two) = (F::one(), from_f64::<F>(2.0));
        let one_plus_eps = from_f64::<F>(1.0 + BOUND_EPS);
        for &l in levels {
            let top = F::from_code(i32::try_from(l - 1).unwrap_or(i32::MAX));
            if to_f64(top) != f64::from(l - 1) {
                return Err(Error::InvalidConfig {
                    field: "levels",
                    value: l.to_string(),
                    requirement: "every digit 0..l must be exact in the float type \
                                  (at most 2^24 levels in f32)",
                });
            }
            let half_range = top * one_plus_eps / two;
            let half_step = if l.is_multiple_of(2) {
                one / two
            } else {
                F::zero()
            };
            fsq.shift
                .push(from_f64(to_f64(half_step / half_range).atanh()));
            fsq.half_range.push(half_range);
            fsq.half_step.push(half_step);
            fsq.half_width.push(from_f64(f64::from(l / 2)));
            fsq.top.push(top);
        }
        Ok(fsq)
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.top.len()
    }

    /// The level counts `l_i`.
    pub fn levels(&self) -> &[u32] {
        self.radix.levels()
    }

    /// The token index arithmetic.
    pub fn radix(&self) -> &MixedRadix {
        &self.radix
    }

    /// The per-dimension constants `(h, s, atanh(s / h), w)` of the bound and the points, as
    /// quantization uses them: adapters that compute FSQ with tensor ops take these bits.
    pub fn constants(&self) -> (&[F], &[F], &[F], &[F]) {
        (
            &self.half_range,
            &self.half_step,
            &self.shift,
            &self.half_width,
        )
    }

    /// The bound `y = tanh(z + atanh(s / h)) h - s` of latent `z` in dimension `col`.
    #[inline(always)]
    fn bound(&self, col: usize, z: F) -> F {
        tanh(z + self.shift[col]) * self.half_range[col] - self.half_step[col]
    }

    /// The digit of `z` in dimension `col` (clamped to `0..l`), and whether it was clamped.
    #[inline(always)]
    fn digit(&self, col: usize, z: F) -> (F, bool) {
        let k = self.bound(col, z).round_ties_even_fast() + self.half_width[col];
        let clamped = k.max(F::zero()).min(self.top[col]);
        (clamped, clamped != k)
    }

    /// The point `(k - w) / w` of digit `k`, as the reference's `_scale_and_shift_inverse`.
    #[inline(always)]
    fn point(&self, col: usize, k: F) -> F {
        (k - self.half_width[col]) / self.half_width[col] + F::zero()
    }

    /// The continuous value a layer's straight-through output follows: the bound scaled as
    /// the points, `y / w`, shape `(N, D)`. Its rounding to the nearest level is the point.
    ///
    /// # Errors
    /// [`Error::EmptyInput`], [`Error::ShapeMismatch`], [`Error::NonFiniteLatent`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{FiniteScalarQuantizer, Lattice};
    /// use ndarray::array;
    ///
    /// let fsq = FiniteScalarQuantizer::<f64>::new(&[3])?;
    /// let latents = array![[0.3], [-2.0]];
    /// let bounded = fsq.bounded(latents.view())?;
    /// assert!((bounded[[0, 0]] - 0.3f64.tanh() * 1.001).abs() < 1e-15);
    /// let points = fsq.quantize(latents.view())?.points;
    /// assert_eq!(points, bounded.mapv(f64::round));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bounded(&self, latents: ArrayView2<F>) -> Result<Array2<F>> {
        check_rows(self.dim(), "latents", latents.shape())?;
        check_finite_latents(latents)?;
        let mut out = Array2::zeros(latents.raw_dim());
        for (z_row, mut out_row) in latents.outer_iter().zip(out.outer_iter_mut()) {
            for (col, (out, &z)) in out_row.iter_mut().zip(z_row).enumerate() {
                *out = self.bound(col, z) / self.half_width[col];
            }
        }
        Ok(out)
    }

    /// Quantize and count clamped digits (none for `l <= 1001`).
    fn quantize_counting(
        &self,
        latents: ArrayView2<F>,
        mut codes: ArrayViewMut2<i32>,
        mut points: ArrayViewMut2<F>,
    ) -> Result<u64> {
        check_step_shapes(self.dim(), latents.shape(), codes.shape(), points.shape())?;
        check_finite_latents(latents)?;
        let mut clamped = 0u64;
        for ((z_row, mut code_row), mut point_row) in latents
            .outer_iter()
            .zip(codes.outer_iter_mut())
            .zip(points.outer_iter_mut())
        {
            for (col, &z) in z_row.iter().enumerate() {
                let (k, outside) = self.digit(col, z);
                clamped += u64::from(outside);
                code_row[col] = k.to_code_unchecked();
                point_row[col] = self.point(col, k);
            }
        }
        Ok(clamped)
    }
}

/// `tanh` correctly rounded to `F` (computed in `f64`): libtorch's vectorized f32 `tanh` agrees
/// with it at the rounding boundaries the peer-parity test probes, where the C library's
/// `tanhf` is an ulp off (`tests/fsq_peer.rs`).
#[inline(always)]
fn tanh<F: LatticeFloat>(x: F) -> F {
    from_f64(to_f64(x).tanh())
}

impl<F: LatticeFloat> Lattice<F> for FiniteScalarQuantizer<F> {
    fn dim(&self) -> usize {
        FiniteScalarQuantizer::dim(self)
    }

    /// False: the point is the closest level to the bounded latent, not to `z`.
    fn is_exact(&self) -> bool {
        false
    }

    /// None: FSQ learns nothing.
    fn parameters(&self) -> &[F] {
        &[]
    }

    fn with_parameters(&self, parameters: &[F]) -> Result<Self> {
        check_same_shape("parameters", &[parameters.len()], &[0])?;
        Ok(self.clone())
    }

    fn validate_latents(&self, latents: &[F]) -> Result<()> {
        check_finite_latent_slice(self.dim(), latents)
    }

    /// # Errors
    /// [`Error::EmptyInput`], [`Error::ShapeMismatch`], [`Error::NonFiniteLatent`].
    fn quantize_into(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayViewMut2<i32>,
        points: ArrayViewMut2<F>,
    ) -> Result<()> {
        self.quantize_counting(latents, codes, points).map(|_| ())
    }

    /// # Errors
    /// [`Error::EmptyInput`], [`Error::ShapeMismatch`], [`Error::CodeOutOfRange`].
    fn decode_into(&self, codes: ArrayView2<i32>, points: ArrayViewMut2<F>) -> Result<()> {
        decode_digits(&self.radix, codes, points, |col, k| self.point(col, k))
    }

    /// No parameters: an empty gradient (after the shape checks).
    fn embedding_loss_gradient(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayView2<i32>,
        points: ArrayView2<F>,
    ) -> Result<Array1<F>> {
        check_step_shapes(self.dim(), latents.shape(), codes.shape(), points.shape())?;
        Ok(Array1::zeros(0))
    }

    /// FSQ has no size loss.
    fn size_loss(&self) -> F {
        F::zero()
    }

    fn size_loss_gradient(&self) -> Array1<F> {
        Array1::zeros(0)
    }

    fn codebook_size(&self) -> Option<u128> {
        Some(self.radix.codebook_size())
    }

    fn codes_to_indices(&self, codes: ArrayView2<i32>) -> Result<Array1<u64>> {
        self.radix.indices(codes)
    }

    fn indices_to_codes(&self, indices: ArrayView1<u64>) -> Result<Array2<i32>> {
        self.radix.codes(indices)
    }

    /// Digits clamped to `0..l` (the bound keeps every digit inside for `l <= 1001`).
    fn overloaded(&self, latents: ArrayView2<F>) -> Result<u64> {
        let mut codes = Array2::zeros(latents.raw_dim());
        let mut points = Array2::zeros(latents.raw_dim());
        self.quantize_counting(latents, codes.view_mut(), points.view_mut())
    }
}
