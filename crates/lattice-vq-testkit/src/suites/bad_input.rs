//! Bad input to the layers is a typed error, never a panic; VQ follows the core's rule at
//! extremes. Replaces the quantizer tests of the adapters' `tests/bad_input.rs` (the model
//! and checkpoint ones are in [`models`](super::models)).

use lattice_vq_core::{
    Error, LatticeQuantizerConfig, QuantizerConfig, VectorQuantizerConfig,
    VectorQuantizerEmaConfig, vq,
};
use ndarray::{Array2, ArrayD, IxDyn};

use super::support::{array, core_error, failure, layer};
use crate::backend::Backend;
use crate::failure::Failure;
use crate::inputs::small_integers;
use crate::types::{DType, Input};

/// The three layers of width 4 (values as their constructors left them).
fn quantizers<B: Backend>(backend: &B) -> Vec<B::Quantizer> {
    [
        QuantizerConfig::Lattice(LatticeQuantizerConfig::new(512, 4)),
        QuantizerConfig::Vq(VectorQuantizerConfig::new(16, 4)),
        QuantizerConfig::VqEma(VectorQuantizerEmaConfig::new(16, 4)),
    ]
    .iter()
    .map(|c| backend.quantizer(c, DType::F32).unwrap())
    .collect()
}

fn zeros(shape: &[usize], dtype: DType) -> Input {
    Input::new(ArrayD::zeros(IxDyn(shape)), dtype)
}

/// Latents of a rank or width no layout has, or of an integer dtype, are `InputShape`
/// errors naming `latents`; empty latents are the core's `EmptyInput`.
pub fn wrong_shapes_and_dtypes_are_errors<B: Backend>(backend: &B) {
    let name = backend.name();
    for mut q in quantizers(backend) {
        for bad in [
            zeros(&[2, 3, 5, 5], DType::F32),
            zeros(&[2, 4, 5], DType::F32),
            zeros(&[2, 4, 5, 5, 1], DType::F32),
            zeros(&[7, 5], DType::F32),
            zeros(&[4], DType::F32),
            zeros(&[2, 4], DType::Int),
        ] {
            let what = format!("{name} {q:?} {:?} {:?}", bad.values.shape(), bad.dtype);
            let err = failure(&what, backend.quantize(&mut q, &bad, true));
            assert!(
                matches!(&err, Failure::InputShape { what, .. } if what == "latents"),
                "{what}: {err:?}"
            );
        }
        let err = failure(
            "empty",
            backend.quantize(&mut q, &zeros(&[0, 4], DType::F32), true),
        );
        let err = core_error(&format!("{name} {q:?} empty"), err);
        assert!(matches!(err, Error::EmptyInput { .. }), "{name}: {err}");
    }
}

/// Latents of the other float dtype than the layer's are `DtypeMismatch` errors naming
/// both dtypes (the contract: `latents: dtype F64 does not match the layer's F32`).
pub fn latents_of_another_float_dtype_are_errors_naming_both<B: Backend>(backend: &B) {
    let name = backend.name();
    for mut q in quantizers(backend) {
        let err = failure(
            "f64 latents",
            backend.quantize(&mut q, &zeros(&[2, 4], DType::F64), true),
        );
        assert!(
            matches!(&err, Failure::DtypeMismatch { what, .. } if what == "latents"),
            "{name} {q:?}: {err:?}"
        );
        let message = err.message();
        assert!(
            message.contains("F64") && message.contains("F32") && message.contains("dtype"),
            "{name} {q:?}: {message}"
        );
    }
}

/// A NaN or infinite latent is the core's `NonFiniteLatent` at its row and column.
pub fn non_finite_latents_are_named_by_row_and_column<B: Backend>(backend: &B) {
    let name = backend.name();
    for mut q in quantizers(backend) {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut values = vec![0.5f32; 12];
            values[6] = bad; // row 1, column 2
            let latents = Input::new(array(&values, &[3, 4]), DType::F32);
            let err = core_error(
                &name,
                failure(&name, backend.quantize(&mut q, &latents, true)),
            );
            assert!(
                matches!(err, Error::NonFiniteLatent { row: 1, col: 2, .. }),
                "{name} {q:?} {bad}: {err}"
            );
        }
    }
}

/// Code overflow, a basis entry out of range or not finite, and a codebook size below 2
/// are the core's errors.
pub fn lattice_rules_of_the_core_are_enforced<B: Backend>(backend: &B) {
    let name = backend.name();
    let config = QuantizerConfig::Lattice(LatticeQuantizerConfig::new(512, 2));
    let mut q = layer(backend, config, DType::F32, &[1e-3, 1.0]);
    let run = |q: &mut B::Quantizer, basis: &[f32], latents: &[f32]| {
        let basis =
            Array2::from_shape_vec((1, 2), basis.iter().map(|&b| f64::from(b)).collect()).unwrap();
        backend.set_variable(q, basis.view()).unwrap();
        let input = Input::new(array(latents, &[latents.len() / 2, 2]), DType::F32);
        core_error(&name, failure(&name, backend.quantize(q, &input, true)))
    };
    let err = run(&mut q, &[1e-3, 1.0], &[1.0, 1.0, 1e7, 1.0]);
    assert!(
        matches!(err, Error::CodeOverflow { row: 1, col: 0, .. }),
        "{name}: {err}"
    );
    let err = run(&mut q, &[0.0, 1.0], &[1.0, 1.0]);
    assert!(
        matches!(err, Error::BasisOutOfRange { index: 0, .. }),
        "{name}: {err}"
    );
    let err = run(&mut q, &[1.0, f32::NAN], &[1.0, 1.0]);
    assert!(
        matches!(err, Error::NonFiniteBasis { index: 1, .. }),
        "{name}: {err}"
    );
    let tiny = QuantizerConfig::Lattice(LatticeQuantizerConfig::new(1, 2));
    let err = core_error(&name, failure(&name, backend.quantizer(&tiny, DType::F32)));
    assert!(
        matches!(err, Error::CodebookTooSmall { .. }),
        "{name}: {err}"
    );
}

