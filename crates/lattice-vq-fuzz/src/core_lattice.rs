//! Target `core_lattice`: lattice construction, quantize, decode and config validation on
//! arbitrary bit patterns.

use lattice_vq_core::{
    BasisInit, DiagonalLattice, Error, Lattice, LatticeFloat, LatticeQuantizerConfig, Quantized,
};
use ndarray::{Array1, Array2, ArrayView2, ShapeBuilder};
use rand::SeedableRng;

use crate::input::Input;

/// Input layout: a flag byte (bit 0: `f64` instead of `f32`; bit 1: latents are
/// half-multiples `k * b / 2` of the basis, `k` an `i16`, so that ties and exact lattice
/// points come up; else raw bit patterns), a [`LatticeQuantizerConfig`] (`u64` K, `u16`
/// D mod 513, the two costs as `f64` bits, an init byte and half-width, a `u64` seed),
/// then D (a byte mod 9, 0 allowed) basis entries and as many latent rows of D values as
/// the rest holds.
///
/// Asserts: [`LatticeQuantizerConfig::validate`] accepts exactly the valid fields and then
/// [`LatticeQuantizerConfig::init_lattice`] succeeds for both float types; the lattice
/// constructors accept exactly the bases the bounds allow, naming the first bad entry;
/// [`DiagonalLattice::quantize`] equals Babai rounding done here with the standard
/// library's rounding (the same codes and points, or the same error for the same first
/// element), and so
/// do [`DiagonalLattice::validate_latents`], [`DiagonalLattice::quantize_into`] on a
/// column-major layout and the [`Lattice`] trait; decoding the codes gives the points;
/// lattice points quantize to themselves; every `i32` code decodes to a finite point.
/// Never a panic.
pub fn core_lattice(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    check_config(&mut input);
    let ties = flags & 2 != 0;
    if flags & 1 == 0 {
        check_lattice::<f32>(&mut input, ties);
    } else {
        check_lattice::<f64>(&mut input, ties);
    }
}

/// What the target needs from a float type beyond [`LatticeFloat`].
trait Float: LatticeFloat {
    /// Bytes of one value.
    const SIZE: usize;
    /// A value from the input's bits.
    fn read(input: &mut Input) -> Self;
    /// The low 32 bits, as a code.
    fn low_bits(self) -> i32;
    /// The bits, for exact comparisons; every NaN gives the same value.
    fn to_bits_u64(self) -> u64;
    /// Largest code magnitude for which `b * v` quantizes back to `v` whatever `b`: the
    /// three roundings of `round((b * v) * (1 / b))` stay below half a unit.
    const IDEMPOTENT_CODES: i32;
}

impl Float for f32 {
    const SIZE: usize = 4;
    fn read(input: &mut Input) -> Self {
        input.f32()
    }
    fn low_bits(self) -> i32 {
        self.to_bits() as i32
    }
    fn to_bits_u64(self) -> u64 {
        if self.is_nan() {
            u64::MAX
        } else {
            u64::from(self.to_bits())
        }
    }
    const IDEMPOTENT_CODES: i32 = 1 << 20;
}

impl Float for f64 {
    const SIZE: usize = 8;
    fn read(input: &mut Input) -> Self {
        input.f64()
    }
    fn low_bits(self) -> i32 {
        self.to_bits() as i32
    }
    fn to_bits_u64(self) -> u64 {
        if self.is_nan() {
            u64::MAX
        } else {
            self.to_bits()
        }
    }
    const IDEMPOTENT_CODES: i32 = i32::MAX;
}

