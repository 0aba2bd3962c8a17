//! [`Backend`] on tch (libtorch), with `lattice_vq_tch::VqVae`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use lattice_vq_tch::{Codes, QuantizerOutput, VqVae};
use tch::{Device, Kind, Tensor, nn};

use super::adam;
use super::counting::{CodeKind, CodeRows};
use super::{Backend, StepStats};
use crate::data::Batch;
use crate::error::{Error, Result};

fn fail(e: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: "tch",
        message: e.to_string(),
    }
}

/// An adapter error as ours: I/O keeps its path and kind, libtorch's own errors lose the
/// adapter's `tch:` prefix (ours says `tch:` once).
fn adapter_error(e: lattice_vq_tch::Error) -> Error {
    match e {
        lattice_vq_tch::Error::Io { path, source } => Error::Io {
            path: path.into(),
            source,
        },
        lattice_vq_tch::Error::Torch(inner) => fail(inner),
        other => fail(other),
    }
}

/// The tch device for `cpu`, `cuda` or `cuda:N`.
///
/// # Errors
/// [`Error::Invalid`] for another name or when libtorch sees no such GPU.
pub fn device(name: &str) -> Result<Device> {
    let index = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => Some(0),
        other => other.strip_prefix("cuda:").and_then(|n| n.parse().ok()),
    };
    let invalid = |problem: String| Error::Invalid {
        what: "device".into(),
        problem,
    };
    let index = index.ok_or_else(|| invalid(format!("{name:?}: expected cpu, cuda or cuda:N")))?;
    if index >= tch::Cuda::device_count() as usize {
        return Err(invalid(format!(
            "{name}: libtorch sees {} CUDA device(s) (is libtorch_cuda linked and a GPU present?)",
            tch::Cuda::device_count()
        )));
    }
    Ok(Device::Cuda(index))
}

/// The paper's VQ-VAE on tch with Adam state.
#[derive(Debug)]
pub struct TchBackend {
    vs: nn::VarStore,
    model: VqVae,
    device: Device,
    has_ema: bool,
    moments: HashMap<String, (Tensor, Tensor)>,
    steps: u64,
}

impl TchBackend {
    /// A model initialised from `seed` (libtorch's generator: repeatable on one machine).
    ///
    /// # Errors
    /// An invalid config, a framework failure.
    pub fn new(
        config: &VqVaeConfig,
        quantizer: &QuantizerConfig,
        device: Device,
        seed: u64,
    ) -> Result<Self> {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let model = VqVae::new(&vs.root(), config, quantizer).map_err(fail)?;
        Ok(Self {
            vs,
            model,
            device,
            has_ema: matches!(quantizer, QuantizerConfig::VqEma(_)),
            moments: HashMap::new(),
            steps: 0,
        })
    }

    fn images(&self, batch: &Batch) -> Result<Tensor> {
        let s = batch.shape;
        let dims = [batch.len, s.channels, s.height, s.width].map(|d| d as i64);
        Tensor::f_from_slice(&batch.images)
            .and_then(|t| t.f_reshape(dims))
            .and_then(|t| t.f_to_device(self.device))
            .map_err(fail)
    }

    fn trainable(&self) -> Vec<(String, Tensor)> {
        let mut vars: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    fn adam_step(&mut self, lr: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        let (step_size, bias2_sqrt) = adam::step_scalars(lr, self.steps);
        for (name, mut p) in self.trainable() {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let (mut m, mut v) = match self.moments.remove(&name) {
                Some(mv) => mv,
                None => (g.zeros_like(), g.zeros_like()),
            };
            m = m * adam::BETA1 + &g * (1.0 - adam::BETA1);
            v = v * adam::BETA2 + (&g * &g) * (1.0 - adam::BETA2);
            let denom = v.sqrt() / bias2_sqrt + adam::EPS;
            let update = (&m / denom) * step_size;
            let _ = p.f_sub_(&update).map_err(fail)?;
            p.zero_grad();
            self.moments.insert(name, (m, v));
        }
        Ok(())
    }

    fn codes(out: &QuantizerOutput, kind: CodeKind) -> Result<CodeRows> {
        Ok(match kind {
            CodeKind::None => CodeRows::default(),
            CodeKind::Codes => {
                let dim = match &out.codes {
                    Codes::Lattice(v) => v.size().last().copied().unwrap_or(1) as usize,
                    Codes::Indices(_) => 1,
                };
                let flat = out
                    .codes
                    .tensor()
                    .f_to_kind(Kind::Int)
                    .and_then(|c| c.f_flatten(0, -1))
                    .and_then(|c| c.f_to_device(Device::Cpu))
                    .map_err(fail)?;
                CodeRows {
                    data: Vec::<i32>::try_from(&flat).map_err(fail)?,
                    dim,
                }
            }
            CodeKind::Vectors => {
                // The quantizer's own points `e` (before the straight-through `z + (e - z)`,
                // whose float rounding would make every latent a new vector): `b * v` from
                // the integer codes for a lattice, the codeword for VQ, as the quantizer saw
                // its weight (before an optimizer step or an EMA update), in NHWC row order.
                let points = &out.points;
                let dim = points.size()[1];
                let vectors = points
                    .f_permute([0, 2, 3, 1])
                    .and_then(|e| e.f_flatten(0, -1))
                    .and_then(|e| e.f_to_device(Device::Cpu))
                    .map_err(fail)?;
                CodeRows::from_vectors(&Vec::<f32>::try_from(&vectors).map_err(fail)?, dim as usize)
            }
        })
    }
}

impl Backend for TchBackend {
    fn name(&self) -> &'static str {
        "tch"
    }

