//! The float types the core is generic over (`f32`, `f64`) and the few operations it needs
//! beyond [`num_traits::Float`].

use num_traits::{Float, FromPrimitive, ToPrimitive};
use std::fmt::{Debug, Display};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A float type lattice-vq-core computes in: implemented for `f32` and `f64` only (sealed).
/// It is an `ndarray` matrix-product scalar too, so that every generic core function over
/// arrays takes any `LatticeFloat`.
pub trait LatticeFloat:
    Float
    + ndarray::LinalgScalar
    + FromPrimitive
    + ToPrimitive
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
    + sealed::Sealed
{
    /// Smallest basis magnitude accepted by [`DiagonalLattice`](crate::DiagonalLattice):
    /// the square root of the smallest normal number (`2^-63`, about `1.08e-19`, for `f32`;
    /// `2^-511`, about `1.49e-154`, for `f64`).
    ///
    /// At or above it, `1 / b` is finite and squares of basis-sized quantities (the losses)
    /// are still normal numbers, so neither quantization nor training silently loses
    /// precision to denormals. The official checkpoints' smallest entry is about `4.5e-7`.
    const MIN_BASIS_MAGNITUDE: Self;

    /// Largest basis magnitude accepted: `1 / MIN_BASIS_MAGNITUDE` (`2^63` for `f32`,
    /// `2^511` for `f64`), so that the reciprocal is never denormal and `b * v` stays
    /// finite for every `i32` code.
    const MAX_BASIS_MAGNITUDE: Self;

    /// Lower bound (inclusive) of a code before its conversion to `i32`: `-2^31`.
    const CODE_MIN: Self;

    /// Upper bound (exclusive) of a code before its conversion to `i32`: `2^31`.
    ///
    /// Both bounds are exact in `f32` and `f64`; a rounded value `v` fits in `i32`
    /// exactly when `CODE_MIN <= v < CODE_MAX_EXCLUSIVE`, and NaN fails both tests.
    const CODE_MAX_EXCLUSIVE: Self;

    /// `2^(mantissa bits)`: `2^23 = 8388608` for `f32`, `2^52 = 4503599627370496` for `f64`.
    ///
    /// At or above it every float is an integer; below it, `(|x| + SHIFT) - SHIFT` rounds
    /// `|x|` half to even in the FPU's default rounding mode. This is the shift of
    /// [`LatticeFloat::round_ties_even_fast`], and of any backend that rounds with tensor
    /// ops the same way (`sign(x) * (|x| < SHIFT ? (|x| + SHIFT) - SHIFT : |x|)`).
    const ROUNDING_SHIFT: Self;

    /// Round half to even, like `torch.round` and [`f32::round_ties_even`].
    ///
    /// Written with the "add and subtract [`LatticeFloat::ROUNDING_SHIFT`]" trick so that it compiles to
    /// plain additions the autovectorizer understands, on every x86-64 level (the standard
    /// library's version is a libm call without SSE4.1). Agrees with
    /// [`f32::round_ties_even`] / [`f64::round_ties_even`] for every input, NaN and
    /// infinities included (tested exhaustively around the tie points).
    fn round_ties_even_fast(self) -> Self;

    /// Magnitude below which [`LatticeFloat::to_code_fast`] is exact: `2^22` for `f32`,
    /// `2^31` for `f64`.
    const FAST_CODE_LIMIT: Self;

    /// Convert an integral value already checked against the code bounds to `i32`.
    fn to_code_unchecked(self) -> i32;

    /// Convert an integral value with `|self| < FAST_CODE_LIMIT` to `i32` by adding
    /// `1.5 * 2^(mantissa bits)` and reading the integer out of the mantissa.
    ///
    /// Only additions and bit casts: unlike the saturating `as i32`, it vectorizes on
    /// every x86-64 level. Garbage (but no panic) outside the limit: callers check first.
    fn to_code_fast(self) -> i32;

    /// Convert a code to this float type (exact for `f64`, correctly rounded for `f32`).
    fn from_code(code: i32) -> Self;
}

impl LatticeFloat for f32 {
    const MIN_BASIS_MAGNITUDE: Self = 1.084_202_2e-19;
    const MAX_BASIS_MAGNITUDE: Self = 9_223_372_036_854_775_808.0;
    const CODE_MIN: Self = -2_147_483_648.0;
    const CODE_MAX_EXCLUSIVE: Self = 2_147_483_648.0;
    const ROUNDING_SHIFT: Self = 8_388_608.0;

    #[inline(always)]
    fn round_ties_even_fast(self) -> Self {
        // Every f32 at or above 2^23 is already an integer; below it, adding 2^23 pushes the
        // fraction out of the mantissa and the FPU's default mode rounds it half to even.
        const SHIFT: f32 = <f32 as LatticeFloat>::ROUNDING_SHIFT;
        let magnitude = self.abs();
        let rounded = (magnitude + SHIFT) - SHIFT;
        let rounded = if magnitude < SHIFT {
            rounded
        } else {
            magnitude
        };
        rounded.copysign(self)
    }

    const FAST_CODE_LIMIT: Self = 4_194_304.0;

    #[inline(always)]
    fn to_code_unchecked(self) -> i32 {
        self as i32
    }

    #[inline(always)]
    fn to_code_fast(self) -> i32 {
        const SHIFT: f32 = 12_582_912.0;
        (self + SHIFT).to_bits().wrapping_sub(SHIFT.to_bits()) as i32
    }

    #[inline(always)]
    fn from_code(code: i32) -> Self {
        code as f32
    }
}

