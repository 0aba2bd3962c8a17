//! One training step (forward, backward, Adam) of the paper's VQ-VAE in tch against the same
//! model in PyTorch (`scripts/pytorch_reference.py`), interleaved run by run.
//!
//! ```text
//! . scripts/torch-env && cargo bench -p lattice-vq-tch --bench train_step -- [--threads 2]
//!     [--rounds 7] [--steps 10] [--batch 64] [--device cpu|cuda] [--dataset fashion-mnist|ffhq1024]
//!     [--quantizers lattice,dense-lattice,vq,vq-ema] (also fsq, bounded-lattice)
//! ```
//!
//! Both sides start from the same weights, train on the same batch, use the same number of
//! intra-op threads and never run at the same time. Prints the median seconds per step of
//! each side, their ratio (tch / PyTorch), and the LL-VQ / VQ step-time ratio of each side.

use std::time::Instant;

use lattice_vq_tch::{QuantizerConfig, VqVae, VqVaeConfig};
use lattice_vq_testkit::pytorch::{
    BenchOptions, PyTorchReference, median, report_lattice_vs_vq, report_row,
};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

fn main() {
    let options = BenchOptions::from_args();
    // As the `train` example does (lattice_vq_experiments::heap); the PyTorch side runs as
    // `python3` runs by default.
    let retained = lattice_vq_testkit::heap::retain_freed_memory();
    let device = if options.device == "cpu" {
        Device::Cpu
    } else {
        Device::Cuda(0)
    };
    let sync = || {
        if let Device::Cuda(_) = device {
            tch::Cuda::synchronize(0);
        }
    };
    tch::set_num_threads(options.threads as i32);
    tch::manual_seed(0);
    let config = VqVaeConfig::for_dataset(&options.dataset).expect("known dataset");
    let (batch, side) = (options.batch as i64, options.image_side() as i64);
    let images = Tensor::rand(
        [batch, config.image_channels as i64, side, side],
        (Kind::Float, device),
    ) - 0.5;
    let mut reference = PyTorchReference::start(&options);
    println!(
        "training step of the {} VQ-VAE, batch {}, {device:?}, {} threads, median of {} rounds of {} steps; \
         tch side retains freed memory (glibc thresholds raised): {retained}",
        options.dataset, options.batch, options.threads, options.rounds, options.steps
    );
    println!(
        "| quantizer | tch s/step | PyTorch s/step | tch / PyTorch | images/s tch / PyTorch |"
    );
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    for name in &options.quantizers {
        let vs = nn::VarStore::new(device);
        let quantizer =
            QuantizerConfig::by_name(name, config.embedding_dim).expect("known quantizer");
        let model = VqVae::new(&vs.root(), &config, &quantizer).expect("model");
        let mut adam = nn::Adam::default().build(&vs, 1e-3).expect("optimizer");
        // Both sides start from these weights and train on this batch: the same work.
        let init = std::env::temp_dir().join(format!(
            "train_step_tch_{name}_{}.safetensors",
            std::process::id()
        ));
        let mut tensors: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.to_device(Device::Cpu)))
            .collect();
        tensors.push(("images".into(), images.to_device(Device::Cpu)));
        Tensor::write_safetensors(&tensors, &init).expect("write the initial weights");
        reference.seconds_per_step(name, 0, Some(&init));
        let _ = std::fs::remove_file(&init);
        let mut step = || {
            let out = model.forward_t(&images, true).expect("forward");
            adam.backward_step(&out.loss(&images).expect("loss"));
        };
        // Warm-up: allocator caches, lazy initialisation, oneDNN kernel selection.
        for _ in 0..3 {
            step();
        }
        reference.seconds_per_step(name, 3, None);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..options.rounds {
            sync();
            let start = Instant::now();
            for _ in 0..options.steps {
                step();
            }
            sync();
            ours.push(start.elapsed().as_secs_f64() / options.steps as f64);
            theirs.push(reference.seconds_per_step(name, options.steps, None));
        }
        rows.push(report_row(
            name,
            median(&mut ours),
            median(&mut theirs),
            options.batch,
        ));
    }
    report_lattice_vs_vq(&rows, "tch");
}