/// A VQ and a VQ-EMA layer of `k` codewords of width `dim` in `dtype` with `codebook`.
fn vq_pair<B: Backend>(
    backend: &B,
    dtype: DType,
    k: usize,
    dim: usize,
    codebook: &[f32],
) -> Vec<B::Quantizer> {
    vec![
        layer(
            backend,
            QuantizerConfig::Vq(VectorQuantizerConfig::new(k, dim)),
            dtype,
            codebook,
        ),
        layer(
            backend,
            QuantizerConfig::VqEma(VectorQuantizerEmaConfig::new(k, dim)),
            dtype,
            codebook,
        ),
    ]
}

/// A NaN or infinite codeword is the core's `NonFiniteCodeword` naming it, reported before
/// a bad latent (issue 11, D7 in docs/reliability.md).
pub fn non_finite_codewords_are_errors_naming_the_codeword<B: Backend>(backend: &B) {
    let name = backend.name();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut codebook = vec![0.25f32; 12];
        codebook[7] = bad; // codeword 2, column 1 of a 4 x 3 codebook
        for mut q in vq_pair(backend, DType::F32, 4, 3, &codebook) {
            for latents in [vec![0.25f32; 6], vec![f32::NAN; 6]] {
                let input = Input::new(array(&latents, &[2, 3]), DType::F32);
                let err = failure(&name, backend.quantize(&mut q, &input, true));
                assert!(
                    err.message().contains("codebook entries must be finite"),
                    "{name}: {err}"
                );
                let err = core_error(&name, err);
                assert!(
                    matches!(
                        err,
                        Error::NonFiniteCodeword {
                            index: 2,
                            col: 1,
                            ..
                        }
                    ),
                    "{name} {q:?} {bad}: {err}"
                );
            }
        }
    }
}

/// Latents whose squared norm overflows f32 still find the codeword they equal, with a
/// zero loss; a tie far out goes to the lowest index (D7).
pub fn large_finite_latents_find_the_codeword_they_equal<B: Backend>(backend: &B) {
    let name = backend.name();
    let codebook = [0.0f32, 0.0, 1e20, -1e20, -1e20, 1e20, 1.0, 1.0];
    let latents = [1e20f32, -1e20, -1e20, 1e20, 1.0, 1.0, 3e38, 3e38];
    let expected = vq::nearest_codewords_in_slices(&codebook, &latents, 2).unwrap();
    // (3e38, 3e38) is as far from (1, 1) as from the origin, even in f64: a tie, to 0.
    assert_eq!(expected, vec![1, 2, 3, 0]);
    for mut q in vq_pair(backend, DType::F32, 4, 2, &codebook) {
        let out = backend
            .quantize(
                &mut q,
                &Input::new(array(&latents[..6], &[3, 2]), DType::F32),
                false,
            )
            .unwrap();
        let indices: Vec<i64> = out.codes.indices().unwrap().iter().copied().collect();
        assert_eq!(indices, vec![1, 2, 3], "{name} {q:?}");
        assert_eq!(out.loss, 0.0, "{name} {q:?}");
        let out = backend
            .quantize(
                &mut q,
                &Input::new(array(&latents, &[4, 2]), DType::F32),
                false,
            )
            .unwrap();
        let indices: Vec<i64> = out.codes.indices().unwrap().iter().copied().collect();
        assert_eq!(indices, vec![1, 2, 3, 0], "{name} {q:?}");
    }
}

/// Codewords and latents a few steps of 2^-10 from a common centre near 4000, where f32's
/// `|z|^2 + |e|^2 - 2 z.e` cannot tell them apart: the layers pick the core's codewords, in
/// f32 and f64.
pub fn near_ties_and_duplicates_far_from_the_origin_follow_the_core<B: Backend>(backend: &B) {
    let name = backend.name();
    let (dim, k, n) = (16, 48, 400);
    let centre = small_integers(dim, 1 << 22, 1);
    let grid = |offsets: &[i64], rows: usize| -> Vec<f32> {
        (0..rows * dim)
            .map(|i| (centre[i % dim] + offsets[i]) as f32 / 1024.0)
            .collect()
    };
    let codebook = grid(&small_integers(k * dim, 2, 2), k);
    let latents = grid(&small_integers(n * dim, 2, 3), n);
    for dtype in [DType::F32, DType::F64] {
        let expected = if dtype == DType::F32 {
            vq::nearest_codewords_in_slices(&codebook, &latents, dim)
        } else {
            let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
            vq::nearest_codewords_in_slices(&widen(&codebook), &widen(&latents), dim)
        }
        .unwrap();
        let rows = Input::new(array(&latents, &[n, dim]), dtype);
        for mut q in vq_pair(backend, dtype, k, dim, &codebook) {
            let out = backend.quantize(&mut q, &rows, false).unwrap();
            let codes = out.codes.indices().unwrap();
            let differing = codes
                .iter()
                .zip(&expected)
                .filter(|&(&a, &b)| a != b as i64)
                .count();
            assert_eq!(
                differing, 0,
                "{name} {q:?} {dtype:?}: {differing} of {n} rows differ"
            );
        }
    }
}