/// Config validation against the documented rules, then initialisation.
fn check_config(input: &mut Input) {
    let codebook_size = input.u64() as usize;
    let dim = usize::from(input.u16()) % 513;
    let commitment_cost = input.f64();
    let sparsity_cost = input.f64();
    let init_byte = input.u8();
    let half_width = input.f64();
    let seed = input.u64();
    let init = if init_byte.is_multiple_of(2) {
        BasisInit::PaperRange
    } else {
        BasisInit::Symmetric(half_width)
    };
    let config = LatticeQuantizerConfig::new(codebook_size, dim)
        .with_commitment_cost(commitment_cost)
        .with_sparsity_cost(sparsity_cost)
        .with_init(init);
    let f32_bounds =
        2.0 * f64::from(f32::MIN_BASIS_MAGNITUDE)..=f64::from(f32::MAX_BASIS_MAGNITUDE);
    let fields_valid = dim >= 1
        && codebook_size >= 2
        && commitment_cost.is_finite()
        && commitment_cost >= 0.0
        && sparsity_cost.is_finite()
        && match init {
            BasisInit::PaperRange => true,
            BasisInit::Symmetric(bound) => f32_bounds.contains(&bound),
        };
    let validated = config.validate();
    if !fields_valid {
        assert!(validated.is_err(), "validate accepted {config:?}");
        assert!(config.init_lattice::<f32, _>(&mut rng(seed)).is_err());
        return;
    }
    // The paper's range can fall outside the basis bounds (a huge K in one dimension):
    // validate must say so rather than leave it to init_lattice.
    let Ok(()) = validated else {
        let paper = lattice_vq_core::init_range(codebook_size, dim).expect("K >= 2, D >= 1");
        assert!(
            init == BasisInit::PaperRange && !f32_bounds.contains(&paper),
            "validate rejected {config:?}: {validated:?}"
        );
        assert!(config.init_lattice::<f32, _>(&mut rng(seed)).is_err());
        return;
    };
    let r = config.init_half_width().expect("validated");
    let lattice = config
        .init_lattice::<f32, _>(&mut rng(seed))
        .unwrap_or_else(|e| panic!("validated {config:?}, init_lattice::<f32>: {e}"));
    assert_eq!(lattice.dim(), dim);
    assert!(lattice.basis().iter().all(|b| f64::from(b.abs()) <= r));
    let lattice = config
        .init_lattice::<f64, _>(&mut rng(seed))
        .unwrap_or_else(|e| panic!("validated {config:?}, init_lattice::<f64>: {e}"));
    assert!(lattice.basis().iter().all(|b| b.abs() < r));
}

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Construction, quantization and decoding in one float type.
fn check_lattice<F: Float>(input: &mut Input, ties: bool) {
    let dim = usize::from(input.u8() % 9);
    let basis: Vec<F> = (0..dim).map(|_| F::read(input)).collect();
    let built = DiagonalLattice::from_slice(&basis);
    let built_new = DiagonalLattice::new(Array1::from(basis.clone()));
    assert_eq!(
        format!("{built:?}"),
        format!("{built_new:?}"),
        "from_slice is new"
    );
    let lattice = match (built, expected_basis_error(&basis)) {
        (Ok(lattice), None) => lattice,
        (Err(error), Some(expected)) => {
            assert_eq!(format!("{error:?}"), format!("{expected:?}"));
            return;
        }
        (got, expected) => panic!("basis {basis:?}: got {got:?}, expected error {expected:?}"),
    };
    for ((&b, &r), &given) in lattice.basis().iter().zip(lattice.reciprocal()).zip(&basis) {
        assert_eq!(b.to_bits_u64(), given.to_bits_u64(), "basis kept");
        assert_eq!(
            r.to_bits_u64(),
            (F::one() / b).to_bits_u64(),
            "reciprocal 1 / b"
        );
    }

    let value_size = if ties { 2 } else { F::SIZE };
    let rows = input.len() / (dim * value_size);
    let latents: Vec<F> = (0..rows * dim)
        .map(|i| {
            if ties {
                let k = F::from_i16(input.u16() as i16).expect("i16 fits");
                basis[i % dim] * k * F::from_f64(0.5).expect("0.5")
            } else {
                F::read(input)
            }
        })
        .collect();
    let view = ArrayView2::from_shape((rows, dim), &latents).expect("row-major latents");

    let quantized = lattice.quantize(view);
    let expected = babai(&lattice, &latents, rows);
    assert_same(&quantized, &expected, "quantize against Babai rounding");
    let validated = lattice.validate_latents(&latents);
    assert_eq!(
        format!("{validated:?}"),
        format!("{:?}", expected.as_ref().map(|_| ())),
        "validate_latents agrees with quantize"
    );
    let column_major =
        Array2::from_shape_vec((rows, dim).f(), column_major_values(&latents, rows, dim))
            .expect("column-major latents");
    assert!(
        column_major
            .iter()
            .zip(view.iter())
            .all(|(a, b)| a.to_bits_u64() == b.to_bits_u64()),
        "the column-major copy holds the same latents"
    );
    let mut codes = Array2::zeros((rows, dim).f());
    let mut points = Array2::zeros((rows, dim).f());
    let strided = lattice
        .quantize_into(column_major.view(), codes.view_mut(), points.view_mut())
        .map(|()| Quantized { codes, points });
    assert_same(&strided, &expected, "column-major quantize_into");
    assert_same(
        &Lattice::quantize(&lattice, view),
        &expected,
        "Lattice::quantize",
    );
    let mut wrong = Array2::zeros((rows + 1, dim));
    let mut points = Array2::zeros((rows, dim));
    assert!(
        lattice
            .quantize_into(view, wrong.view_mut(), points.view_mut())
            .is_err(),
        "codes buffer of another shape"
    );

    let Ok(quantized) = quantized else {
        return;
    };
    let decoded = lattice
        .decode(quantized.codes.view())
        .expect("decode of codes");
    assert!(
        decoded == quantized.points,
        "decode(quantize(z).codes) == quantize(z).points"
    );
    if quantized
        .codes
        .iter()
        .all(|c| c.unsigned_abs() <= F::IDEMPOTENT_CODES as u32)
    {
        let again = lattice
            .quantize(quantized.points.view())
            .expect("points quantize");
        assert_eq!(
            again.codes, quantized.codes,
            "lattice points quantize to themselves"
        );
    }

    let codes: Vec<i32> = latents.iter().map(|z| z.low_bits()).collect();
    let codes = ArrayView2::from_shape((rows, dim), &codes).expect("row-major codes");
    match lattice.decode(codes) {
        Ok(points) => {
            for (point, (&code, &b)) in points.iter().zip(codes.iter().zip(basis.iter().cycle())) {
                assert!(point.is_finite(), "code {code} decodes to {point}");
                assert!(
                    *point == b * F::from_code(code),
                    "code {code} decodes to {point}"
                );
            }
            assert_eq!(
                Lattice::decode(&lattice, codes).expect("trait decode"),
                points
            );
        }
        Err(Error::EmptyInput { .. }) if rows == 0 => {}
        Err(other) => panic!("decode of {rows} rows: {other:?}"),
    }
}

