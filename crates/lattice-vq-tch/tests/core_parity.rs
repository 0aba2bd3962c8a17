//! The tch layer computes lattice-vq-core's numbers: codes, losses, basis gradient, and the
//! straight-through encoder gradient (checked by finite differences).

use crate::support::*;
use lattice_vq_core::{LatticeQuantizerConfig, loss};
use lattice_vq_tch::{LatticeQuantizer, Quantizer};
use ndarray::Array2;
use tch::{Kind, Tensor, nn};

const DIM: usize = 6;
const BASIS: [f32; DIM] = [0.5, -1.25, 2.0, 0.125, -3.0, 9.7673];

fn quantizer(vs: &nn::VarStore, config: &LatticeQuantizerConfig) -> LatticeQuantizer {
    let quantizer = LatticeQuantizer::new(&vs.root(), config).unwrap();
    set_basis(&quantizer, &BASIS);
    quantizer
}

#[test]
fn codes_and_points_equal_the_core_on_rows_and_images() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let q = quantizer(&vs, &LatticeQuantizerConfig::new(512, DIM));
    let lattice = core_lattice(&q);
    let values = latents(2 * 5 * 3, DIM, 40.0, &BASIS, 1);
    let rows = tensor(&values, &[30, DIM as i64]);
    let out = q.quantize(&rows, true).unwrap();
    let expected = lattice.quantize(to_array_f32(&rows).view()).unwrap();
    assert_eq!(to_array_i32(out.codes.tensor()), expected.codes);
    assert_eq!(to_array_f32(&out.quantized.detach()), expected.points);

    // The same values as NCHW images: rows are the NHWC positions.
    let images = rows
        .view([2, 5, 3, DIM as i64])
        .permute([0, 3, 1, 2])
        .contiguous();
    let out = q.quantize(&images, true).unwrap();
    assert_eq!(out.codes.tensor().size(), vec![2, 5, 3, DIM as i64]);
    assert_eq!(
        to_array_i32(&out.codes.tensor().view([-1, DIM as i64])),
        expected.codes
    );
    assert_eq!(out.quantized.size(), images.size());
    let back = out
        .quantized
        .detach()
        .permute([0, 2, 3, 1])
        .contiguous()
        .view([-1, DIM as i64]);
    assert_eq!(to_array_f32(&back), expected.points);
}

#[test]
fn losses_and_basis_gradient_equal_the_core() {
    single_thread();
    for config in [
        LatticeQuantizerConfig::new(512, DIM),
        LatticeQuantizerConfig::dense(512, DIM).with_commitment_cost(0.7),
    ] {
        let vs = nn::VarStore::new(CPU);
        let q = quantizer(&vs, &config);
        let lattice = core_lattice(&q);
        let rows = tensor(&latents(50, DIM, 30.0, &BASIS, 2), &[50, DIM as i64]);
        let out = q.quantize(&rows, true).unwrap();
        out.loss.backward();

        let z = to_array_f32(&rows);
        let expected = lattice.quantize(z.view()).unwrap();
        let parts = loss::quantizer_loss(&config, &lattice, z.view(), &expected).unwrap();
        let grads = loss::quantizer_gradients(&config, &lattice, z.view(), &expected).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
        assert!(close(
            out.parts.embedding.double_value(&[]),
            f64::from(parts.embedding)
        ));
        assert!(close(
            out.parts.commitment.double_value(&[]),
            f64::from(parts.commitment)
        ));
        assert!(close(
            out.parts.size.double_value(&[]),
            f64::from(parts.size)
        ));
        assert!(close(out.loss.double_value(&[]), f64::from(parts.total)));
        let torch_grad = Vec::<f32>::try_from(q.variable().grad().view([-1])).unwrap();
        for (t, c) in torch_grad.iter().zip(grads.basis.iter()) {
            assert!(
                close(f64::from(*t), f64::from(*c)),
                "basis grad: torch {t} vs core {c}"
            );
        }
    }
}

#[test]
fn encoder_gradient_is_the_straight_through_one() {
    single_thread();
    let config = LatticeQuantizerConfig::new(512, DIM).with_commitment_cost(0.4);
    let mut vs = nn::VarStore::new(CPU);
    let q = quantizer(&vs, &config);
    vs.double();
    let values: Vec<f64> = latents(12, DIM, 20.0, &BASIS, 3)
        .iter()
        .map(|&v| f64::from(v) + 0.01)
        .collect();
    let z = Tensor::from_slice(&values)
        .view([12, DIM as i64])
        .set_requires_grad(true);
    let upstream = Tensor::from_slice(
        &(0..values.len())
            .map(|i| (i % 5) as f64 - 2.0)
            .collect::<Vec<_>>(),
    )
    .view([12, DIM as i64]);
    let out = q.quantize(&z, true).unwrap();
    let objective = (&out.quantized * &upstream).sum(Kind::Double) + &out.loss;
    objective.backward();
    let torch_grad = to_array_f64(&z.grad());

    // Finite differences of the surrogate with the straight-through offset and e frozen.
    let z0 = to_array_f64(&z.detach());
    let e0 = to_array_f64(&out.quantized.detach());
    let g = to_array_f64(&upstream);
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
        let torch = *torch_grad.iter().nth(index).unwrap();
        assert!(
            (numeric - torch).abs() < 1e-6 * (1.0 + numeric.abs()),
            "{index}: torch {torch} vs fd {numeric}"
        );
    }
    // And it is the core's encoder gradient.
    let core = loss::encoder_gradient(&config, z0.view(), e0.view(), g.view()).unwrap();
    for (a, b) in core.iter().zip(torch_grad.iter()) {
        assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()));
    }
    // No reconstruction gradient reaches the basis: only embedding and size terms.
    let lattice = q.to_core().unwrap();
    let quantized = lattice.quantize(z0.view()).unwrap();
    let grads = loss::quantizer_gradients(&config, &lattice, z0.view(), &quantized).unwrap();
    let basis_grad = Vec::<f64>::try_from(q.variable().grad().view([-1])).unwrap();
    for (t, c) in basis_grad.iter().zip(grads.basis.iter()) {
        assert!(
            (t - c).abs() < 1e-9 * (1.0 + c.abs()),
            "torch {t} vs core {c}"
        );
    }
}
