//! Training on the CPU repeats to the last bit: two models from the same weights, trained on
//! the same batches, end with the same losses and weights (this crate's ops sum in a fixed
//! order whatever the thread scheduling; candle's CPU init is the only unseeded part).

use candle_core::{DType, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use lattice_vq_candle::{Quantizer, QuantizerConfig, VqVae, VqVaeConfig};

use crate::support::CPU;

/// Losses of three Adam steps from `init`'s weights, and the weights after them.
fn train(name: &str, init: &VarMap, images: &Tensor) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &CPU);
    let quantizer = QuantizerConfig::by_name(name, 64).unwrap();
    let model = VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb).unwrap();
    let source = init.data().lock().unwrap();
    for (key, var) in varmap.data().lock().unwrap().iter() {
        var.set(source[key].as_tensor()).unwrap();
    }
    drop(source);
    let params = ParamsAdamW {
        lr: 1e-3,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut adam = AdamW::new(varmap.all_vars(), params).unwrap();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let out = model.forward_t(images, true).unwrap();
        let loss = out.loss(images).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        adam.backward_step(&loss).unwrap();
    }
    let mut weights: Vec<(String, Vec<f32>)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(key, var)| {
            let values = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (key.clone(), values)
        })
        .collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    (losses, weights)
}

#[test]
fn training_from_the_same_weights_repeats_exactly() {
    let images = (Tensor::rand(0f32, 1.0, (16, 1, 28, 28), &CPU).unwrap() - 0.5).unwrap();
    for name in ["sparse_lattice", "vq"] {
        let init = VarMap::new();
        let vb = VarBuilder::from_varmap(&init, DType::F32, &CPU);
        let quantizer = QuantizerConfig::by_name(name, 64).unwrap();
        VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb).unwrap();
        let first = train(name, &init, &images);
        let second = train(name, &init, &images);
        assert!(
            first.0.iter().all(|l| l.is_finite()),
            "{name}: {:?}",
            first.0
        );
        assert_eq!(first.0, second.0, "{name}: losses");
        assert!(first == second, "{name}: weights after training differ");
    }
}

/// The LL-VQ layer's CPU ops split large batches across rayon's threads; the losses and the
/// basis gradient do not depend on how many.
#[test]
fn lattice_losses_and_basis_gradient_are_the_same_whatever_the_thread_count() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &CPU);
    let config = lattice_vq_core::LatticeQuantizerConfig::new(512, 16);
    let layer = lattice_vq_candle::lattice_quantizer(&config, vb).unwrap();
    // 1,568 rows: four tasks of the parallel passes.
    let values: Vec<f32> = (0..8 * 16 * 14 * 14)
        .map(|i| (i as f32 * 0.377).sin())
        .collect();
    let latents = Tensor::from_vec(values, (8, 16, 14, 14), &CPU).unwrap();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let out = layer.quantize(&latents, true).unwrap();
            let grads = out.loss.backward().unwrap();
            let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
            let basis = grads.get(layer.variable()).unwrap();
            (
                [scalar(&out.parts.embedding), scalar(&out.parts.commitment)],
                basis.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            )
        })
    };
    assert_eq!(run(1), run(3));
}

/// `seeded_var_builder` draws every `Init` with candle's meaning.
#[test]
fn seeded_draws_follow_their_init() {
    use candle_nn::init::{DEFAULT_KAIMING_UNIFORM, Init};
    let varmap = VarMap::new();
    let vb = lattice_vq_candle::seeded_var_builder(&varmap, 1, DType::F64, &CPU);
    let mut names = 0..;
    let mut draw = |init| {
        let name = format!("v{}", names.next().unwrap());
        let t = vb.get_with_hints((100, 100), &name, init).unwrap();
        t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let uniform = draw(Init::Uniform { lo: -0.5, up: 2.0 });
    assert!(uniform.iter().all(|&v| (-0.5..2.0).contains(&v)));
    assert!((mean(&uniform) - 0.75).abs() < 0.05, "uniform mean");
    let normal = draw(Init::Randn {
        mean: 3.0,
        stdev: 2.0,
    });
    let m = mean(&normal);
    let var = normal.iter().map(|v| (v - m).powi(2)).sum::<f64>() / normal.len() as f64;
    assert!((m - 3.0).abs() < 0.1 && (var.sqrt() - 2.0).abs() < 0.1);
    assert_eq!(draw(Init::Const(0.25)), vec![0.25; 10_000]);
    // Kaiming uniform, fan in 100, ReLU gain sqrt(2): bound sqrt(3) * sqrt(2) / 10.
    let kaiming = draw(DEFAULT_KAIMING_UNIFORM);
    let bound = 6f64.sqrt() / 10.0;
    assert!(kaiming.iter().all(|v| v.abs() <= bound));
    assert!(kaiming.iter().any(|v| v.abs() > 0.9 * bound));
}
