//! The test kit's `Backend`, `ModelBackend` and `FiniteBackend` on libtorch's CPU, one
//! libtorch thread per test (tests run in parallel, and OpenMP threads collapse when they
//! share cores). tests/lib.rs instantiates the default conformance suites for it, this file
//! the `finite` suite (`kit::finite::...`).

use std::collections::BTreeMap;
use std::path::Path;

use lattice_vq_core::{FiniteQuantizerConfig, QuantizerConfig, VqVaeConfig};
use lattice_vq_tch::{
    Codes as TchCodes, Error, FiniteOutput, FiniteQuantizer, Quantizer, QuantizerOutput, VqVae,
    finite_quantizer, lattice_quantizer, load_checkpoint, save_checkpoint, vector_quantizer,
    vector_quantizer_ema,
};
use lattice_vq_testkit::{
    Backend, Codes, DType, EmaState, Failure, FiniteBackend, FiniteQuantization, Gradients, Input,
    LayerState, LossParts, ModelBackend, ModelOutput, Objective, Quantization,
};
use ndarray::{Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, IxDyn};
use tch::{Device, Kind, Tensor, nn};

/// libtorch on the CPU.
#[derive(Debug)]
pub struct TchCpu;

impl TchCpu {
    /// The backend, with libtorch on one thread for the calling test.
    pub fn new() -> Self {
        tch::set_num_threads(1);
        Self
    }
}

/// A layer and the var store holding its variables (`embedding.weight`, for VQ-EMA also
/// `ema_w` and `ema_cluster_size`).
#[derive(Debug)]
pub struct Layer {
    vs: nn::VarStore,
    quantizer: Box<dyn Quantizer>,
}

impl Layer {
    fn variable(&self, name: &str) -> Result<Tensor, Failure> {
        variable(&self.vs, name)
    }
}

/// The paper's VQ-VAE and its var store.
pub struct Model {
    vs: nn::VarStore,
    model: VqVae,
}

fn variable(vs: &nn::VarStore, name: &str) -> Result<Tensor, Failure> {
    vs.variables()
        .remove(name)
        .ok_or_else(|| Failure::Other(format!("no variable {name}")))
}

/// tch's error as the kit's.
fn failure(error: Error) -> Failure {
    let message = error.to_string();
    match error {
        Error::Core(e) => Failure::from(e),
        Error::Torch(_) => Failure::Host(message),
        _ => Failure::Other(message),
    }
}

/// A libtorch error of the harness itself.
fn torch(error: tch::TchError) -> Failure {
    Failure::Host(error.to_string())
}

fn kind(dtype: DType) -> Kind {
    match dtype {
        DType::F32 => Kind::Float,
        DType::F64 => Kind::Double,
        DType::Int => Kind::Int,
    }
}

fn shape(dims: &[usize]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}

/// `values` as a CPU tensor of their shape and `kind`.
fn tensor<T: tch::kind::Element + Copy>(values: &ArrayD<T>, kind: Kind) -> Result<Tensor, Failure> {
    let flat: Vec<T> = values.iter().copied().collect();
    let t = Tensor::from_slice(&flat).f_view(shape(values.shape()).as_slice());
    t.and_then(|t| t.f_to_kind(kind)).map_err(torch)
}

fn input(input: &Input) -> Result<Tensor, Failure> {
    tensor(&input.values, kind(input.dtype))
}

/// A tensor's values, of `T`, in its shape.
fn values<T: tch::kind::Element + Copy>(t: &Tensor) -> Result<ArrayD<T>, Failure> {
    let dims: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t.f_detach().and_then(|t| t.f_to_kind(T::KIND));
    let flat = Vec::<T>::try_from(flat.and_then(|t| t.f_flatten(0, -1)).map_err(torch)?);
    ArrayD::from_shape_vec(IxDyn(&dims), flat.map_err(torch)?)
        .map_err(|e| Failure::Other(e.to_string()))
}

