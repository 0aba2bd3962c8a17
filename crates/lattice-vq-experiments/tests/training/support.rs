//! Helpers shared by the training tests.

use std::collections::HashMap;
use std::path::Path;

use lattice_vq_experiments::data::{Batch, Dataset, ImageShape, Synthetic};
use lattice_vq_experiments::train::{
    Backend, BackendKind, CodeKind, CodeRows, DatasetKind, Device, Protocol, QuantizerKind,
    StepStats, TrainOptions,
};

/// The backends this build can test: candle always, tch with the `tch` feature.
pub fn backends() -> Vec<BackendKind> {
    let mut kinds = vec![BackendKind::Candle];
    if cfg!(feature = "tch") {
        kinds.push(BackendKind::Tch);
    }
    kinds
}

/// A short run on the synthetic dataset: one epoch of `steps` batches of 16, at a learning
/// rate (3e-3) at which every quantizer's loss falls clearly within 16 steps.
pub fn smoke_options(
    out: &Path,
    quantizer: QuantizerKind,
    backend: BackendKind,
    steps: usize,
) -> TrainOptions {
    TrainOptions {
        dataset: DatasetKind::Synthetic,
        data_dir: None,
        quantizer,
        codebook: Default::default(),
        backend,
        device: Device::Cpu,
        epochs: 1,
        batch_size: 16,
        lr: 3e-3,
        seed: 7,
        protocol: Protocol::Fixed,
        max_steps_per_epoch: Some(steps),
        max_eval_images: Some(32),
        checkpoint_every: 0,
        threads: Some(1),
        count_train_codes: false,
        out_dir: out.to_path_buf(),
        progress: false,
    }
}

/// The first synthetic training batch of `n` images.
pub fn synthetic_batch(n: usize) -> Batch {
    let shape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let data = Synthetic::new(n, shape, 1).centered();
    let mut images = vec![0.0; n * shape.len()];
    for (i, out) in images.chunks_exact_mut(shape.len()).enumerate() {
        data.load(i, false, out).unwrap();
    }
    Batch {
        images,
        len: n,
        shape,
    }
}

/// The `"step"` lines of a run's `metrics.jsonl`: (step, reconstruction).
pub fn steps(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "step")
        .map(|v| {
            (
                v["step"].as_u64().unwrap(),
                v["reconstruction"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Every tensor of a safetensors file, as f32 values.
pub fn weights(path: &Path) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let values = t
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (name, values)
        })
        .collect()
}

/// A backend that fails at its `fail_at`-th training step (1-based), like a run killed
/// there.
pub struct Interrupted {
    pub inner: Box<dyn Backend>,
    pub steps_left: usize,
}

impl Backend for Interrupted {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn train_step(
        &mut self,
        batch: &Batch,
        lr: f64,
        kind: CodeKind,
    ) -> lattice_vq_experiments::Result<(StepStats, CodeRows)> {
        if self.steps_left == 0 {
            return Err(lattice_vq_experiments::Error::Invalid {
                what: "run".into(),
                problem: "interrupted by the test".into(),
            });
        }
        self.steps_left -= 1;
        self.inner.train_step(batch, lr, kind)
    }

    fn quantize(
        &mut self,
        batch: &Batch,
        train: bool,
        kind: CodeKind,
    ) -> lattice_vq_experiments::Result<CodeRows> {
        self.inner.quantize(batch, train, kind)
    }

    fn evaluate(
        &mut self,
        batch: &Batch,
        keep_reconstruction: bool,
    ) -> lattice_vq_experiments::Result<(f64, CodeRows, Option<Vec<f32>>)> {
        self.inner.evaluate(batch, keep_reconstruction)
    }

    fn save(&self, model: &Path, optimizer: Option<&Path>) -> lattice_vq_experiments::Result<()> {
        self.inner.save(model, optimizer)
    }

    fn load(
        &mut self,
        model: &Path,
        optimizer: Option<&Path>,
    ) -> lattice_vq_experiments::Result<()> {
        self.inner.load(model, optimizer)
    }

    fn has_ema_state(&self) -> bool {
        self.inner.has_ema_state()
    }

    fn decode_tokens(
        &mut self,
        batch: &Batch,
        tokens: &[i64],
    ) -> lattice_vq_experiments::Result<f64> {
        self.inner.decode_tokens(batch, tokens)
    }
}
