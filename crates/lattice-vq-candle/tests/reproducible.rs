//! Training on the CPU repeats to the last bit: two models from the same weights, trained on
//! the same batches, end with the same losses and weights (this crate's ops sum in a fixed
//! order whatever the thread scheduling; candle's CPU init is the only unseeded part).

use candle_core::{DType, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use lattice_vq_candle::{QuantizerConfig, VqVae, VqVaeConfig};

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