/// A tensor as `(rows, last dimension)` (a vector is one row).
fn matrix(t: &Tensor) -> Result<Array2<f64>, Failure> {
    let values = values::<f64>(t)?;
    let cols = values.shape().last().copied().unwrap_or(1).max(1);
    let rows = values.len() / cols;
    values
        .into_shape_with_order((rows, cols))
        .map_err(|e| Failure::Other(e.to_string()))
}

/// Codes read back, only from the kind the contract gives each variant.
fn codes(codes: &TchCodes) -> Result<Codes, Failure> {
    Ok(match codes {
        TchCodes::Lattice(t) if t.kind() == Kind::Int => Codes::Lattice(values(t)?),
        TchCodes::Indices(t) if t.kind() == Kind::Int64 => Codes::Indices(values(t)?),
        other => return Err(Failure::Other(format!("codes of kind {other:?}"))),
    })
}

fn scalar(t: &Tensor) -> Result<f64, Failure> {
    t.f_double_value(&[]).map_err(torch)
}

fn quantization(out: &QuantizerOutput) -> Result<Quantization, Failure> {
    Ok(Quantization {
        quantized: values(&out.quantized)?,
        points: values(&out.points)?,
        dtype: match out.quantized.kind() {
            Kind::Float => DType::F32,
            Kind::Double => DType::F64,
            _ => DType::Int,
        },
        codes: codes(&out.codes)?,
        loss: scalar(&out.loss)?,
        parts: LossParts {
            embedding: scalar(&out.parts.embedding)?,
            commitment: scalar(&out.parts.commitment)?,
            size: scalar(&out.parts.size)?,
        },
    })
}

/// Overwrite `variable` with `values`, in its kind, unvalidated.
fn set<D: ndarray::Dimension>(
    variable: &Tensor,
    values: ndarray::ArrayView<f64, D>,
) -> Result<(), Failure> {
    let values = tensor(&values.to_owned().into_dyn(), variable.kind())?;
    let mut variable = variable.shallow_clone();
    tch::no_grad(|| variable.f_copy_(&values)).map_err(torch)
}

impl Backend for TchCpu {
    type Quantizer = Layer;

    fn name(&self) -> String {
        "tch cpu".to_owned()
    }

    fn quantizer(&self, config: &QuantizerConfig, dtype: DType) -> Result<Layer, Failure> {
        if dtype == DType::Int {
            return Err(Failure::Other("layers are f32 or f64".to_owned()));
        }
        let mut vs = nn::VarStore::new(Device::Cpu);
        if dtype == DType::F64 {
            vs.set_kind(Kind::Double);
        }
        let root = vs.root();
        let quantizer: Box<dyn Quantizer> = match config {
            QuantizerConfig::Lattice(c) => Box::new(lattice_quantizer(&root, c).map_err(failure)?),
            QuantizerConfig::Vq(c) => Box::new(vector_quantizer(&root, c).map_err(failure)?),
            QuantizerConfig::VqEma(c) => Box::new(vector_quantizer_ema(&root, c).map_err(failure)?),
            QuantizerConfig::Finite(_) => {
                return Err(Failure::Other(
                    "finite layers: see FiniteBackend".to_owned(),
                ));
            }
        };
        Ok(Layer { vs, quantizer })
    }

    fn set_variable(&self, layer: &mut Layer, values: ArrayView2<f64>) -> Result<(), Failure> {
        set(&layer.variable("embedding.weight")?, values)
    }

    fn set_ema(
        &self,
        layer: &mut Layer,
        ema_w: ArrayView2<f64>,
        cluster_size: ArrayView1<f64>,
    ) -> Result<(), Failure> {
        set(&layer.variable("ema_w")?, ema_w)?;
        set(&layer.variable("ema_cluster_size")?, cluster_size)
    }

