//! The loop's own Adam (it keeps its moments so a resumed run continues with them) against
//! libtorch's `torch::optim::Adam` on the same model, weights and batch.

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use lattice_vq_experiments::train::tch_backend::TchBackend;
use lattice_vq_experiments::train::{Backend, CodeKind};
use lattice_vq_tch::{VqVae, load_checkpoint, save_checkpoint};
use tch::nn::OptimizerConfig;
use tch::{Device, Tensor, nn};

use crate::support::{synthetic_batch, weights};

#[test]
fn our_adam_matches_libtorchs() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let batch = synthetic_batch(8);
    for name in ["lattice", "vq"] {
        let config = VqVaeConfig::fashion_mnist();
        let quantizer = QuantizerConfig::by_name(name, config.embedding_dim).unwrap();
        let mut ours = TchBackend::new(&config, &quantizer, Device::Cpu, 3).unwrap();
        let init = dir.path().join("init.safetensors");
        ours.save(&init, None).unwrap();

        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = VqVae::new(&vs.root(), &config, &quantizer).unwrap();
        load_checkpoint(&mut vs, &init).unwrap();
        let mut adam = nn::Adam::default().build(&vs, 1e-3).unwrap();
        let images = Tensor::from_slice(&batch.images).reshape([8, 1, 28, 28]);
        for _ in 0..3 {
            ours.train_step(&batch, 1e-3, CodeKind::None).unwrap();
            let out = model.forward_t(&images, true).unwrap();
            adam.backward_step(&out.loss(&images).unwrap());
        }
        let (a, b) = (
            dir.path().join("a.safetensors"),
            dir.path().join("b.safetensors"),
        );
        ours.save(&a, None).unwrap();
        save_checkpoint(&vs, &b).unwrap();
        let (a, b) = (weights(&a), weights(&b));
        let init = weights(&init);
        for (var, x) in &a {
            let worst = x
                .iter()
                .zip(&b[var])
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-6, "{name} {var}: differs by {worst}");
        }
        assert!(
            a.iter().any(|(var, x)| x != &init[var]),
            "{name}: nothing trained"
        );
    }
}
