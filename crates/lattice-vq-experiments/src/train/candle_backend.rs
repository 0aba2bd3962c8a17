//! [`Backend`] on candle, with `lattice_vq_candle::VqVae`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use lattice_vq_candle::{Codes, QuantizerOutput, VqVae, seeded_var_builder};
use lattice_vq_core::{QuantizerConfig, VqVaeConfig};

use super::adam;
use super::adam_state::{AdamState, StateTensor};
use super::counting::{CodeKind, CodeRows};
use super::model_spec::ModelSpec;
use super::{Backend, StepStats};
use crate::data::Batch;
use crate::error::{Error, Result};

/// The candle device for `device`.
///
/// # Errors
/// [`Error::Candle`] when CUDA is not available (built without the `cuda` feature, or no
/// such GPU).
pub fn device(device: super::Device) -> Result<Device> {
    match device.cuda_index() {
        None => Ok(Device::Cpu),
        Some(n) => Ok(Device::new_cuda(n)?),
    }
}

impl StateTensor for Tensor {
    fn stored_shape(&self) -> Vec<usize> {
        self.dims().to_vec()
    }

    fn step_count(&self) -> Option<i64> {
        (self.dims() == [1] && self.dtype() == DType::I64)
            .then(|| self.to_vec1::<i64>().ok())
            .flatten()
            .map(|v| v[0])
    }

    fn from_step_count(steps: i64) -> Result<Self> {
        Ok(Tensor::new(&[steps], &Device::Cpu)?)
    }
}

/// The paper's VQ-VAE on candle with Adam state.
pub struct CandleBackend {
    varmap: VarMap,
    model: VqVae,
    device: Device,
    spec: ModelSpec,
    /// Adam moments by variable name, created at the first step.
    adam: AdamState<Tensor>,
}

impl std::fmt::Debug for CandleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleBackend")
            .field("model", &self.model)
            .field("device", &self.device)
            .field("steps", &self.adam.steps())
            .finish_non_exhaustive()
    }
}

impl CandleBackend {
    /// A model initialised from `seed` (PyTorch's default distributions, drawn by
    /// `lattice_vq_candle::seeded_var_builder`: candle's own CPU generator cannot be seeded).
    /// On the CPU a run then repeats to the last bit on one machine.
    ///
    /// # Errors
    /// An invalid config, a framework failure.
    pub fn new(
        config: &VqVaeConfig,
        quantizer: &QuantizerConfig,
        device: Device,
        seed: u64,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = seeded_var_builder(&varmap, seed, DType::F32, &device);
        let model = VqVae::new(config, quantizer, vb)?;
        Ok(Self {
            varmap,
            model,
            device,
            spec: ModelSpec::new(config, quantizer)?,
            adam: AdamState::default(),
        })
    }

    fn images(&self, batch: &Batch) -> Result<Tensor> {
        let s = batch.shape;
        Ok(Tensor::from_slice(
            &batch.images,
            (batch.len, s.channels, s.height, s.width),
            &self.device,
        )?)
    }

    fn trainable(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("var map lock");
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    fn adam_step(&mut self, grads: &candle_core::backprop::GradStore, lr: f64) -> Result<()> {
        let (step_size, bias2_sqrt) = self.adam.next_step(lr);
        for (name, var) in self.trainable() {
            // EMA state gets no gradient: like PyTorch's Adam, skip what has none.
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Gradients carry the op graph they were computed through; moments built from
            // them would chain every step's graph to the next (memory grows by the whole
            // forward pass per step). Detached, each step's graph is freed after the step.
            let grad = grad.detach();
            let grad = &grad;
            let (m, v) = self.adam.take(&name, || Ok(grad.zeros_like()?))?;
            let step = || -> candle_core::Result<(Tensor, Tensor, Tensor)> {
                let m = ((m * adam::BETA1)? + (grad * (1.0 - adam::BETA1))?)?;
                let v = ((v * adam::BETA2)? + (grad.sqr()? * (1.0 - adam::BETA2))?)?;
                let denom = ((v.sqrt()? / bias2_sqrt)? + adam::EPS)?;
                let p = (var.as_tensor() - ((&m / denom)? * step_size)?)?;
                Ok((m.detach(), v.detach(), p))
            };
            let (m, v, p) = step()?;
            var.set(&p)?;
            self.adam.put(name, m, v);
        }
        Ok(())
    }

    /// The lattice basis `(1, D)`, copied, for quantized vectors (a training step updates it
    /// after the forward); `None` for other kinds or quantizers (VQ's vectors are the
    /// output's points).
    fn basis_snapshot(&self, kind: CodeKind) -> Result<Option<Tensor>> {
        let Some(name) = self
            .spec
            .basis
            .as_deref()
            .filter(|_| kind == CodeKind::Vectors)
        else {
            return Ok(None);
        };
        let data = self.varmap.data().lock().expect("var map lock");
        Ok(data.get(name).map(|v| v.as_tensor().copy()).transpose()?)
    }

    /// The batch's code rows as `kind` says, from the quantizer's output and, for the
    /// vectors of a lattice, the basis from before the forward.
    fn codes(
        &self,
        out: &QuantizerOutput,
        kind: CodeKind,
        basis: Option<&Tensor>,
    ) -> Result<CodeRows> {
        let codes = || {
            let data: Vec<i64> = out
                .codes
                .tensor()
                .flatten_all()
                .and_then(|c| c.to_dtype(DType::I64))
                .and_then(|c| c.to_vec1())?;
            // Lattice codes are i32 already; VQ indices are below K.
            Ok(data.into_iter().map(|c| c as i32).collect())
        };
        // The quantizer's own output `e` (before the straight-through `z + (e - z)`, whose
        // float rounding would make every latent a new vector), bit for bit.
        let vectors = || {
            let vectors = match &out.codes {
                // `w * v` from the basis of the forward: the layer's points on the CPU are
                // the core's `b * v + 0`, which turns the `-0` of a zero code on a negative
                // entry into `+0`, and the counter tells them apart.
                Codes::Lattice(v) => {
                    let basis = basis.ok_or_else(|| Error::Invalid {
                        what: "code kind".into(),
                        problem: "quantized vectors need the basis from before the forward".into(),
                    })?;
                    v.to_dtype(DType::F32)
                        .and_then(|v| v.broadcast_mul(&basis.reshape(self.spec.dim)?))
                }
                // The codewords the forward picked (a VQ-EMA update comes after), one per
                // pixel in NHWC order: the points of images are an NCHW view of
                // channels-last rows.
                Codes::Indices(_) => {
                    let points = &out.points;
                    if points.rank() == 4 {
                        points.permute((0, 2, 3, 1))
                    } else {
                        Ok(points.clone())
                    }
                }
            };
            Ok(vectors
                .and_then(|e| e.flatten_all())
                .and_then(|e| e.to_vec1())?)
        };
        self.spec.code_rows(kind, codes, vectors)
    }
}

/// The loss to differentiate and the values of its terms.
fn stats(out: &lattice_vq_candle::VqVaeOutput, images: &Tensor) -> Result<(Tensor, StepStats)> {
    let reconstruction = out.reconstruction_error(images)?;
    let loss = (&reconstruction + &out.quantizer.loss)?;
    let p = &out.quantizer.parts;
    let values: Vec<f32> = Tensor::stack(
        &[&loss, &reconstruction, &p.embedding, &p.commitment, &p.size],
        0,
    )
    .and_then(|t| t.to_dtype(DType::F32))
    .and_then(|t| t.to_vec1())?;
    let stats = StepStats::from_terms(std::array::from_fn(|i| f64::from(values[i])));
    Ok((loss, stats))
}

impl Backend for CandleBackend {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn train_step(
        &mut self,
        batch: &Batch,
        lr: f64,
        kind: CodeKind,
    ) -> Result<(StepStats, CodeRows)> {
        let images = self.images(batch)?;
        let basis = self.basis_snapshot(kind)?;
        let out = self.model.forward_t(&images, true)?;
        let (loss, stats) = stats(&out, &images)?;
        let grads = loss.backward()?;
        self.adam_step(&grads, lr)?;
        Ok((stats, self.codes(&out.quantizer, kind, basis.as_ref())?))
    }

