//! The candle layer computes lattice-vq-core's numbers: codes, losses, basis gradient, and the
//! straight-through encoder gradient (checked by finite differences).

use crate::support::*;
use candle_core::{DType, Tensor, Var};
use lattice_vq_candle::{LatticeQuantizer, Quantizer, lattice_quantizer};
use lattice_vq_core::{LatticeQuantizerConfig, loss};
use ndarray::Array2;

const DIM: usize = 6;
const BASIS: [f32; DIM] = [0.5, -1.25, 2.0, 0.125, -3.0, 9.7673];

fn quantizer(config: &LatticeQuantizerConfig) -> (candle_nn::VarMap, LatticeQuantizer) {
    let (varmap, vb) = var_builder();
    let quantizer = lattice_quantizer(config, vb).unwrap();
    set_basis(&quantizer, &BASIS);
    (varmap, quantizer)
}

#[test]
fn codes_and_points_equal_the_core_on_rows_and_images() {
    let (_varmap, q) = quantizer(&LatticeQuantizerConfig::new(512, DIM));
    let lattice = core_lattice(&q);
    let rows = tensor(&latents(30, DIM, 40.0, &BASIS, 1), &[30, DIM]);
    let out = q.quantize(&rows, true).unwrap();
    let expected = lattice.quantize(to_array_f32(&rows).view()).unwrap();
    assert_eq!(out.codes.tensor().dtype(), DType::I32);
    assert_eq!(to_array_i32(out.codes.tensor()), expected.codes);
    assert_eq!(to_array_f32(&out.quantized), expected.points);

    let images = rows
        .reshape((2, 5, 3, DIM))
        .unwrap()
        .permute((0, 3, 1, 2))
        .unwrap()
        .contiguous()
        .unwrap();
    let out = q.quantize(&images, true).unwrap();
    assert_eq!(out.codes.tensor().dims(), &[2, 5, 3, DIM]);
    assert_eq!(
        to_array_i32(&out.codes.tensor().reshape(((), DIM)).unwrap()),
        expected.codes
    );
    assert_eq!(out.quantized.dims(), images.dims());
    let back = out
        .quantized
        .permute((0, 2, 3, 1))
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape(((), DIM))
        .unwrap();
    assert_eq!(to_array_f32(&back), expected.points);
}

#[test]
fn losses_and_basis_gradient_equal_the_core() {
    for config in [
        LatticeQuantizerConfig::new(512, DIM),
        LatticeQuantizerConfig::dense(512, DIM).with_commitment_cost(0.7),
    ] {
        let (_varmap, q) = quantizer(&config);
        let lattice = core_lattice(&q);
        let rows = tensor(&latents(50, DIM, 30.0, &BASIS, 2), &[50, DIM]);
        let out = q.quantize(&rows, true).unwrap();
        let grads = out.loss.backward().unwrap();

        let z = to_array_f32(&rows);
        let expected = lattice.quantize(z.view()).unwrap();
        let parts = loss::quantizer_loss(&config, &lattice, z.view(), &expected).unwrap();
        let core_grads = loss::quantizer_gradients(&config, &lattice, z.view(), &expected).unwrap();
        let scalar = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
        assert!(close(
            scalar(&out.parts.embedding),
            f64::from(parts.embedding)
        ));
        assert!(close(
            scalar(&out.parts.commitment),
            f64::from(parts.commitment)
        ));
        assert!(close(scalar(&out.parts.size), f64::from(parts.size)));
        assert!(close(scalar(&out.loss), f64::from(parts.total)));
        let grad = grads
            .get(q.variable())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (c, t) in core_grads.basis.iter().zip(&grad) {
            assert!(
                close(f64::from(*t), f64::from(*c)),
                "basis grad: candle {t} vs core {c}"
            );
        }
    }
}

#[test]
fn encoder_gradient_is_the_straight_through_one() {
    let config = LatticeQuantizerConfig::new(512, DIM).with_commitment_cost(0.4);
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F64, &CPU);
    let q = lattice_quantizer(&config, vb).unwrap();
    set_basis(&q, &BASIS);
    let values: Vec<f64> = latents(12, DIM, 20.0, &BASIS, 3)
        .iter()
        .map(|&v| f64::from(v) + 0.01)
        .collect();
    let z = Var::from_tensor(&Tensor::from_slice(&values, (12, DIM), &CPU).unwrap()).unwrap();
    let upstream: Vec<f64> = (0..values.len()).map(|i| (i % 5) as f64 - 2.0).collect();
    let upstream = Tensor::from_slice(&upstream, (12, DIM), &CPU).unwrap();
    let out = q.quantize(z.as_tensor(), true).unwrap();
    let objective = ((&out.quantized * &upstream).unwrap().sum_all().unwrap() + &out.loss).unwrap();
    let grads = objective.backward().unwrap();
    let candle_grad = to_array_f64(grads.get(z.as_tensor()).unwrap());

    let z0 = to_array_f64(z.as_tensor());
    let e0 = to_array_f64(&out.quantized);
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
        let ours = *candle_grad.iter().nth(index).unwrap();
        assert!(
            (numeric - ours).abs() < 1e-6 * (1.0 + numeric.abs()),
            "{index}: candle {ours} vs fd {numeric}"
        );
    }
    let core = loss::encoder_gradient(&config, z0.view(), e0.view(), g.view()).unwrap();
    for (a, b) in core.iter().zip(candle_grad.iter()) {
        assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()));
    }
    let lattice = q.to_core().unwrap();
    let quantized = lattice.quantize(z0.view()).unwrap();
    let core_grads = loss::quantizer_gradients(&config, &lattice, z0.view(), &quantized).unwrap();
    let basis_grad = grads
        .get(q.variable())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for (t, c) in basis_grad.iter().zip(core_grads.basis.iter()) {
        assert!(
            (t - c).abs() < 1e-9 * (1.0 + c.abs()),
            "candle {t} vs core {c}"
        );
    }
}

#[test]
fn vq_ties_go_to_the_lowest_index() {
    let (_varmap, vb) = var_builder();
    let vq =
        lattice_vq_candle::vector_quantizer(&lattice_vq_core::VectorQuantizerConfig::new(4, 2), vb)
            .unwrap();
    set(
        vq.codebook(),
        &tensor(&[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], &[4, 2]),
    );
    let out = vq
        .quantize(&tensor(&[0.5, 0.5, 0.0, 2.0, 3.0, 0.0], &[3, 2]), true)
        .unwrap();
    assert_eq!(out.codes.tensor().to_vec1::<i64>().unwrap(), vec![0, 1, 0]);
}