    fn state(&self, layer: &Layer) -> Result<LayerState, Failure> {
        let variable = matrix(&layer.variable("embedding.weight")?)?;
        let ema = match layer.variable("ema_w") {
            Ok(ema_w) => Some(EmaState {
                codebook: variable.clone(),
                ema_w: matrix(&ema_w)?,
                cluster_size: matrix(&layer.variable("ema_cluster_size")?)?
                    .row(0)
                    .to_owned(),
            }),
            Err(_) => None,
        };
        Ok(LayerState { variable, ema })
    }

    fn quantize(
        &self,
        layer: &mut Layer,
        latents: &Input,
        train: bool,
    ) -> Result<Quantization, Failure> {
        let out = layer.quantizer.quantize(&input(latents)?, train);
        quantization(&out.map_err(failure)?)
    }

    fn decode(&self, layer: &Layer, codes: &Codes) -> Result<ArrayD<f64>, Failure> {
        let codes = match codes {
            Codes::Lattice(c) => TchCodes::Lattice(tensor(c, Kind::Int)?),
            Codes::Indices(c) => TchCodes::Indices(tensor(c, Kind::Int64)?),
        };
        values(&layer.quantizer.decode(&codes).map_err(failure)?)
    }

    fn gradients(
        &self,
        layer: &mut Layer,
        latents: &Input,
        upstream: &Input,
    ) -> Result<(Quantization, Gradients), Failure> {
        for mut variable in layer.vs.trainable_variables() {
            variable.zero_grad();
        }
        let latents = input(latents)?.detach().set_requires_grad(true);
        let out = layer.quantizer.quantize(&latents, true).map_err(failure)?;
        let objective = (&out.quantized * input(upstream)?).sum(out.loss.kind()) + &out.loss;
        objective.f_backward().map_err(torch)?;
        let weight = layer.variable("embedding.weight")?;
        let variable = weight.requires_grad().then(|| matrix(&weight.grad()));
        let gradients = Gradients {
            latents: values(&latents.grad())?,
            variable: variable.transpose()?,
        };
        Ok((quantization(&out)?, gradients))
    }
}

impl ModelBackend for TchCpu {
    type Model = Model;

    fn vqvae(
        &self,
        config: &VqVaeConfig,
        quantizer: &QuantizerConfig,
        dtype: DType,
    ) -> Result<Model, Failure> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = VqVae::new(&vs.root(), config, quantizer).map_err(failure)?;
        if dtype == DType::F64 {
            vs.double();
        }
        Ok(Model { vs, model })
    }

    fn forward(
        &self,
        model: &mut Model,
        images: &Input,
        train: bool,
    ) -> Result<ModelOutput, Failure> {
        let images = input(images)?;
        tch::no_grad(|| {
            let latents = model.model.encode(&images).map_err(failure)?;
            let out = model.model.quantizer().quantize(&latents, train);
            let out = out.map_err(failure)?;
            let reconstruction = model.model.decode(&out.quantized).map_err(failure)?;
            Ok(ModelOutput {
                latents: values(&latents)?,
                codes: codes(&out.codes)?,
                reconstruction: values(&reconstruction)?,
            })
        })
    }

    fn save_checkpoint(&self, model: &Model, path: &Path) -> Result<(), Failure> {
        save_checkpoint(&model.vs, path).map_err(failure)
    }

    fn load_checkpoint(&self, model: &mut Model, path: &Path) -> Result<(), Failure> {
        load_checkpoint(&mut model.vs, path).map_err(failure)
    }

    fn model_variable(&self, model: &Model, name: &str) -> Result<Array2<f64>, Failure> {
        matrix(&variable(&model.vs, name)?)
    }
}

/// A finite-codebook layer and the var store holding its variables (`step`, `offset`,
/// `project_in.weight`, ..., `levels.0`, ...).
#[derive(Debug)]
pub struct Finite {
    vs: nn::VarStore,
    layer: FiniteQuantizer,
}

