//! Does this crate's `LatticeQuantizer` cost more than the official quantizer's arithmetic?
//! Trains the Fashion-MNIST LL-VQ-VAE in one process, alternating steps that quantize with the
//! layer (rules checked, codes returned) and steps with a line-by-line copy of the official
//! PyTorch quantizer (no checks, no codes), and prints the median step time of each.
//!
//! `. scripts/torch-env && cargo bench -p lattice-vq-tch --bench quantizer_ab`

use std::time::Instant;

use lattice_vq_tch::{QuantizerConfig, VqVae, VqVaeConfig};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Reduction, Tensor, nn};

/// The official quantizer's forward: loss and straight-through NCHW output.
fn official(latents: &Tensor, weight: &Tensor) -> (Tensor, Tensor) {
    let inputs = latents.permute([0, 2, 3, 1]).contiguous();
    let flat = inputs.view([-1, weight.size()[1]]);
    let quantized = (weight * (&flat * weight.reciprocal()).round()).view(inputs.size().as_slice());
    let q_latent = quantized.mse_loss(&inputs.detach(), Reduction::Mean);
    let e_latent = quantized.detach().mse_loss(&inputs, Reduction::Mean);
    let loss = q_latent + e_latent * 0.25 - weight.abs().sum(Kind::Float);
    let straight_through = &inputs + (&quantized - &inputs).detach();
    (loss, straight_through.permute([0, 3, 1, 2]).contiguous())
}

fn main() {
    tch::set_num_threads(2);
    tch::manual_seed(0);
    let images = Tensor::rand([64, 1, 28, 28], (Kind::Float, Device::Cpu)) - 0.5;
    let vs = nn::VarStore::new(Device::Cpu);
    let quantizer = QuantizerConfig::by_name("lattice", 64).expect("known quantizer");
    let model = VqVae::new(&vs.root(), &VqVaeConfig::fashion_mnist(), &quantizer).expect("model");
    let weight = vs.variables()["_quantizer.embedding.weight"].shallow_clone();
    let mut adam = nn::Adam::default().build(&vs, 1e-3).expect("optimizer");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for step in 0..60 {
        let start = Instant::now();
        let latents = model.encode(&images).expect("encode");
        let (quantizer_loss, quantized) = if step % 2 == 0 {
            let out = model
                .quantizer()
                .quantize(&latents, true)
                .expect("quantize");
            (out.loss, out.quantized)
        } else {
            official(&latents, &weight)
        };
        let reconstruction = model.decode(&quantized).expect("decode");
        adam.backward_step(&(reconstruction.mse_loss(&images, Reduction::Mean) + quantizer_loss));
        let seconds = start.elapsed().as_secs_f64();
        if step >= 10 {
            if step % 2 == 0 {
                ours.push(seconds)
            } else {
                theirs.push(seconds)
            }
        }
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    println!(
        "median step: LatticeQuantizer {:.1} ms, official arithmetic {:.1} ms",
        ours[ours.len() / 2] * 1e3,
        theirs[theirs.len() / 2] * 1e3
    );
}
