//! The bounded diagonal lattice: a finite box of `K = prod_i l_i` points with a learnable step
//! per dimension (and optionally a learnable offset), its exact nearest-point quantization,
//! its token indices ([`MixedRadix`]) and the gradients of the embedding loss with respect to
//! steps and offsets. FSQ (`fsq.rs`) is its fixed-step member.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

use super::diagonal::validate_basis;
use super::{Lattice, decode_digits};
use crate::error::{Error, Result};
use crate::float::{LatticeFloat, from_f64, to_f64};
use crate::mixed_radix::MixedRadix;
use crate::shape::{check_finite_latent_slice, check_rows, check_same_shape, check_step_shapes};

/// A bounded diagonal lattice: in dimension `i`, the `l_i` points
/// `c_i + b_i * (k_i - (l_i - 1) / 2)` for `k_i in 0..l_i`, with a learnable step `b_i` and
/// an offset `c_i` (zero and fixed, or learnable).
///
/// The codebook is the box of all `K = prod_i l_i` combinations; a code is the digit vector
/// `k` (each digit in `0..l_i`, not centred) and its token index the mixed-radix number of
/// [`MixedRadix`] (dimension 0 least significant). Odd and even level counts are both
/// allowed: with zero offset an odd count has a point at 0, an even count points at
/// `+-b/2, +-3b/2, ...`.
///
/// Quantization is the exact nearest point of the box, separable by dimension: the rounded
/// coordinate `round((z - c) / b + (l - 1) / 2)` clamped to `0..l`, ties to the even digit.
/// A latent scalar whose rounded coordinate had to be clamped lies outside the box; those are
/// counted as *overload* ([`Lattice::overloaded`]).
///
/// Steps are validated like the diagonal basis ([`crate::DiagonalLattice::new`]: finite,
/// magnitude within [`LatticeFloat::MIN_BASIS_MAGNITUDE`] and
/// [`LatticeFloat::MAX_BASIS_MAGNITUDE`]); a negative step mirrors the digits and leaves the
/// points unchanged. Offsets must be finite with `|c| <= MAX_BASIS_MAGNITUDE`.
///
/// [`Lattice::parameters`] are the D steps, then (when learned) the D offsets.
///
/// # Example
/// ```
/// use lattice_vq_core::{BoundedLattice, Lattice};
/// use ndarray::array;
///
/// // 3 levels of step 1 (points -1, 0, 1) and 4 levels of step 0.5 (-0.75, -0.25, 0.25, 0.75).
/// let lattice = BoundedLattice::<f32>::new(&[3, 4], &[1.0, 0.5])?;
/// assert_eq!(lattice.codebook_size(), Some(12));
/// let q = lattice.quantize(array![[0.4f32, 9.0], [-7.0, -0.3]].view())?;
/// assert_eq!(q.codes, array![[1, 3], [0, 1]]);
/// assert_eq!(q.points, array![[0.0, 0.75], [-1.0, -0.25]]);
/// assert_eq!(lattice.codes_to_indices(q.codes.view())?.to_vec(), vec![10, 3]);
/// assert_eq!(lattice.overloaded(array![[0.4f32, 9.0], [-7.0, -0.3]].view())?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedLattice<F: LatticeFloat> {
    radix: MixedRadix,
    /// Steps `b`, then the offsets `c` when they are learned.
    parameters: Vec<F>,
    /// Offsets `c`: the learned ones, or zeros.
    offset: Vec<F>,
    learns_offset: bool,
    /// `1 / b`, rounded once.
    reciprocal: Vec<F>,
    /// `(l - 1) / 2`, exact.
    centre: Vec<F>,
    /// `l - 1`, the largest digit, exact.
    top: Vec<F>,
    /// Mixed-radix strides in `u64`, when every index fits (`K <= 2^64`).
    strides: Option<Vec<u64>>,
    /// Whether every digit is below [`LatticeFloat::FAST_CODE_LIMIT`].
    fast_codes: bool,
    /// The per-dimension constants repeated for [`TILE_ROWS`] rows, so that the hot loop runs
    /// over whole tiles of rows and vectorizes whatever D is.
    tiles: Tiles<F>,
}

/// Rows per tile of the hot loop: 16 rows of any D fill whole vector registers.
const TILE_ROWS: usize = 16;

/// The constants of quantization for [`TILE_ROWS`] consecutive rows, element by element.
#[derive(Debug, Clone, PartialEq)]
struct Tiles<F> {
    step: Vec<F>,
    offset: Vec<F>,
    reciprocal: Vec<F>,
    centre: Vec<F>,
    top: Vec<F>,
}

