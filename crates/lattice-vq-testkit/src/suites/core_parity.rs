//! The layers compute lattice-vq-core's numbers: codes, losses, basis gradient, the
//! straight-through encoder gradient (checked by finite differences too), VQ's tie rule and
//! VQ's losses and codebook gradient. Replaces the adapters' `tests/core_parity.rs`.

use lattice_vq_core::{
    DiagonalLattice, LatticeQuantizerConfig, QuantizerConfig, VectorQuantizerConfig, loss,
};
use ndarray::{Array2, Axis};

use super::support::{array, assert_close, layer, matrix};
use crate::backend::Backend;
use crate::inputs::{latents, uniform};
use crate::layout::{Layout, Restore, rows_of};
use crate::oracle;
use crate::types::{Codes, DType, Input};

const DIM: usize = 6;
const BASIS: [f32; DIM] = [0.5, -1.25, 2.0, 0.125, -3.0, 9.7673];

fn lattice<B: Backend>(backend: &B, config: LatticeQuantizerConfig, dtype: DType) -> B::Quantizer {
    layer(backend, QuantizerConfig::Lattice(config), dtype, &BASIS)
}

/// Codes (I32 lattice codes) and points equal the core's, on rows and on the same values
/// as NCHW images.
pub fn codes_and_points_equal_the_core_on_rows_and_images<B: Backend>(backend: &B) {
    let name = backend.name();
    let mut q = lattice(backend, LatticeQuantizerConfig::new(512, DIM), DType::F32);
    let core = DiagonalLattice::from_slice(&BASIS).unwrap();
    let values = latents(30, DIM, 40.0, &BASIS, 1);
    let rows = Array2::from_shape_vec((30, DIM), values.clone()).unwrap();
    let expected = core.quantize(rows.view()).unwrap();
    let out = backend
        .quantize(
            &mut q,
            &Input::new(array(&values, &[30, DIM]), DType::F32),
            true,
        )
        .unwrap();
    let Codes::Lattice(codes) = &out.codes else {
        panic!("{name}: a lattice layer returned {:?}", out.codes)
    };
    assert_eq!(codes, &expected.codes.clone().into_dyn(), "{name}: codes");
    let points = expected.points.mapv(f64::from);
    assert_eq!(
        out.quantized,
        points.clone().into_dyn(),
        "{name}: quantized"
    );

    let image = Layout::Image {
        n: 2,
        height: 5,
        width: 3,
    };
    let images = image.restore(&matrix(&values, 30, DIM));
    let out = backend
        .quantize(&mut q, &Input::new(images.clone(), DType::F32), true)
        .unwrap();
    let Codes::Lattice(codes) = &out.codes else {
        panic!("{name}: a lattice layer returned {:?}", out.codes)
    };
    assert_eq!(codes.shape(), &[2, 5, 3, DIM], "{name}: image codes' shape");
    let code_rows = codes.clone().into_shape_with_order((30, DIM)).unwrap();
    assert_eq!(code_rows, expected.codes, "{name}: image codes");
    assert_eq!(
        out.quantized.shape(),
        images.shape(),
        "{name}: quantized shape"
    );
    assert_eq!(rows_of(&out.quantized, DIM), points, "{name}: image points");
}

/// Loss terms, total and basis gradient equal the core's, sparse and dense.
pub fn losses_and_basis_gradient_equal_the_core<B: Backend>(backend: &B) {
    let name = backend.name();
    for config in [
        LatticeQuantizerConfig::new(512, DIM),
        LatticeQuantizerConfig::dense(512, DIM).with_commitment_cost(0.7),
    ] {
        let mut q = lattice(backend, config, DType::F32);
        let core = DiagonalLattice::from_slice(&BASIS).unwrap();
        let values = latents(50, DIM, 30.0, &BASIS, 2);
        let z = Array2::from_shape_vec((50, DIM), values.clone()).unwrap();
        let expected = core.quantize(z.view()).unwrap();
        let parts = loss::quantizer_loss(&config, &core, z.view(), &expected).unwrap();
        let grads = loss::quantizer_gradients(&config, &core, z.view(), &expected).unwrap();
        let zero = Input::new(Array2::<f64>::zeros((50, DIM)).into_dyn(), DType::F32);
        let (out, got) = backend
            .gradients(
                &mut q,
                &Input::new(array(&values, &[50, DIM]), DType::F32),
                &zero,
            )
            .unwrap();
        let close = |what: &str, a: f64, b: f32| {
            assert_close(
                &format!("{name} {config:?}: {what}"),
                [&a],
                [&f64::from(b)],
                1e-5,
            );
        };
        close("embedding", out.parts.embedding, parts.embedding);
        close("commitment", out.parts.commitment, parts.commitment);
        close("size", out.parts.size, parts.size);
        close("total", out.loss, parts.total);
        let basis = got.variable.expect("a lattice layer has a basis gradient");
        let expected: Vec<f64> = grads.basis.iter().map(|&g| f64::from(g)).collect();
        assert_close(
            &format!("{name}: basis gradient"),
            basis.iter(),
            expected.iter(),
            1e-5,
        );
    }
}

