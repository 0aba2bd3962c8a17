//! [`Backend`] on tch (libtorch), with `lattice_vq_tch::VqVae`.

use std::collections::HashMap;
use std::path::Path;

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use lattice_vq_tch::{QuantizerOutput, VqVae};
use tch::{Device, Kind, Tensor, nn};

use super::adam;
use super::adam_state::{AdamState, StateTensor};
use super::counting::{CodeKind, CodeRows};
use super::model_spec::ModelSpec;
use super::{Backend, StepStats};
use crate::data::Batch;
use crate::error::{Error, Result};

/// The tch device for `device`.
///
/// # Errors
/// [`Error::Invalid`] when libtorch sees no such GPU.
pub fn device(device: super::Device) -> Result<Device> {
    let Some(index) = device.cuda_index() else {
        return Ok(Device::Cpu);
    };
    let count = tch::Cuda::device_count();
    if index >= count as usize {
        return Err(Error::Invalid {
            what: "device".into(),
            problem: format!(
                "{device}: libtorch sees {count} CUDA device(s) (is libtorch_cuda linked and a \
                 GPU present?)"
            ),
        });
    }
    Ok(Device::Cuda(index))
}

impl StateTensor for Tensor {
    fn stored_shape(&self) -> Vec<usize> {
        self.size().iter().map(|&d| d as usize).collect()
    }

    fn step_count(&self) -> Option<i64> {
        (self.size() == [1] && self.kind() == Kind::Int64).then(|| self.int64_value(&[0]))
    }

    fn from_step_count(steps: i64) -> Result<Self> {
        Ok(Tensor::f_from_slice(&[steps])?)
    }
}