impl<F: Copy> Tiles<F> {
    fn new(step: &[F], offset: &[F], reciprocal: &[F], centre: &[F], top: &[F]) -> Self {
        let tile = |values: &[F]| values.repeat(TILE_ROWS);
        Self {
            step: tile(step),
            offset: tile(offset),
            reciprocal: tile(reciprocal),
            centre: tile(centre),
            top: tile(top),
        }
    }
}

impl<F: LatticeFloat> BoundedLattice<F> {
    /// The box with `levels[i]` points of step `step[i]` in dimension `i`, centred on zero
    /// (offsets fixed at 0, not learned).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the lengths differ; [`MixedRadix::new`]'s errors for the
    /// levels ([`Error::ZeroDim`], [`Error::InvalidConfig`], [`Error::CodebookOverflow`]);
    /// [`Error::InvalidConfig`] for a level count whose largest digit `F` cannot represent
    /// exactly (more than `2^24` levels in `f32`); the diagonal basis's errors for the steps.
    pub fn new(levels: &[u32], step: &[F]) -> Result<Self> {
        Self::build(levels, step, None)
    }

    /// [`BoundedLattice::new`] with a learnable offset `offset[i]` in each dimension.
    ///
    /// # Errors
    /// As [`BoundedLattice::new`], plus [`Error::ShapeMismatch`] for an offset of another
    /// length and [`Error::OffsetOutOfRange`] for a non-finite or too large entry.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{BoundedLattice, Lattice};
    /// use ndarray::array;
    ///
    /// let lattice = BoundedLattice::<f64>::with_offset(&[2], &[1.0], &[10.0])?;
    /// assert_eq!(lattice.parameters(), &[1.0, 10.0]);
    /// assert_eq!(lattice.decode(array![[0], [1]].view())?, array![[9.5], [10.5]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_offset(levels: &[u32], step: &[F], offset: &[F]) -> Result<Self> {
        Self::build(levels, step, Some(offset))
    }

    fn build(levels: &[u32], step: &[F], offset: Option<&[F]>) -> Result<Self> {
        let radix = MixedRadix::new(levels)?;
        let dim = levels.len();
        check_same_shape("step", &[step.len()], &[dim])?;
        validate_basis(ArrayView1::from(step))?;
        if let Some(offset) = offset {
            check_same_shape("offset", &[offset.len()], &[dim])?;
            validate_offset(offset)?;
        }
        let top = levels
            .iter()
            .map(|&l| {
                let top = F::from_code(i32::try_from(l - 1).unwrap_or(i32::MAX));
                if to_f64(top) == f64::from(l - 1) {
                    Ok(top)
                } else {
                    Err(Error::InvalidConfig {
                        field: "levels",
                        value: l.to_string(),
                        requirement: "every digit 0..l must be exact in the float type \
                                      (at most 2^24 levels in f32)",
                    })
                }
            })
            .collect::<Result<Vec<F>>>()?;
        let half = from_f64::<F>(0.5);
        let centre: Vec<F> = top.iter().map(|&t| t * half).collect();
        let offset_learned = offset.is_some();
        let strides = (radix.codebook_size() <= u128::from(u64::MAX) + 1).then(|| {
            let mut stride = 1u64;
            levels
                .iter()
                .map(|&l| {
                    let this = stride;
                    stride = stride.wrapping_mul(u64::from(l));
                    this
                })
                .collect()
        });
        let mut parameters = step.to_vec();
        parameters.extend_from_slice(offset.unwrap_or(&[]));
        let offset = offset.map_or_else(|| vec![F::zero(); dim], <[F]>::to_vec);
        let reciprocal: Vec<F> = step.iter().map(|&b| F::one() / b).collect();
        let tiles = Tiles::new(step, &offset, &reciprocal, &centre, &top);
        Ok(Self {
            radix,
            parameters,
            offset,
            learns_offset: offset_learned,
            reciprocal,
            centre,
            fast_codes: top.iter().all(|&t| t < F::FAST_CODE_LIMIT),
            top,
            strides,
            tiles,
        })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.top.len()
    }

    /// The level counts `l_i`.
    pub fn levels(&self) -> &[u32] {
        self.radix.levels()
    }

    /// The token index arithmetic of this box.
    pub fn radix(&self) -> &MixedRadix {
        &self.radix
    }

    /// The steps `b`, shape `(D,)`.
    pub fn step(&self) -> &[F] {
        &self.parameters[..self.dim()]
    }

    /// The offsets `c` (zeros unless learned), shape `(D,)`.
    pub fn offset(&self) -> &[F] {
        &self.offset
    }

    /// Whether the offsets are learnable parameters.
    pub fn learns_offset(&self) -> bool {
        self.learns_offset
    }

    /// Quantize `(N, D)` latents into codes, points and token indices in one pass, and
    /// return how many latent scalars lay outside the box (their coordinate was clamped).
    ///
    /// # Errors
    /// [`Error::EmptyInput`], [`Error::ShapeMismatch`] (any buffer), [`Error::NonFiniteLatent`],
    /// [`Error::CodebookOverflow`] if `K > 2^64` (no `u64` indices).
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::BoundedLattice;
    /// use ndarray::{array, Array1, Array2};
    ///
    /// let lattice = BoundedLattice::<f32>::new(&[5, 2], &[0.5, 2.0])?;
    /// let latents = array![[0.6f32, 1.5], [-2.0, -0.1]];
    /// let (mut codes, mut points) = (Array2::zeros((2, 2)), Array2::zeros((2, 2)));
    /// let mut indices = Array1::zeros(2);
    /// let overloaded = lattice.quantize_indices_into(
    ///     latents.view(), codes.view_mut(), points.view_mut(), indices.view_mut())?;
    /// assert_eq!(codes, array![[3, 1], [0, 0]]);
    /// assert_eq!(indices.to_vec(), vec![3 + 5, 0]);
    /// assert_eq!(overloaded, 1); // -2.0 lies beyond the outermost point -1.0 by more than half a step
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quantize_indices_into(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayViewMut2<i32>,
        points: ArrayViewMut2<F>,
        mut indices: ArrayViewMut1<u64>,
    ) -> Result<u64> {
        let Some(strides) = &self.strides else {
            return Err(Error::CodebookOverflow {
                levels: self.dim(),
                index_type: "u64",
            });
        };
        check_same_shape("indices", indices.shape(), &latents.shape()[..1])?;
        self.quantize_rows(latents, codes, points, |row, code| {
            indices[row] = code
                .iter()
                .zip(strides)
                .fold(0u64, |index, (&k, &s)| index + k as u64 * s);
        })
    }

    /// The one quantization loop: `on_row(row, codes)` sees each finished row of codes.
    /// Rows that are not contiguous go through a scratch row, so every row takes the same
    /// vectorizable inner loop ([`BoundedLattice::quantize_row`]).
    fn quantize_rows(
        &self,
        latents: ArrayView2<F>,
        mut codes: ArrayViewMut2<i32>,
        mut points: ArrayViewMut2<F>,
        mut on_row: impl FnMut(usize, &[i32]),
    ) -> Result<u64> {
        let dim = self.dim();
        check_rows(dim, "latents", latents.shape())?;
        check_same_shape("codes", codes.shape(), latents.shape())?;
        check_same_shape("points", points.shape(), latents.shape())?;
        if let (Some(z), Some(k), Some(e)) = (
            latents.as_slice(),
            codes.as_slice_mut(),
            points.as_slice_mut(),
        ) {
            return self.quantize_contiguous(z, k, e, on_row);
        }
        let mut overloaded = 0u64;
        let (mut z_scratch, mut k_scratch, mut e_scratch) =
            (vec![F::zero(); dim], vec![0i32; dim], vec![F::zero(); dim]);
        for (row, ((z_row, mut code_row), mut point_row)) in latents
            .outer_iter()
            .zip(codes.outer_iter_mut())
            .zip(points.outer_iter_mut())
            .enumerate()
        {
            let z = match z_row.as_slice() {
                Some(z) => z,
                None => {
                    z_scratch.iter_mut().zip(&z_row).for_each(|(s, &z)| *s = z);
                    &z_scratch
                }
            };
            let (finite, outside) = match (code_row.as_slice_mut(), point_row.as_slice_mut()) {
                (Some(k), Some(e)) => {
                    let result = self.quantize_row(z, k, e);
                    on_row(row, k);
                    result
                }
                _ => {
                    let result = self.quantize_row(z, &mut k_scratch, &mut e_scratch);
                    code_row.assign(&ArrayView1::from(&k_scratch[..]));
                    point_row.assign(&ArrayView1::from(&e_scratch[..]));
                    on_row(row, &k_scratch);
                    result
                }
            };
            if !finite {
                let col = z.iter().position(|z| !z.is_finite()).unwrap_or(0);
                return Err(Error::NonFiniteLatent {
                    row,
                    col,
                    value: to_f64(z[col]),
                });
            }
            overloaded += outside;
        }
        Ok(overloaded)
    }

    /// [`BoundedLattice::quantize_rows`] on row-major buffers: the hot loop, a tile of
    /// [`TILE_ROWS`] rows at a time.
    fn quantize_contiguous(
        &self,
        latents: &[F],
        codes: &mut [i32],
        points: &mut [F],
        mut on_row: impl FnMut(usize, &[i32]),
    ) -> Result<u64> {
        let dim = self.dim();
        let tile = dim * TILE_ROWS;
        let mut overloaded = 0u64;
        let tiles = latents
            .chunks(tile)
            .zip(codes.chunks_mut(tile))
            .zip(points.chunks_mut(tile));
        for (index, ((z, k), e)) in tiles.enumerate() {
            let (finite, outside) = self.quantize_span(z, k, e);
            let first_row = index * TILE_ROWS;
            if !finite {
                let at = z.iter().position(|z| !z.is_finite()).unwrap_or(0);
                return Err(Error::NonFiniteLatent {
                    row: first_row + at / dim,
                    col: at % dim,
                    value: to_f64(z[at]),
                });
            }
            overloaded += outside;
            for (offset, row_codes) in k.chunks_exact(dim).enumerate() {
                on_row(first_row + offset, row_codes);
            }
        }
        Ok(overloaded)
    }

    /// One row of the generic path.
    fn quantize_row(&self, z: &[F], codes: &mut [i32], points: &mut [F]) -> (bool, u64) {
        let dim = self.dim();
        self.quantize_span(&z[..dim], &mut codes[..dim], &mut points[..dim])
    }

    /// Whole rows starting at a row boundary, at most a tile: digits
    /// `clamp(round((z - c) / b + (l - 1) / 2), 0, l - 1)` (ties to even), points, whether
    /// every latent was finite, and how many digits were clamped. NaN gives garbage digits
    /// here; the caller refuses the rows.
    #[inline]
    fn quantize_span(&self, z: &[F], codes: &mut [i32], points: &mut [F]) -> (bool, u64) {
        let t = &self.tiles;
        let n = z.len();
        let constants = t.step[..n]
            .iter()
            .zip(&t.offset[..n])
            .zip(&t.reciprocal[..n])
            .zip(&t.centre[..n])
            .zip(&t.top[..n]);
        let (mut finite, mut outside) = (true, 0u32);
        let lanes = z.iter().zip(codes.iter_mut()).zip(points.iter_mut());
        for (((&z, code), point), ((((&b, &c), &r), &h), &top)) in lanes.zip(constants) {
            let k = ((z - c) * r + h).round_ties_even_fast();
            let low = if k < F::zero() { F::zero() } else { k };
            let clamped = if low > top { top } else { low };
            finite &= z.is_finite();
            outside += u32::from(clamped != k);
            *point = c + b * (clamped - h) + F::zero();
            // Below the limit by construction (`fast_codes`); a NaN row is refused anyway.
            *code = if self.fast_codes {
                clamped.to_code_fast()
            } else {
                clamped.to_code_unchecked()
            };
        }
        (finite, u64::from(outside))
    }

    /// The point `c + b (k - (l - 1) / 2)` of digit `k` in dimension `col`, a zero always
    /// `+0.0` (as the diagonal lattice's points).
    #[inline(always)]
    fn point(&self, col: usize, k: F) -> F {
        self.offset[col] + self.parameters[col] * (k - self.centre[col]) + F::zero()
    }
}

