//! [`Backend`] on candle, with `lattice_vq_candle::VqVae`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use lattice_vq_candle::{Codes, VqVae, VqVaeOutput, seeded_var_builder};
use lattice_vq_core::{QuantizerConfig, VqVaeConfig};

use super::adam;
use super::counting::{CodeKind, CodeRows};
use super::{Backend, StepStats};
use crate::data::Batch;
use crate::error::{Error, Result};

/// The official name of the lattice basis `(1, D)` or the codebook `(K, D)`.
const QUANTIZER_WEIGHT: &str = "_quantizer.embedding.weight";

fn fail(e: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: "candle",
        message: e.to_string(),
    }
}

/// An adapter error as ours: I/O keeps its path and kind, candle's own errors lose the
/// adapter's `candle:` prefix (ours says it once).
fn adapter_error(e: lattice_vq_candle::Error) -> Error {
    match e {
        lattice_vq_candle::Error::Io { path, source } => Error::Io {
            path: path.into(),
            source,
        },
        lattice_vq_candle::Error::Candle(inner) => fail(inner),
        other => fail(other),
    }
}

/// The candle device for `cpu`, `cuda` or `cuda:N`.
///
/// # Errors
/// [`Error::Invalid`] for another name; [`Error::Backend`] when CUDA is not available
/// (built without the `cuda` feature, or no GPU).
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(fail),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::new_cuda(n).map_err(fail),
            _ => Err(Error::Invalid {
                what: "device".into(),
                problem: format!("{other:?}: expected cpu, cuda or cuda:N"),
            }),
        },
    }
}

/// The paper's VQ-VAE on candle with Adam state.
pub struct CandleBackend {
    varmap: VarMap,
    model: VqVae,
    device: Device,
    has_ema: bool,
    is_lattice: bool,
    /// Adam moments by variable name, created at the first step.
    moments: HashMap<String, (Tensor, Tensor)>,
    steps: u64,
}

impl std::fmt::Debug for CandleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleBackend")
            .field("model", &self.model)
            .field("device", &self.device)
            .field("steps", &self.steps)
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
        let model = VqVae::new(config, quantizer, vb).map_err(fail)?;
        Ok(Self {
            varmap,
            model,
            device,
            has_ema: matches!(quantizer, QuantizerConfig::VqEma(_)),
            is_lattice: matches!(quantizer, QuantizerConfig::Lattice(_)),
            moments: HashMap::new(),
            steps: 0,
        })
    }

    fn images(&self, batch: &Batch) -> Result<Tensor> {
        let s = batch.shape;
        Tensor::from_slice(
            &batch.images,
            (batch.len, s.channels, s.height, s.width),
            &self.device,
        )
        .map_err(fail)
    }

    fn trainable(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("var map lock");
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    fn adam_step(&mut self, grads: &candle_core::backprop::GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let (step_size, bias2_sqrt) = adam::step_scalars(lr, self.steps);
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
            let (m, v) = match self.moments.remove(&name) {
                Some(mv) => mv,
                None => (
                    grad.zeros_like().map_err(fail)?,
                    grad.zeros_like().map_err(fail)?,
                ),
            };
            let step = || -> candle_core::Result<(Tensor, Tensor, Tensor)> {
                let m = ((m * adam::BETA1)? + (grad * (1.0 - adam::BETA1))?)?;
                let v = ((v * adam::BETA2)? + (grad.sqr()? * (1.0 - adam::BETA2))?)?;
                let denom = ((v.sqrt()? / bias2_sqrt)? + adam::EPS)?;
                let p = (var.as_tensor() - ((&m / denom)? * step_size)?)?;
                Ok((m.detach(), v.detach(), p))
            };
            let (m, v, p) = step().map_err(fail)?;
            var.set(&p).map_err(fail)?;
            self.moments.insert(name, (m, v));
        }
        Ok(())
    }

    /// The lattice basis `(1, D)`, copied, for quantized vectors (a training step updates it
    /// after the forward); `None` for other kinds or quantizers (VQ's vectors are the
    /// output's points).
    fn basis_snapshot(&self, kind: CodeKind) -> Result<Option<Tensor>> {
        if kind != CodeKind::Vectors || !self.is_lattice {
            return Ok(None);
        }
        let data = self.varmap.data().lock().expect("var map lock");
        data.get(QUANTIZER_WEIGHT)
            .map(|v| v.as_tensor().copy())
            .transpose()
            .map_err(fail)
    }

    fn codes(
        &self,
        out: &lattice_vq_candle::QuantizerOutput,
        kind: CodeKind,
        basis: Option<&Tensor>,
    ) -> Result<CodeRows> {
        let rows = match kind {
            CodeKind::None => CodeRows::default(),
            CodeKind::Codes => {
                let (codes, dim) = match &out.codes {
                    Codes::Lattice(v) => (v, v.dim(D::Minus1).map_err(fail)?),
                    Codes::Indices(i) => (i, 1),
                };
                let data: Vec<i64> = codes
                    .flatten_all()
                    .and_then(|c| c.to_dtype(DType::I64))
                    .and_then(|c| c.to_vec1())
                    .map_err(fail)?;
                CodeRows {
                    // Lattice codes are i32 already; VQ indices are below K.
                    data: data.into_iter().map(|c| c as i32).collect(),
                    dim,
                }
            }
            CodeKind::Vectors => {
                // The quantizer's own output `e` (before the straight-through `z + (e - z)`,
                // whose float rounding would make every latent a new vector), bit for bit.
                let (vectors, dim) = match &out.codes {
                    // `w * v` from the basis of the forward: the layer's points on the CPU
                    // are the core's `b * v + 0`, which turns the `-0` of a zero code on a
                    // negative entry into `+0`, and the counter tells them apart.
                    Codes::Lattice(v) => {
                        let basis = basis.ok_or_else(|| Error::Invalid {
                            what: "code kind".into(),
                            problem: "quantized vectors need the basis from before the forward"
                                .into(),
                        })?;
                        let dim = basis.dim(1).map_err(fail)?;
                        let vectors = v
                            .to_dtype(DType::F32)
                            .and_then(|v| v.broadcast_mul(&basis.reshape(dim)?));
                        (vectors, dim)
                    }
                    // The codewords the forward picked (a VQ-EMA update comes after), one
                    // per pixel in NHWC order: the points of images are an NCHW view of
                    // channels-last rows.
                    Codes::Indices(_) => {
                        let points = &out.points;
                        let rows = if points.rank() == 4 {
                            points.permute((0, 2, 3, 1))
                        } else {
                            Ok(points.clone())
                        };
                        (rows, self.model.quantizer().dim())
                    }
                };
                let vectors: Vec<f32> = vectors
                    .and_then(|e| e.flatten_all())
                    .and_then(|e| e.to_vec1())
                    .map_err(fail)?;
                CodeRows::from_vectors(&vectors, dim)
            }
        };
        Ok(rows)
    }
}