    fn quantize(&mut self, batch: &Batch, train: bool, kind: CodeKind) -> Result<CodeRows> {
        let images = self.images(batch)?;
        let latents = self.model.encode(&images)?.detach();
        let basis = self.basis_snapshot(kind)?;
        let out = self.model.quantizer().quantize(&latents, train)?;
        self.codes(&out, kind, basis.as_ref())
    }

    fn evaluate(
        &mut self,
        batch: &Batch,
        keep_reconstruction: bool,
    ) -> Result<(f64, CodeRows, Option<Vec<f32>>)> {
        let images = self.images(batch)?;
        let out = self.model.forward_t(&images, false)?;
        let sse = (&out.reconstruction - &images)
            .and_then(|d| d.sqr())
            .and_then(|d| d.to_dtype(DType::F64))
            .and_then(|d| d.sum_all())
            .and_then(|d| d.to_scalar::<f64>())?;
        let reconstruction = if keep_reconstruction {
            Some(out.reconstruction.flatten_all().and_then(|r| r.to_vec1())?)
        } else {
            None
        };
        Ok((
            sse,
            self.codes(&out.quantizer, CodeKind::Codes, None)?,
            reconstruction,
        ))
    }

    fn save(&self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_candle::save_checkpoint(&self.varmap, model)?;
        if let Some(path) = optimizer {
            let tensors: HashMap<String, Tensor> = self
                .adam
                .file_tensors(|t| Ok(t.clone()))?
                .into_iter()
                .collect();
            lattice_vq_candle::save_tensors(&tensors, path)?;
        }
        Ok(())
    }

    fn load(&mut self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_candle::load_checkpoint(&self.varmap, model)?;
        if let Some(path) = optimizer {
            let tensors = candle_core::safetensors::load(path, &self.device).map_err(|e| {
                Error::Safetensors {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                }
            })?;
            self.adam = AdamState::restore(path, tensors, &self.spec.trained, Ok)?;
        }
        Ok(())
    }

    fn decode_tokens(&mut self, batch: &Batch, tokens: &[i64]) -> Result<f64> {
        let images = self.images(batch)?;
        let grid = super::tokens::latent_grid(batch, self.model.config(), tokens.len())?;
        let indices = Tensor::from_slice(tokens, grid, &self.device)?;
        let latents = self.model.quantizer().decode(&Codes::Indices(indices))?;
        let reconstruction = self.model.decode(&latents)?;
        Ok((&reconstruction - &images)
            .and_then(|d| d.sqr())
            .and_then(|d| d.to_dtype(DType::F64))
            .and_then(|d| d.sum_all())
            .and_then(|d| d.to_scalar::<f64>())?)
    }

    fn overload(&mut self, batch: &Batch) -> Result<Option<(u64, u64)>> {
        if !self.spec.finite {
            return Ok(None);
        }
        let latents = self.model.encode(&self.images(batch)?)?.detach();
        Ok(self.model.quantizer().overload(&latents)?)
    }

    fn has_ema_state(&self) -> bool {
        self.spec.has_ema
    }
}