    fn train_step(
        &mut self,
        batch: &Batch,
        lr: f64,
        kind: CodeKind,
    ) -> Result<(StepStats, CodeRows)> {
        let images = self.images(batch)?;
        let out = self.model.forward_t(&images, true).map_err(fail)?;
        let reconstruction = out.reconstruction_error(&images).map_err(fail)?;
        let loss = &reconstruction + &out.quantizer.loss;
        loss.f_backward().map_err(fail)?;
        let p = &out.quantizer.parts;
        let values = Tensor::f_stack(
            &[&loss, &reconstruction, &p.embedding, &p.commitment, &p.size].map(Tensor::detach),
            0,
        )
        .and_then(|t| t.f_to_kind(Kind::Double))
        .and_then(|t| t.f_to_device(Device::Cpu))
        .map_err(fail)?;
        let values = Vec::<f64>::try_from(&values).map_err(fail)?;
        self.adam_step(lr)?;
        let stats = StepStats {
            loss: values[0],
            reconstruction: values[1],
            embedding: values[2],
            commitment: values[3],
            size: values[4],
        };
        Ok((stats, Self::codes(&out.quantizer, kind)?))
    }

    fn quantize(&mut self, batch: &Batch, train: bool, kind: CodeKind) -> Result<CodeRows> {
        let _guard = tch::no_grad_guard();
        let images = self.images(batch)?;
        let latents = self.model.encode(&images).map_err(fail)?;
        let out = self
            .model
            .quantizer()
            .quantize(&latents, train)
            .map_err(fail)?;
        Self::codes(&out, kind)
    }

    fn evaluate(
        &mut self,
        batch: &Batch,
        keep_reconstruction: bool,
    ) -> Result<(f64, CodeRows, Option<Vec<f32>>)> {
        let _guard = tch::no_grad_guard();
        let images = self.images(batch)?;
        let out = self.model.forward_t(&images, false).map_err(fail)?;
        let sse = (&out.reconstruction - &images)
            .f_square()
            .and_then(|d| d.f_sum(Kind::Double))
            .map_err(fail)?
            .double_value(&[]);
        let reconstruction = if keep_reconstruction {
            let flat = out
                .reconstruction
                .f_flatten(0, -1)
                .and_then(|r| r.f_to_device(Device::Cpu))
                .map_err(fail)?;
            Some(Vec::<f32>::try_from(&flat).map_err(fail)?)
        } else {
            None
        };
        Ok((
            sse,
            Self::codes(&out.quantizer, CodeKind::Codes)?,
            reconstruction,
        ))
    }

    fn save(&self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_tch::save_checkpoint(&self.vs, model).map_err(adapter_error)?;
        if let Some(path) = optimizer {
            let mut tensors: Vec<(String, Tensor)> = Vec::new();
            for (name, (m, v)) in &self.moments {
                tensors.push((format!("m.{name}"), m.to_device(Device::Cpu)));
                tensors.push((format!("v.{name}"), v.to_device(Device::Cpu)));
            }
            tensors.push(("steps".into(), Tensor::from_slice(&[self.steps as i64])));
            super::checkpoint::atomic_write(path, |tmp| {
                Tensor::write_safetensors(&tensors, tmp).map_err(|e| Error::Backend {
                    backend: "tch",
                    message: format!("{}: {e}", path.display()),
                })
            })?;
        }
        Ok(())
    }

    fn load(&mut self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_tch::load_checkpoint(&mut self.vs, model).map_err(adapter_error)?;
        if let Some(path) = optimizer {
            let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
                .map_err(|e| Error::Format {
                    path: path.to_path_buf(),
                    problem: e.to_string(),
                })?
                .into_iter()
                .collect();
            let dims = |t: &Tensor| t.size().iter().map(|&d| d as usize).collect::<Vec<_>>();
            let stored: BTreeMap<String, Vec<usize>> = tensors
                .iter()
                .map(|(name, t)| (name.clone(), dims(t)))
                .collect();
            let steps = tensors
                .get("steps")
                .filter(|t| t.size() == [1] && t.kind() == Kind::Int64)
                .map(|t| t.int64_value(&[0]));
            let trained: BTreeMap<String, Vec<usize>> = self
                .trainable()
                .into_iter()
                .filter(|(name, _)| super::optimizer_state::trained_by_adam(name, self.has_ema))
                .map(|(name, p)| (name, dims(&p)))
                .collect();
            let steps = super::optimizer_state::check(path, &stored, steps, &trained)?;
            let mut moments = HashMap::new();
            for name in trained.keys() {
                if let (Some(m), Some(v)) = (
                    tensors.get(&format!("m.{name}")),
                    tensors.get(&format!("v.{name}")),
                ) {
                    moments.insert(
                        name.clone(),
                        (m.to_device(self.device), v.to_device(self.device)),
                    );
                }
            }
            self.moments = moments;
            self.steps = steps;
        }
        Ok(())
    }

    fn has_ema_state(&self) -> bool {
        self.has_ema
    }
}