/// Offsets must be finite with magnitude at most `MAX_BASIS_MAGNITUDE`, so that a point
/// `c + b k` stays finite.
fn validate_offset<F: LatticeFloat>(offset: &[F]) -> Result<()> {
    for (index, &c) in offset.iter().enumerate() {
        if !(c.is_finite() && c.abs() <= F::MAX_BASIS_MAGNITUDE) {
            return Err(Error::OffsetOutOfRange {
                index,
                value: to_f64(c),
                max: to_f64(F::MAX_BASIS_MAGNITUDE),
            });
        }
    }
    Ok(())
}

impl<F: LatticeFloat> Lattice<F> for BoundedLattice<F> {
    fn dim(&self) -> usize {
        BoundedLattice::dim(self)
    }

    /// The box is a product of 1-D grids, so clamping the rounded coordinate gives a
    /// closest point of the box.
    fn is_exact(&self) -> bool {
        true
    }

    /// The steps `b`, then the offsets `c` if they are learned.
    fn parameters(&self) -> &[F] {
        &self.parameters
    }

    /// The same levels with steps (and offsets, if learned) `parameters`.
    fn with_parameters(&self, parameters: &[F]) -> Result<Self> {
        let dim = self.dim();
        let expected = if self.learns_offset { 2 * dim } else { dim };
        check_same_shape("parameters", &[parameters.len()], &[expected])?;
        let (step, offset) = parameters.split_at(dim);
        Self::build(self.levels(), step, self.learns_offset.then_some(offset))
    }