fn stats(out: &VqVaeOutput, images: &Tensor) -> Result<(Tensor, StepStats)> {
    let reconstruction = out.reconstruction_error(images).map_err(fail)?;
    let loss = (&reconstruction + &out.quantizer.loss).map_err(fail)?;
    let p = &out.quantizer.parts;
    let values: Vec<f32> = Tensor::stack(
        &[&loss, &reconstruction, &p.embedding, &p.commitment, &p.size],
        0,
    )
    .and_then(|t| t.to_dtype(DType::F32))
    .and_then(|t| t.to_vec1())
    .map_err(fail)?;
    let stats = StepStats {
        loss: f64::from(values[0]),
        reconstruction: f64::from(values[1]),
        embedding: f64::from(values[2]),
        commitment: f64::from(values[3]),
        size: f64::from(values[4]),
    };
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
        let out = self.model.forward_t(&images, true).map_err(fail)?;
        let (loss, stats) = stats(&out, &images)?;
        let grads = loss.backward().map_err(fail)?;
        self.adam_step(&grads, lr)?;
        Ok((stats, self.codes(&out.quantizer, kind, basis.as_ref())?))
    }

    fn quantize(&mut self, batch: &Batch, train: bool, kind: CodeKind) -> Result<CodeRows> {
        let images = self.images(batch)?;
        let latents = self.model.encode(&images).map_err(fail)?.detach();
        let basis = self.basis_snapshot(kind)?;
        let out = self
            .model
            .quantizer()
            .quantize(&latents, train)
            .map_err(fail)?;
        self.codes(&out, kind, basis.as_ref())
    }

    fn evaluate(
        &mut self,
        batch: &Batch,
        keep_reconstruction: bool,
    ) -> Result<(f64, CodeRows, Option<Vec<f32>>)> {
        let images = self.images(batch)?;
        let out = self.model.forward_t(&images, false).map_err(fail)?;
        let sse = (&out.reconstruction - &images)
            .and_then(|d| d.sqr())
            .and_then(|d| d.to_dtype(DType::F64))
            .and_then(|d| d.sum_all())
            .and_then(|d| d.to_scalar::<f64>())
            .map_err(fail)?;
        let reconstruction = if keep_reconstruction {
            Some(
                out.reconstruction
                    .flatten_all()
                    .and_then(|r| r.to_vec1())
                    .map_err(fail)?,
            )
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
        lattice_vq_candle::save_checkpoint(&self.varmap, model).map_err(adapter_error)?;
        if let Some(path) = optimizer {
            let mut tensors: HashMap<String, Tensor> = HashMap::new();
            for (name, (m, v)) in &self.moments {
                tensors.insert(format!("m.{name}"), m.clone());
                tensors.insert(format!("v.{name}"), v.clone());
            }
            let steps = Tensor::new(&[self.steps as i64], &Device::Cpu).map_err(fail)?;
            tensors.insert("steps".into(), steps);
            lattice_vq_candle::save_tensors(&tensors, path).map_err(adapter_error)?;
        }
        Ok(())
    }

    fn load(&mut self, model: &Path, optimizer: Option<&Path>) -> Result<()> {
        lattice_vq_candle::load_checkpoint(&self.varmap, model).map_err(adapter_error)?;
        if let Some(path) = optimizer {
            let tensors =
                candle_core::safetensors::load(path, &self.device).map_err(|e| Error::Format {
                    path: path.to_path_buf(),
                    problem: e.to_string(),
                })?;
            let stored: BTreeMap<String, Vec<usize>> = tensors
                .iter()
                .map(|(name, t)| (name.clone(), t.dims().to_vec()))
                .collect();
            let steps = tensors
                .get("steps")
                .filter(|t| t.dims() == [1] && t.dtype() == DType::I64)
                .and_then(|t| t.to_vec1::<i64>().ok())
                .map(|v| v[0]);
            let trained: BTreeMap<String, Vec<usize>> = self
                .trainable()
                .into_iter()
                .filter(|(name, _)| super::optimizer_state::trained_by_adam(name, self.has_ema))
                .map(|(name, var)| (name, var.dims().to_vec()))
                .collect();
            let steps = super::optimizer_state::check(path, &stored, steps, &trained)?;
            let mut moments = HashMap::new();
            for name in trained.keys() {
                if let (Some(m), Some(v)) = (
                    tensors.get(&format!("m.{name}")),
                    tensors.get(&format!("v.{name}")),
                ) {
                    moments.insert(name.clone(), (m.clone(), v.clone()));
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
