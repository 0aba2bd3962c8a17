//! Lattices: the [`Lattice`] trait that the losses and gradients call, and its
//! implementations.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the [`Lattice`] trait |
//! | `bounded.rs` | [`BoundedLattice`], a finite box of learnable steps (and offsets): nearest point, token indices, overload |
//! | `fsq.rs` | [`FiniteScalarQuantizer`], FSQ (Mentzer et al. 2023): the box's fixed-step member behind a tanh bound |
//! | `diagonal.rs` | [`DiagonalLattice`], the paper's learnable `B = diag(b)` (Eq. 5), its size loss (Eq. 7) and embedding gradient |
//! | `rounding.rs` | Babai rounding and decoding on the diagonal lattice (Eq. 3-4) |
//! | `quantized.rs` | [`Quantized`], codes and points of a batch |

mod bounded;
mod diagonal;
mod fsq;
mod quantized;
mod rounding;

pub use bounded::BoundedLattice;
pub use diagonal::DiagonalLattice;
pub use fsq::FiniteScalarQuantizer;
pub use quantized::Quantized;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use crate::error::{Error, Result};
use crate::float::LatticeFloat;

/// Decode `(N, D)` digit codes of a finite product codebook into points, `point(col, k)`
/// giving dimension `col`'s point of digit `k`: the digit rule and the loop the bounded
/// lattice and FSQ share.
fn decode_digits<F: LatticeFloat>(
    radix: &crate::mixed_radix::MixedRadix,
    codes: ArrayView2<i32>,
    mut points: ArrayViewMut2<F>,
    point: impl Fn(usize, F) -> F,
) -> Result<()> {
    radix.check_codes(codes)?;
    crate::shape::check_same_shape("points", points.shape(), codes.shape())?;
    for (code, mut point_row) in codes.outer_iter().zip(points.outer_iter_mut()) {
        for (col, (out, &k)) in point_row.iter_mut().zip(code).enumerate() {
            *out = point(col, F::from_code(k));
        }
    }
    Ok(())
}