impl LatticeFloat for f64 {
    const MIN_BASIS_MAGNITUDE: Self = 1.491_668_146_240_041_3e-154;
    const MAX_BASIS_MAGNITUDE: Self = 6.703_903_964_971_299e153;
    const CODE_MIN: Self = -2_147_483_648.0;
    const CODE_MAX_EXCLUSIVE: Self = 2_147_483_648.0;
    const ROUNDING_SHIFT: Self = 4_503_599_627_370_496.0;

    #[inline(always)]
    fn round_ties_even_fast(self) -> Self {
        const SHIFT: f64 = <f64 as LatticeFloat>::ROUNDING_SHIFT;
        let magnitude = self.abs();
        let rounded = (magnitude + SHIFT) - SHIFT;
        let rounded = if magnitude < SHIFT {
            rounded
        } else {
            magnitude
        };
        rounded.copysign(self)
    }

    const FAST_CODE_LIMIT: Self = 2_147_483_648.0;

    #[inline(always)]
    fn to_code_unchecked(self) -> i32 {
        self as i32
    }

    #[inline(always)]
    fn to_code_fast(self) -> i32 {
        const SHIFT: f64 = 6_755_399_441_055_744.0;
        (self + SHIFT).to_bits().wrapping_sub(SHIFT.to_bits()) as i32
    }

    #[inline(always)]
    fn from_code(code: i32) -> Self {
        f64::from(code)
    }
}

/// `x` widened to `f64` (exact for `f32` and `f64`; NaN if the conversion failed): how the
/// losses and gradients accumulate.
pub(crate) fn to_f64<F: LatticeFloat>(x: F) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}

/// `x` rounded to `F` (NaN if the conversion failed): how the losses and gradients return
/// their `f64` sums.
pub(crate) fn from_f64<F: LatticeFloat>(x: f64) -> F {
    F::from_f64(x).unwrap_or_else(F::nan)
}

#[cfg(test)]
mod tests {
    use super::LatticeFloat;

    #[test]
    fn min_basis_magnitude_is_sqrt_of_smallest_normal() {
        assert_eq!(f32::MIN_BASIS_MAGNITUDE, f32::MIN_POSITIVE.sqrt());
        assert_eq!(f64::MIN_BASIS_MAGNITUDE, f64::MIN_POSITIVE.sqrt());
        assert_eq!(f32::MIN_BASIS_MAGNITUDE, 2f32.powi(-63));
        assert_eq!(f64::MIN_BASIS_MAGNITUDE, 2f64.powi(-511));
        assert_eq!(f32::MAX_BASIS_MAGNITUDE, 1.0 / f32::MIN_BASIS_MAGNITUDE);
        assert_eq!(f64::MAX_BASIS_MAGNITUDE, 1.0 / f64::MIN_BASIS_MAGNITUDE);
        // The largest basis entry times the largest code is finite.
        assert!((f32::MAX_BASIS_MAGNITUDE * 2_147_483_648.0).is_finite());
        assert!((f64::MAX_BASIS_MAGNITUDE * 2_147_483_648.0).is_finite());
    }

    #[test]
    fn rounding_shift_is_two_to_the_mantissa_bits() {
        assert_eq!(
            f32::ROUNDING_SHIFT,
            2f32.powi(f32::MANTISSA_DIGITS as i32 - 1)
        );
        assert_eq!(
            f64::ROUNDING_SHIFT,
            2f64.powi(f64::MANTISSA_DIGITS as i32 - 1)
        );
    }

    #[test]
    fn fast_rounding_matches_std_on_ties_and_edges_f32() {
        let mut samples = vec![
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.499_999_97,
            8_388_607.5,
            8_388_608.0,
            8_388_609.0,
            16_777_215.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for k in -2000..2000 {
            let half = k as f32 + 0.5;
            samples.extend([half, half.next_up(), half.next_down()]);
        }
        for x in samples {
            let (fast, std) = (x.round_ties_even_fast(), x.round_ties_even());
            assert_eq!(fast.to_bits(), std.to_bits(), "x = {x:e}");
        }
        assert!(f32::NAN.round_ties_even_fast().is_nan());
    }

    #[test]
    fn fast_rounding_matches_std_on_ties_and_edges_f64() {
        let mut samples = vec![
            0.0f64,
            -0.0,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            f64::MAX,
        ];
        for k in -2000..2000 {
            let half = k as f64 + 0.5;
            samples.extend([half, half.next_up(), half.next_down()]);
        }
        for x in samples {
            let (fast, std) = (x.round_ties_even_fast(), x.round_ties_even());
            assert_eq!(fast.to_bits(), std.to_bits(), "x = {x:e}");
        }
        assert!(f64::NAN.round_ties_even_fast().is_nan());
    }

    #[test]
    fn fast_code_conversion_is_exact_below_its_limit() {
        let limit32 = f32::FAST_CODE_LIMIT as i32;
        for v in (-limit32 + 1..limit32)
            .step_by(997)
            .chain([-limit32 + 1, -1, 0, 1, limit32 - 1])
        {
            assert_eq!((v as f32).to_code_fast(), v);
        }
        assert_eq!((-0.0f32).to_code_fast(), 0);
        for v in
            (i32::MIN + 1..i32::MAX)
                .step_by(1_000_003)
                .chain([i32::MIN + 1, -1, 0, 1, i32::MAX])
        {
            assert_eq!(f64::from(v).to_code_fast(), v);
        }
    }

    #[test]
    fn fast_rounding_matches_std_on_a_sweep_of_bit_patterns_f32() {
        // Every 4099th bit pattern: covers all exponents and many mantissas.
        for bits in (0..u32::MAX).step_by(4099) {
            let x = f32::from_bits(bits);
            if x.is_nan() {
                continue;
            }
            assert_eq!(
                x.round_ties_even_fast().to_bits(),
                x.round_ties_even().to_bits(),
                "x = {x:e}"
            );
        }
    }
}