/// The paper's VQ-VAE on tch with Adam state.
#[derive(Debug)]
pub struct TchBackend {
    vs: nn::VarStore,
    model: VqVae,
    device: Device,
    spec: ModelSpec,
    /// Adam moments by variable name, created at the first step.
    adam: AdamState<Tensor>,
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
        let model = VqVae::new(&vs.root(), config, quantizer)?;
        Ok(Self {
            vs,
            model,
            device,
            spec: ModelSpec::new(config, quantizer)?,
            adam: AdamState::default(),
        })
    }

    fn images(&self, batch: &Batch) -> Result<Tensor> {
        let s = batch.shape;
        let dims = [batch.len, s.channels, s.height, s.width].map(|d| d as i64);
        Ok(Tensor::f_from_slice(&batch.images)
            .and_then(|t| t.f_reshape(dims))
            .and_then(|t| t.f_to_device(self.device))?)
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
        let (step_size, bias2_sqrt) = self.adam.next_step(lr);
        for (name, mut p) in self.trainable() {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let (mut m, mut v) = self.adam.take(&name, || Ok(g.zeros_like()))?;
            m = m * adam::BETA1 + &g * (1.0 - adam::BETA1);
            v = v * adam::BETA2 + (&g * &g) * (1.0 - adam::BETA2);
            let denom = v.sqrt() / bias2_sqrt + adam::EPS;
            let update = (&m / denom) * step_size;
            let _ = p.f_sub_(&update)?;
            p.zero_grad();
            self.adam.put(name, m, v);
        }
        Ok(())
    }

    /// The batch's code rows as `kind` says, from the quantizer's output.
    fn codes(&self, out: &QuantizerOutput, kind: CodeKind) -> Result<CodeRows> {
        let codes = || {
            let flat = out
                .codes
                .tensor()
                .f_to_kind(Kind::Int)
                .and_then(|c| c.f_flatten(0, -1))
                .and_then(|c| c.f_to_device(Device::Cpu))?;
            Ok(Vec::<i32>::try_from(&flat)?)
        };
        // The quantizer's own points `e` (before the straight-through `z + (e - z)`, whose
        // float rounding would make every latent a new vector): `b * v` from the integer
        // codes for a lattice, the codeword for VQ, as the quantizer saw its weight (before
        // an optimizer step or an EMA update), in NHWC row order.
        let vectors = || {
            let flat = out
                .points
                .f_permute([0, 2, 3, 1])
                .and_then(|e| e.f_flatten(0, -1))
                .and_then(|e| e.f_to_device(Device::Cpu))?;
            Ok(Vec::<f32>::try_from(&flat)?)
        };
        self.spec.code_rows(kind, codes, vectors)
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
        let out = self.model.forward_t(&images, true)?;
        let reconstruction = out.reconstruction_error(&images)?;
        let loss = &reconstruction + &out.quantizer.loss;
        loss.f_backward()?;
        let p = &out.quantizer.parts;
        let values = Tensor::f_stack(
            &[&loss, &reconstruction, &p.embedding, &p.commitment, &p.size].map(Tensor::detach),
            0,
        )
        .and_then(|t| t.f_to_kind(Kind::Double))
        .and_then(|t| t.f_to_device(Device::Cpu))?;
        let values = Vec::<f64>::try_from(&values)?;
        self.adam_step(lr)?;
        let stats = StepStats::from_terms(std::array::from_fn(|i| values[i]));
        Ok((stats, self.codes(&out.quantizer, kind)?))
    }

    fn quantize(&mut self, batch: &Batch, train: bool, kind: CodeKind) -> Result<CodeRows> {
        let _guard = tch::no_grad_guard();
        let images = self.images(batch)?;
        let latents = self.model.encode(&images)?;
        let out = self.model.quantizer().quantize(&latents, train)?;
        self.codes(&out, kind)
    }

    fn evaluate(
        &mut self,
        batch: &Batch,
        keep_reconstruction: bool,
    ) -> Result<(f64, CodeRows, Option<Vec<f32>>)> {
        let _guard = tch::no_grad_guard();
        let images = self.images(batch)?;
        let out = self.model.forward_t(&images, false)?;
        let sse = (&out.reconstruction - &images)
            .f_square()
            .and_then(|d| d.f_sum(Kind::Double))?
            .double_value(&[]);
        let reconstruction = if keep_reconstruction {
            let flat = out
                .reconstruction
                .f_flatten(0, -1)
                .and_then(|r| r.f_to_device(Device::Cpu))?;
            Some(Vec::<f32>::try_from(&flat)?)
        } else {
            None
        };
        Ok((
            sse,
            self.codes(&out.quantizer, CodeKind::Codes)?,
            reconstruction,
        ))
    }

    fn save(&self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_tch::save_checkpoint(&self.vs, model)?;
        if let Some(path) = optimizer {
            let tensors = self
                .adam
                .file_tensors(|t| Ok(t.f_to_device(Device::Cpu)?))?;
            super::checkpoint::atomic_write(path, |tmp| {
                Tensor::write_safetensors(&tensors, tmp).map_err(|e| Error::TchSafetensors {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                })
            })?;
        }
        Ok(())
    }

    fn load(&mut self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_tch::load_checkpoint(&mut self.vs, model)?;
        if let Some(path) = optimizer {
            let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
                .map_err(|e| Error::TchSafetensors {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                })?
                .into_iter()
                .collect();
            let device = self.device;
            self.adam = AdamState::restore(path, tensors, &self.spec.trained, |t| {
                Ok(t.f_to_device(device)?)
            })?;
        }
        Ok(())
    }

    fn decode_tokens(&mut self, batch: &Batch, tokens: &[i64]) -> Result<f64> {
        let _guard = tch::no_grad_guard();
        let images = self.images(batch)?;
        let (n, h, w) = super::tokens::latent_grid(batch, self.model.config(), tokens.len())?;
        let indices = Tensor::from_slice(tokens)
            .f_view([n as i64, h as i64, w as i64])
            .and_then(|t| t.f_to_device(images.device()))?;
        let latents = self
            .model
            .quantizer()
            .decode(&lattice_vq_tch::Codes::Indices(indices))?;
        let reconstruction = self.model.decode(&latents)?;
        Ok((&reconstruction - &images)
            .f_square()
            .and_then(|d| d.f_sum(Kind::Double))?
            .double_value(&[]))
    }

    fn overload(&mut self, batch: &Batch) -> Result<Option<(u64, u64)>> {
        if !self.spec.finite {
            return Ok(None);
        }
        let _guard = tch::no_grad_guard();
        let latents = self.model.encode(&self.images(batch)?)?;
        Ok(self.model.quantizer().overload(&latents)?)
    }

    fn has_ema_state(&self) -> bool {
        self.spec.has_ema
    }
}