/// What the layer returned, read back, only from the kinds the layer promises.
fn finite_quantization(out: &FiniteOutput) -> Result<FiniteQuantization, Failure> {
    if out.codes.kind() != Kind::Int || out.indices.kind() != Kind::Int64 {
        return Err(Failure::Other(
            "codes must be Int (I32) and indices Int64".to_owned(),
        ));
    }
    Ok(FiniteQuantization {
        quantized: values(&out.quantized)?,
        points: values(&out.points)?,
        decoded: values(&out.decoded)?,
        codes: values(&out.codes)?,
        indices: values(&out.indices)?,
        loss: scalar(&out.loss)?,
        parts: LossParts {
            embedding: scalar(&out.parts.embedding)?,
            commitment: scalar(&out.parts.commitment)?,
            size: scalar(&out.parts.size)?,
        },
        overloaded: out.overloaded,
    })
}

impl FiniteBackend for TchCpu {
    type Finite = Finite;

    fn finite(&self, config: &FiniteQuantizerConfig, dtype: DType) -> Result<Finite, Failure> {
        if dtype == DType::Int {
            return Err(Failure::Other("layers are f32 or f64".to_owned()));
        }
        let mut vs = nn::VarStore::new(Device::Cpu);
        if dtype == DType::F64 {
            vs.set_kind(Kind::Double);
        }
        let layer = finite_quantizer(&vs.root(), config).map_err(failure)?;
        Ok(Finite { vs, layer })
    }

    fn set_finite_tensor(
        &self,
        layer: &mut Finite,
        name: &str,
        values: ArrayViewD<f64>,
    ) -> Result<(), Failure> {
        set(&variable(&layer.vs, name)?, values)
    }

    fn finite_tensor(&self, layer: &Finite, name: &str) -> Result<ArrayD<f64>, Failure> {
        values(&variable(&layer.vs, name)?)
    }

    fn finite_quantize(
        &self,
        layer: &Finite,
        latents: &Input,
    ) -> Result<FiniteQuantization, Failure> {
        let out = layer.layer.quantize_finite(&input(latents)?);
        finite_quantization(&out.map_err(failure)?)
    }

    fn finite_decode(&self, layer: &Finite, indices: &ArrayD<i64>) -> Result<ArrayD<f64>, Failure> {
        let codes = TchCodes::Indices(tensor(indices, Kind::Int64)?);
        values(&layer.layer.decode(&codes).map_err(failure)?)
    }

    fn finite_gradients(
        &self,
        layer: &Finite,
        latents: &Input,
        upstream: &Input,
        objective: Objective,
    ) -> Result<BTreeMap<String, ArrayD<f64>>, Failure> {
        let z = input(latents)?.detach().set_requires_grad(true);
        let out = layer.layer.quantize_finite(&z).map_err(failure)?;
        let through = (&out.quantized * input(upstream)?).sum(out.loss.kind());
        let total = through * objective.quantized
            + &out.parts.embedding * objective.embedding
            + &out.parts.commitment * objective.commitment
            + &out.parts.size * objective.size;
        // Gradients of this objective alone, with respect to the latents and every trainable
        // variable (none accumulates into `.grad()`, so calls do not leak into each other);
        // a tensor the objective does not reach has an undefined gradient and no entry.
        let mut names = vec!["latents".to_owned()];
        let mut inputs = vec![z];
        for (name, tensor) in layer.vs.variables() {
            if tensor.requires_grad() {
                names.push(name);
                inputs.push(tensor);
            }
        }
        let grads = Tensor::f_run_backward(&[&total], &inputs, false, false).map_err(torch)?;
        let mut all = BTreeMap::new();
        for (name, grad) in names.into_iter().zip(grads) {
            if grad.defined() {
                all.insert(name, values(&grad)?);
            }
        }
        Ok(all)
    }
}

lattice_vq_testkit::conformance_tests!(backend: TchCpu::new(), suites: [finite]);