    fn validate_latents(&self, latents: &[F]) -> Result<()> {
        check_finite_latent_slice(self.dim(), latents)
    }

    /// The nearest point of the box; see [`BoundedLattice`].
    ///
    /// # Errors
    /// [`Error::EmptyInput`], [`Error::ShapeMismatch`], [`Error::NonFiniteLatent`].
    fn quantize_into(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayViewMut2<i32>,
        points: ArrayViewMut2<F>,
    ) -> Result<()> {
        self.quantize_rows(latents, codes, points, |_, _| ())
            .map(|_| ())
    }

    /// # Errors
    /// [`Error::EmptyInput`], [`Error::ShapeMismatch`], [`Error::CodeOutOfRange`] for a digit
    /// outside `0..l_i`.
    fn decode_into(&self, codes: ArrayView2<i32>, points: ArrayViewMut2<F>) -> Result<()> {
        decode_digits(&self.radix, codes, points, |col, k| self.point(col, k))
    }

    /// `d/db_j = 2/(ND) sum_n (e_nj - z_nj) (k_nj - (l_j - 1) / 2)` and, when the offsets are
    /// learned, `d/dc_j = 2/(ND) sum_n (e_nj - z_nj)`, accumulated in `f64`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{BoundedLattice, Lattice};
    /// use ndarray::array;
    ///
    /// let lattice = BoundedLattice::<f64>::with_offset(&[4], &[1.0], &[0.0])?;
    /// let latents = array![[2.0]]; // outside: k = 3, e = 1.5
    /// let q = lattice.quantize(latents.view())?;
    /// let grad = lattice.embedding_loss_gradient(latents.view(), q.codes.view(), q.points.view())?;
    /// assert_eq!(grad.to_vec(), vec![2.0 * (1.5 - 2.0) * 1.5, 2.0 * (1.5 - 2.0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn embedding_loss_gradient(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayView2<i32>,
        points: ArrayView2<F>,
    ) -> Result<Array1<F>> {
        let dim = self.dim();
        check_step_shapes(dim, latents.shape(), codes.shape(), points.shape())?;
        let mut steps = vec![0.0f64; dim];
        let mut offsets = vec![0.0f64; dim];
        for ((z_row, k_row), e_row) in latents
            .outer_iter()
            .zip(codes.outer_iter())
            .zip(points.outer_iter())
        {
            for col in 0..dim {
                let residual = to_f64(e_row[col]) - to_f64(z_row[col]);
                let centred = f64::from(k_row[col]) - to_f64(self.centre[col]);
                steps[col] += residual * centred;
                offsets[col] += residual;
            }
        }
        if !self.learns_offset {
            offsets.clear();
        }
        let scale = 2.0 / latents.len() as f64;
        Ok(steps
            .into_iter()
            .chain(offsets)
            .map(|sum| from_f64(scale * sum))
            .collect())
    }

    /// `-sum_i |b_i|`, the diagonal lattice's Eq. 7 over the steps (offsets do not enter).
    fn size_loss(&self) -> F {
        let sum: f64 = self.step().iter().map(|b| to_f64(b.abs())).sum();
        from_f64(-sum)
    }

    /// `-sign(b_i)` for the steps, 0 for the offsets.
    fn size_loss_gradient(&self) -> Array1<F> {
        let zeros = if self.learns_offset { self.dim() } else { 0 };
        self.step()
            .iter()
            .map(|b| -b.signum())
            .chain(std::iter::repeat_n(F::zero(), zeros))
            .collect()
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

    /// Latent scalars whose rounded coordinate lay outside `0..l_i` and was clamped.
    fn overloaded(&self, latents: ArrayView2<F>) -> Result<u64> {
        let mut codes = Array2::zeros(latents.raw_dim());
        let mut points = Array2::zeros(latents.raw_dim());
        self.quantize_rows(latents, codes.view_mut(), points.view_mut(), |_, _| ())
    }
}