/// The error the basis rules give for `basis`, if any: the first rule broken, in order.
fn expected_basis_error<F: Float>(basis: &[F]) -> Option<Error> {
    if basis.is_empty() {
        return Some(Error::ZeroDim);
    }
    basis.iter().enumerate().find_map(|(index, &b)| {
        let value = b.to_f64().unwrap_or(f64::NAN);
        if !b.is_finite() {
            Some(Error::NonFiniteBasis { index, value })
        } else if b.abs() < F::MIN_BASIS_MAGNITUDE || b.abs() > F::MAX_BASIS_MAGNITUDE {
            Some(Error::BasisOutOfRange {
                index,
                value,
                min: F::MIN_BASIS_MAGNITUDE.to_f64().unwrap_or(0.0),
                max: F::MAX_BASIS_MAGNITUDE.to_f64().unwrap_or(f64::MAX),
            })
        } else {
            None
        }
    })
}

/// Babai rounding element by element with the standard library's `round_ties_even`: the
/// specification `quantize` is checked against.
fn babai<F: Float>(
    lattice: &DiagonalLattice<F>,
    latents: &[F],
    rows: usize,
) -> lattice_vq_core::Result<Quantized<F>> {
    let dim = lattice.dim();
    if rows == 0 {
        return Err(Error::EmptyInput { what: "latents" });
    }
    let mut codes = Array2::zeros((rows, dim));
    let mut points = Array2::zeros((rows, dim));
    for (index, &z) in latents.iter().enumerate() {
        let (row, col) = (index / dim, index % dim);
        if !z.is_finite() {
            let value = z.to_f64().unwrap_or(f64::NAN);
            return Err(Error::NonFiniteLatent { row, col, value });
        }
        let scaled = z * lattice.reciprocal()[col];
        let v = scaled.to_f64().expect("finite").round_ties_even();
        if !(-2_147_483_648.0..2_147_483_648.0).contains(&v) {
            let value = scaled.to_f64().unwrap_or(f64::NAN);
            return Err(Error::CodeOverflow { row, col, value });
        }
        codes[[row, col]] = v as i32;
        points[[row, col]] = lattice.basis()[col] * F::from_f64(v).expect("an integer of F");
    }
    Ok(Quantized { codes, points })
}

/// The row-major `values` of a `(rows, dim)` array in column-major order.
fn column_major_values<F: Copy>(values: &[F], rows: usize, dim: usize) -> Vec<F> {
    (0..rows * dim)
        .map(|i| values[(i % rows) * dim + i / rows])
        .collect()
}

/// Same codes, equal points, or errors that print the same (NaN values included).
fn assert_same<F: Float>(
    got: &lattice_vq_core::Result<Quantized<F>>,
    expected: &lattice_vq_core::Result<Quantized<F>>,
    what: &str,
) {
    match (got, expected) {
        (Ok(got), Ok(expected)) => {
            assert_eq!(got.codes, expected.codes, "{what}: codes");
            // By value: the sign of a zero point is not part of the contract.
            assert!(
                got.points == expected.points,
                "{what}: points {got:?}, {expected:?}"
            );
        }
        (got, expected) => assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{what}"),
    }
}