/// A lattice quantizer over rows of length [`Lattice::dim`]: latents to integer codes and
/// lattice points, codes back to points, and the parts of the quantizer loss that depend
/// on the lattice (its learnable parameters, the embedding gradient, the size loss).
///
/// [`DiagonalLattice`] (the paper's learnable lattice) implements it today. Bounded
/// codebooks (with token indices: [`Lattice::codebook_size`], [`Lattice::codes_to_indices`]),
/// classical lattices (E8, D_n, A_n) and general bases with exact closest-point search can
/// implement it later; code written against this trait (the losses of
/// [`crate::loss`], the adapters) keeps working. Codes are always integer coordinates in
/// the lattice's own basis, `e = B v`.
///
/// # Example
/// ```
/// use lattice_vq_core::{DiagonalLattice, Lattice};
/// use ndarray::array;
///
/// fn usage<L: Lattice<f32>>(lattice: &L) -> lattice_vq_core::Result<usize> {
///     let q = lattice.quantize(array![[0.4f32, 2.6], [0.1, 2.4]].view())?;
///     assert_eq!(lattice.decode(q.codes.view())?, q.points);
///     Ok(q.codes.rows().into_iter().filter(|row| row[1] == 3).count())
/// }
/// let lattice = DiagonalLattice::<f32>::from_slice(&[1.0, 1.0])?;
/// assert_eq!(usage(&lattice)?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Lattice<F: LatticeFloat> {
    /// The dimension D of the vectors it quantizes.
    fn dim(&self) -> usize;

    /// Whether [`Lattice::quantize`] always returns a closest lattice point (as opposed to
    /// an approximation such as Babai rounding on a non-orthogonal basis).
    fn is_exact(&self) -> bool;

    /// The learnable numbers of the lattice, flat, in the order an adapter stores them as
    /// one parameter tensor: for [`DiagonalLattice`] the basis diagonal `b` (D numbers,
    /// the official `embedding.weight` of shape `(1, D)`). A general basis would give its
    /// D x D entries row-major; a fixed lattice (E8) none.
    fn parameters(&self) -> &[F];

    /// The same kind of lattice, of the same shape, with `parameters` in place of
    /// [`Lattice::parameters`], validated as the lattice's constructor validates them: how
    /// an adapter rebuilds the core lattice from its parameter tensor (after an optimiser
    /// step).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `parameters` has another length; the constructor's
    /// errors otherwise (for the diagonal: [`Error::NonFiniteBasis`],
    /// [`Error::BasisOutOfRange`]).
    fn with_parameters(&self, parameters: &[F]) -> Result<Self>
    where
        Self: Sized;

    /// Check row-major latents (`N * D` values, rows of length D) against every rule of
    /// [`Lattice::quantize`] without writing anything: the first bad element's error,
    /// computed with the same arithmetic. Adapters whose own fast check fails call it to
    /// report the error the core would (naming the row, column and value).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the length is not a multiple of D, [`Error::EmptyInput`],
    /// then as [`Lattice::quantize`].
    fn validate_latents(&self, latents: &[F]) -> Result<()>;

    /// Quantize `(N, D)` latents into `(N, D)` code and point buffers; see
    /// [`DiagonalLattice::quantize_into`] for the contract and errors.
    ///
    /// # Errors
    /// Shape mismatches, empty input, non-finite latents, codes outside `i32`.
    fn quantize_into(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayViewMut2<i32>,
        points: ArrayViewMut2<F>,
    ) -> Result<()>;

    /// Decode `(N, D)` codes into an `(N, D)` point buffer.
    ///
    /// # Errors
    /// Shape mismatches, empty input, codes outside the lattice's range.
    fn decode_into(&self, codes: ArrayView2<i32>, points: ArrayViewMut2<F>) -> Result<()>;

    /// Allocating form of [`Lattice::quantize_into`].
    ///
    /// # Errors
    /// As [`Lattice::quantize_into`].
    fn quantize(&self, latents: ArrayView2<F>) -> Result<Quantized<F>> {
        let mut codes = Array2::zeros(latents.raw_dim());
        let mut points = Array2::zeros(latents.raw_dim());
        self.quantize_into(latents, codes.view_mut(), points.view_mut())?;
        Ok(Quantized { codes, points })
    }

    /// Allocating form of [`Lattice::decode_into`].
    ///
    /// # Errors
    /// As [`Lattice::decode_into`].
    fn decode(&self, codes: ArrayView2<i32>) -> Result<Array2<F>> {
        let mut points = Array2::zeros(codes.raw_dim());
        self.decode_into(codes, points.view_mut())?;
        Ok(points)
    }

    /// `d(embedding)/d(parameters)`, the gradient of [`crate::loss::embedding_loss`]
    /// `mean((e - sg(z))^2)` with respect to [`Lattice::parameters`], with the codes `v`
    /// held constant (rounding has zero gradient) and `e = B v` the `points` decoded from
    /// them.
    ///
    /// For [`DiagonalLattice`]: `2/(ND) sum_n (e_nj - z_nj) v_nj` for each `j`, summed in
    /// `f64`.
    ///
    /// # Shapes
    /// `latents`, `codes`, `points`: `(N, D)`, `N >= 1`; returns one value per parameter.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::EmptyInput`].
    fn embedding_loss_gradient(
        &self,
        latents: ArrayView2<F>,
        codes: ArrayView2<i32>,
        points: ArrayView2<F>,
    ) -> Result<Array1<F>>;

    /// The size loss of the lattice, before its weight gamma.
    ///
    /// For [`DiagonalLattice`] Eq. 7 as the official code computes it, `-sum_i |b_i|` (a
    /// sum, not a mean). A general basis will generalise it to a function of the cell
    /// volume, `log |det B|`.
    fn size_loss(&self) -> F;

    /// `d(size)/d(parameters)`, one value per parameter (for [`DiagonalLattice`]
    /// `-sign(b_i)`).
    fn size_loss_gradient(&self) -> Array1<F>;

    /// The number of distinct codes, for a bounded lattice (a finite codebook whose codes
    /// have token indices `0..K`); `None` for an unbounded lattice such as
    /// [`DiagonalLattice`].
    fn codebook_size(&self) -> Option<u128> {
        None
    }

    /// How many latent scalars of `(N, D)` latents lie outside a bounded lattice's box (their
    /// coordinate is clamped to the outermost point: overload); 0 for a lattice without a
    /// boundary (the default).
    ///
    /// # Errors
    /// As [`Lattice::quantize`].
    fn overloaded(&self, latents: ArrayView2<F>) -> Result<u64> {
        let _ = latents;
        Ok(0)
    }

    /// The token index in `0..K` of each `(N, D)` code row, on a bounded lattice.
    ///
    /// # Errors
    /// [`Error::UnboundedLattice`] (the default, for lattices without a finite codebook);
    /// a bounded lattice adds shape errors and codes outside its codebook.
    fn codes_to_indices(&self, codes: ArrayView2<i32>) -> Result<Array1<u64>> {
        let _ = codes;
        Err(Error::UnboundedLattice {
            what: "codes_to_indices",
        })
    }

    /// The `(N, D)` code rows of token indices in `0..K`, on a bounded lattice: the inverse
    /// of [`Lattice::codes_to_indices`].
    ///
    /// # Errors
    /// [`Error::UnboundedLattice`] (the default); a bounded lattice adds indices `>= K`.
    fn indices_to_codes(&self, indices: ArrayView1<u64>) -> Result<Array2<i32>> {
        let _ = indices;
        Err(Error::UnboundedLattice {
            what: "indices_to_codes",
        })
    }
}