/// In f64, the latents' gradient of `sum(quantized * g) + loss` is the straight-through one
/// (finite differences of the surrogate, and the core's `encoder_gradient`), and the basis
/// gradient the core's.
pub fn encoder_gradient_is_the_straight_through_one<B: Backend>(backend: &B) {
    let name = backend.name();
    let config = LatticeQuantizerConfig::new(512, DIM).with_commitment_cost(0.4);
    let mut q = lattice(backend, config, DType::F64);
    let z0: Array2<f64> = Array2::from_shape_vec(
        (12, DIM),
        latents(12, DIM, 20.0, &BASIS, 3)
            .iter()
            .map(|&v| f64::from(v) + 0.01)
            .collect(),
    )
    .unwrap();
    let g = Array2::from_shape_fn((12, DIM), |(r, c)| ((r * DIM + c) % 5) as f64 - 2.0);
    let (out, grads) = backend
        .gradients(
            &mut q,
            &Input::f64(z0.clone().into_dyn()),
            &Input::f64(g.clone().into_dyn()),
        )
        .unwrap();
    let ours = rows_of(&grads.latents, DIM);
    let e0 = rows_of(&out.quantized, DIM);
    let surrogate = |zz: &Array2<f64>| {
        let through: f64 = (zz + &(&e0 - &z0))
            .iter()
            .zip(g.iter())
            .map(|(a, b)| a * b)
            .sum();
        through + config.commitment_cost * loss::commitment_loss(zz.view(), e0.view()).unwrap()
    };
    for index in 0..z0.len() {
        let h = 1e-6;
        let (mut plus, mut minus) = (z0.clone(), z0.clone());
        *plus.iter_mut().nth(index).unwrap() += h;
        *minus.iter_mut().nth(index).unwrap() -= h;
        let numeric = (surrogate(&plus) - surrogate(&minus)) / (2.0 * h);
        let got = *ours.iter().nth(index).unwrap();
        assert!(
            (numeric - got).abs() < 1e-6 * (1.0 + numeric.abs()),
            "{name} {index}: {got} vs finite differences {numeric}"
        );
    }
    let core = loss::encoder_gradient(&config, z0.view(), e0.view(), g.view()).unwrap();
    assert_close(
        &format!("{name}: encoder gradient"),
        ours.iter(),
        core.iter(),
        1e-12,
    );
    let lattice: Vec<f64> = BASIS.iter().map(|&b| f64::from(b)).collect();
    let lattice = DiagonalLattice::from_slice(&lattice).unwrap();
    let quantized = lattice.quantize(z0.view()).unwrap();
    let expected = loss::quantizer_gradients(&config, &lattice, z0.view(), &quantized).unwrap();
    let basis = grads
        .variable
        .expect("a lattice layer has a basis gradient");
    assert_close(
        &format!("{name}: basis gradient"),
        basis.iter(),
        expected.basis.iter(),
        1e-9,
    );
}

/// A VQ layer gives a tie to the lowest index.
pub fn vq_ties_go_to_the_lowest_index<B: Backend>(backend: &B) {
    let config = QuantizerConfig::Vq(VectorQuantizerConfig::new(4, 2));
    let mut vq = layer(
        backend,
        config,
        DType::F32,
        &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
    );
    let out = backend
        .quantize(
            &mut vq,
            &Input::new(array(&[0.5, 0.5, 0.0, 2.0, 3.0, 0.0], &[3, 2]), DType::F32),
            true,
        )
        .unwrap();
    assert_eq!(
        out.codes
            .indices()
            .map(|i| i.iter().copied().collect::<Vec<_>>()),
        Some(vec![0, 1, 0]),
        "{}",
        backend.name()
    );
}

/// VQ's loss terms, the codebook gradient and the latents' gradient equal the reference
/// ([`oracle::vq_loss`]), in f32 and f64.
pub fn vq_losses_and_codebook_gradient_equal_the_reference<B: Backend>(backend: &B) {
    let name = backend.name();
    let (k, dim, n) = (8, 3, 40);
    let config = VectorQuantizerConfig::new(k, dim).with_commitment_cost(0.3);
    let codebook = uniform(k * dim, 2.0, 11);
    let values = uniform(n * dim, 2.5, 12);
    let upstream = uniform(n * dim, 1.0, 13);
    for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let mut vq = layer(backend, QuantizerConfig::Vq(config), dtype, &codebook);
        let (out, grads) = backend
            .gradients(
                &mut vq,
                &Input::new(array(&values, &[n, dim]), dtype),
                &Input::new(array(&upstream, &[n, dim]), dtype),
            )
            .unwrap();
        let (book, rows) = (matrix(&codebook, k, dim), matrix(&values, n, dim));
        let indices = oracle::nearest(book.view(), rows.view(), dtype == DType::F64);
        let got: Vec<usize> = out
            .codes
            .indices()
            .unwrap()
            .iter()
            .map(|&i| i as usize)
            .collect();
        assert_eq!(got, indices, "{name} {dtype:?}: indices");
        let expected = oracle::vq_loss(
            config.commitment_cost,
            false,
            book.view(),
            rows.view(),
            &indices,
            matrix(&upstream, n, dim).view(),
        );
        let what = |w: &str| format!("{name} {dtype:?}: {w}");
        let parts = [
            out.parts.embedding,
            out.parts.commitment,
            out.parts.size,
            out.loss,
        ];
        let want = [
            expected.parts.embedding,
            expected.parts.commitment,
            0.0,
            expected.loss,
        ];
        assert_close(&what("loss terms"), parts.iter(), want.iter(), tolerance);
        let variable = grads.variable.expect("a VQ layer has a codebook gradient");
        assert_close(
            &what("codebook gradient"),
            variable.iter(),
            expected.codebook_grad.iter(),
            tolerance,
        );
        let latents = rows_of(&grads.latents, dim);
        assert_close(
            &what("latents' gradient"),
            latents.iter(),
            expected.latents_grad.iter(),
            tolerance,
        );
        assert_eq!(
            rows_of(&out.points, dim),
            book.select(Axis(0), &indices),
            "{name} {dtype:?}: points"
        );
    }
}
