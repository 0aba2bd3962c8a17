//! One training step (forward, backward, Adam) of the paper's VQ-VAE in candle against the
//! same model in PyTorch (`scripts/pytorch_reference.py`), interleaved run by run; the candle
//! twin of `lattice-vq-tch`'s `train_step` bench, with the same options.
//!
//! ```text
//! . scripts/torch-env && RAYON_NUM_THREADS=2 cargo bench -p lattice-vq-candle --bench train_step
//!     -- [--threads 2] [--rounds 7] [--steps 10] [--batch 64] [--quantizers lattice,vq,fsq,bounded-lattice]
//! ```
//!
//! candle sizes its thread pool from `RAYON_NUM_THREADS` (default: all cores); `--threads`
//! sets PyTorch's, so give both the same number.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use lattice_vq_candle::{QuantizerConfig, VqVae, VqVaeConfig};
use lattice_vq_testkit::pytorch::{
    BenchOptions, PyTorchReference, median, report_lattice_vs_vq, report_row,
};

fn main() -> candle_core::Result<()> {
    let options = BenchOptions::from_args();
    // As the `train` example does (lattice_vq_experiments::heap); PyTorch runs as `python3`
    // runs by default.
    let retained = lattice_vq_testkit::heap::retain_freed_memory();
    let device = if options.device == "cpu" {
        Device::Cpu
    } else {
        Device::new_cuda(0)?
    };
    let config = VqVaeConfig::for_dataset(&options.dataset).expect("known dataset");
    let side = options.image_side();
    let images = (Tensor::rand(
        0f32,
        1.0,
        (options.batch, config.image_channels, side, side),
        &device,
    )? - 0.5)?;
    let mut reference = PyTorchReference::start(&options);
    println!(
        "training step of the {} VQ-VAE, batch {}, {device:?}, {} threads, median of {} rounds of {} steps; \
         candle side retains freed memory (glibc thresholds raised): {retained}",
        options.dataset,
        options.batch,
        candle_core::utils::get_num_threads(),
        options.rounds,
        options.steps
    );
    println!(
        "| quantizer | candle s/step | PyTorch s/step | candle / PyTorch | images/s candle / PyTorch |"
    );
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    for name in &options.quantizers {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let quantizer =
            QuantizerConfig::by_name(name, config.embedding_dim).expect("known quantizer");
        let model = VqVae::new(&config, &quantizer, vb).expect("model");
        let params = ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut adam = AdamW::new(varmap.all_vars(), params)?;
        // Both sides start from these weights and train on this batch: the same work.
        let init = std::env::temp_dir().join(format!(
            "train_step_candle_{name}_{}.safetensors",
            std::process::id()
        ));
        let mut tensors: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .expect("var map")
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        tensors.insert("images".into(), images.clone());
        candle_core::safetensors::save(&tensors, &init)?;
        reference.seconds_per_step(name, 0, Some(&init));
        let _ = std::fs::remove_file(&init);
        let mut step = || -> candle_core::Result<()> {
            let out = model.forward_t(&images, true).expect("forward");
            adam.backward_step(&out.loss(&images).expect("loss"))
        };
        for _ in 0..3 {
            step()?;
        }
        reference.seconds_per_step(name, 3, None);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..options.rounds {
            device.synchronize()?;
            let start = Instant::now();
            for _ in 0..options.steps {
                step()?;
            }
            device.synchronize()?;
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
    report_lattice_vs_vq(&rows, "candle");
    Ok(())
}
