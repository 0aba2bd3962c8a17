//! The test kit's [`Backend`] and [`ModelBackend`] on candle's CPU, and its conformance
//! suites instantiated for it (`core_parity::...`, `layouts::...`, `ema::...`,
//! `bad_input::...`, `models::...`, `official_checkpoints::...`).

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType as CandleDType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::{
    Codes as CandleCodes, Error, FiniteOutput, FiniteQuantizer, LatticeQuantizer, Quantizer,
    QuantizerOutput, VectorQuantizer, VectorQuantizerEma, VqVae, finite_quantizer,
    lattice_quantizer, load_checkpoint, save_checkpoint, vector_quantizer, vector_quantizer_ema,
    vqvae,
};
use lattice_vq_core::{FiniteQuantizerConfig, QuantizerConfig, VqVaeConfig};
use lattice_vq_testkit::{
    Backend, Codes, DType, EmaState, Failure, FiniteBackend, FiniteQuantization, Gradients, Input,
    LayerState, LossParts, ModelBackend, ModelOutput, Objective, Quantization,
};
use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, IxDyn};

/// candle on the CPU.
#[derive(Debug, Clone, Copy)]
pub struct CandleCpu;

/// One of the three layers (its variables live in its tensors).
#[derive(Debug)]
pub enum Layer {
    /// LL-VQ.
    Lattice(LatticeQuantizer),
    /// VQ.
    Vq(VectorQuantizer),
    /// VQ-EMA.
    Ema(VectorQuantizerEma),
}

impl Layer {
    fn quantizer(&self) -> &dyn Quantizer {
        match self {
            Layer::Lattice(q) => q,
            Layer::Vq(q) => q,
            Layer::Ema(q) => q,
        }
    }

    /// The basis or codebook variable.
    fn variable(&self) -> &Tensor {
        match self {
            Layer::Lattice(q) => q.variable(),
            Layer::Vq(q) => q.variable(),
            Layer::Ema(q) => q.variable(),
        }
    }
}

/// The paper's VQ-VAE with the var map holding its variables.
pub struct Model {
    varmap: VarMap,
    model: VqVae,
}

/// candle's error as the kit's.
fn failure(error: Error) -> Failure {
    let message = error.to_string();
    match error {
        Error::Core(e) => Failure::from(e),
        Error::Candle(_) => Failure::Host(message),
        _ => Failure::Other(message),
    }
}

/// A harness-side candle error.
fn host(error: candle_core::Error) -> Failure {
    Failure::Host(error.to_string())
}

fn dtype(dtype: DType) -> CandleDType {
    match dtype {
        DType::F32 => CandleDType::F32,
        DType::F64 => CandleDType::F64,
        DType::Int => CandleDType::I64,
    }
}

/// `values` of `shape` as a CPU tensor of `dtype`.
fn tensor(values: Vec<f64>, shape: &[usize], to: CandleDType) -> Result<Tensor, Failure> {
    let t = Tensor::from_vec(values, shape, &Device::Cpu).map_err(host)?;
    t.to_dtype(to).map_err(host)
}

fn input(input: &Input) -> Result<Tensor, Failure> {
    let values = input.values.iter().copied().collect();
    tensor(values, input.values.shape(), dtype(input.dtype))
}

fn array(t: &Tensor) -> Result<ArrayD<f64>, Failure> {
    let values = t.to_dtype(CandleDType::F64).map_err(host)?;
    let values = values.flatten_all().map_err(host)?.to_vec1::<f64>();
    let values = values.map_err(host)?;
    ArrayD::from_shape_vec(IxDyn(t.dims()), values).map_err(|e| Failure::Other(e.to_string()))
}

fn matrix(t: &Tensor) -> Result<Array2<f64>, Failure> {
    let values = array(t)?;
    let cols = t.dims().last().copied().unwrap_or(1);
    let rows = values.len() / cols.max(1);
    values
        .into_shape_with_order((rows, cols))
        .map_err(|e| Failure::Other(e.to_string()))
}

fn codes(codes: &CandleCodes) -> Result<Codes, Failure> {
    let t = codes.tensor();
    let flat = t.flatten_all().map_err(host)?;
    let shape = IxDyn(t.dims());
    let bad = |e: ndarray::ShapeError| Failure::Other(e.to_string());
    Ok(match codes {
        CandleCodes::Lattice(_) => {
            let values = flat.to_vec1::<i32>().map_err(host)?;
            Codes::Lattice(ArrayD::from_shape_vec(shape, values).map_err(bad)?)
        }
        CandleCodes::Indices(_) => {
            let values = flat.to_vec1::<i64>().map_err(host)?;
            Codes::Indices(ArrayD::from_shape_vec(shape, values).map_err(bad)?)
        }
    })
}

fn scalar(t: &Tensor) -> Result<f64, Failure> {
    let t = t.to_dtype(CandleDType::F64).map_err(host)?;
    t.to_scalar::<f64>().map_err(host)
}

fn quantization(out: &QuantizerOutput) -> Result<Quantization, Failure> {
    let dtype = match out.quantized.dtype() {
        CandleDType::F32 => DType::F32,
        CandleDType::F64 => DType::F64,
        _ => DType::Int,
    };
    Ok(Quantization {
        quantized: array(&out.quantized)?,
        points: array(&out.points)?,
        dtype,
        codes: codes(&out.codes)?,
        loss: scalar(&out.loss)?,
        parts: LossParts {
            embedding: scalar(&out.parts.embedding)?,
            commitment: scalar(&out.parts.commitment)?,
            size: scalar(&out.parts.size)?,
        },
    })
}

/// Overwrite a variable of a var map with `values`, in its dtype.
fn set(variable: &Tensor, values: Vec<f64>, shape: &[usize]) -> Result<(), Failure> {
    let values = tensor(values, shape, variable.dtype())?;
    Var::from_tensor(variable)
        .and_then(|v| v.set(&values))
        .map_err(host)
}

impl Backend for CandleCpu {
    type Quantizer = Layer;

    fn name(&self) -> String {
        "candle cpu".to_owned()
    }

    fn quantizer(&self, config: &QuantizerConfig, dtype: DType) -> Result<Layer, Failure> {
        if dtype == DType::Int {
            return Err(Failure::Other("layers are f32 or f64".to_owned()));
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, self::dtype(dtype), &Device::Cpu);
        Ok(match config {
            QuantizerConfig::Lattice(c) => {
                Layer::Lattice(lattice_quantizer(c, vb).map_err(failure)?)
            }
            QuantizerConfig::Vq(c) => Layer::Vq(vector_quantizer(c, vb).map_err(failure)?),
            QuantizerConfig::VqEma(c) => Layer::Ema(vector_quantizer_ema(c, vb).map_err(failure)?),
            QuantizerConfig::Finite(_) => {
                return Err(Failure::Other(
                    "finite layers: see FiniteBackend".to_owned(),
                ));
            }
        })
    }

    fn set_variable(&self, layer: &mut Layer, values: ArrayView2<f64>) -> Result<(), Failure> {
        let flat = values.iter().copied().collect();
        set(layer.variable(), flat, values.shape())
    }

    fn set_ema(
        &self,
        layer: &mut Layer,
        ema_w: ArrayView2<f64>,
        cluster_size: ArrayView1<f64>,
    ) -> Result<(), Failure> {
        let Layer::Ema(q) = layer else {
            return Err(Failure::Other("not a VQ-EMA layer".to_owned()));
        };
        set(q.ema_w(), ema_w.iter().copied().collect(), ema_w.shape())?;
        let sizes = cluster_size.to_vec();
        set(q.cluster_size(), sizes, cluster_size.shape())
    }

    fn state(&self, layer: &Layer) -> Result<LayerState, Failure> {
        let ema = match layer {
            Layer::Ema(q) => Some(EmaState {
                codebook: matrix(q.codebook())?,
                ema_w: matrix(q.ema_w())?,
                cluster_size: array(q.cluster_size())?
                    .iter()
                    .copied()
                    .collect::<Array1<f64>>(),
            }),
            _ => None,
        };
        Ok(LayerState {
            variable: matrix(layer.variable())?,
            ema,
        })
    }

    fn quantize(
        &self,
        layer: &mut Layer,
        latents: &Input,
        train: bool,
    ) -> Result<Quantization, Failure> {
        let out = layer
            .quantizer()
            .quantize(&input(latents)?, train)
            .map_err(failure)?;
        quantization(&out)
    }

    fn decode(&self, layer: &Layer, codes: &Codes) -> Result<ArrayD<f64>, Failure> {
        let codes = match codes {
            Codes::Lattice(c) => {
                let values = c.iter().copied().collect::<Vec<i32>>();
                CandleCodes::Lattice(
                    Tensor::from_vec(values, c.shape(), &Device::Cpu).map_err(host)?,
                )
            }
            Codes::Indices(c) => {
                let values = c.iter().copied().collect::<Vec<i64>>();
                CandleCodes::Indices(
                    Tensor::from_vec(values, c.shape(), &Device::Cpu).map_err(host)?,
                )
            }
        };
        array(&layer.quantizer().decode(&codes).map_err(failure)?)
    }

    fn gradients(
        &self,
        layer: &mut Layer,
        latents: &Input,
        upstream: &Input,
    ) -> Result<(Quantization, Gradients), Failure> {
        let latents = Var::from_tensor(&input(latents)?).map_err(host)?;
        let upstream = input(upstream)?;
        let out = layer
            .quantizer()
            .quantize(latents.as_tensor(), true)
            .map_err(failure)?;
        let objective = (&out.quantized * &upstream)
            .and_then(|t| t.sum_all())
            .and_then(|t| t + &out.loss)
            .map_err(host)?;
        let grads = objective.backward().map_err(host)?;
        let latents_grad = grads
            .get(latents.as_tensor())
            .ok_or_else(|| Failure::Other("no gradient for the latents".to_owned()))?;
        let variable = match layer {
            Layer::Ema(..) => None,
            _ => grads.get(layer.variable()).map(matrix).transpose()?,
        };
        let gradients = Gradients {
            latents: array(latents_grad)?,
            variable,
        };
        Ok((quantization(&out)?, gradients))
    }
}

impl ModelBackend for CandleCpu {
    type Model = Model;

    fn vqvae(
        &self,
        config: &VqVaeConfig,
        quantizer: &QuantizerConfig,
        dtype: DType,
    ) -> Result<Model, Failure> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, self::dtype(dtype), &Device::Cpu);
        let model = vqvae(config, quantizer, vb).map_err(failure)?;
        Ok(Model { varmap, model })
    }

    fn forward(
        &self,
        model: &mut Model,
        images: &Input,
        train: bool,
    ) -> Result<ModelOutput, Failure> {
        let model = &model.model;
        let latents = model.encode(&input(images)?).map_err(failure)?;
        let out = model
            .quantizer()
            .quantize(&latents, train)
            .map_err(failure)?;
        let reconstruction = model.decode(&out.quantized).map_err(failure)?;
        Ok(ModelOutput {
            latents: array(&latents)?,
            codes: codes(&out.codes)?,
            reconstruction: array(&reconstruction)?,
        })
    }

    fn save_checkpoint(&self, model: &Model, path: &Path) -> Result<(), Failure> {
        save_checkpoint(&model.varmap, path).map_err(failure)
    }

    fn load_checkpoint(&self, model: &mut Model, path: &Path) -> Result<(), Failure> {
        load_checkpoint(&model.varmap, path).map_err(failure)
    }

    fn model_variable(&self, model: &Model, name: &str) -> Result<Array2<f64>, Failure> {
        let data = model
            .varmap
            .data()
            .lock()
            .map_err(|e| Failure::Other(e.to_string()))?;
        let variable = data
            .get(name)
            .ok_or_else(|| Failure::Other(format!("no variable {name}")))?;
        matrix(variable.as_tensor())
    }
}

/// A finite-codebook layer with the var map holding its variables.
pub struct Finite {
    varmap: VarMap,
    layer: FiniteQuantizer,
}

impl std::fmt::Debug for Finite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.layer.fmt(f)
    }
}

impl Finite {
    fn variable(&self, name: &str) -> Result<Tensor, Failure> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Failure::Other("poisoned".into()))?;
        data.get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| Failure::Other(format!("the layer has no tensor {name}")))
    }
}

fn finite_quantization(out: &FiniteOutput) -> Result<FiniteQuantization, Failure> {
    let ints = |t: &Tensor| -> Result<Vec<i64>, Failure> {
        t.to_dtype(CandleDType::I64)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<i64>())
            .map_err(host)
    };
    let shaped = |t: &Tensor, values: Vec<i64>| {
        ArrayD::from_shape_vec(IxDyn(t.dims()), values).map_err(|e| Failure::Other(e.to_string()))
    };
    if out.codes.dtype() != CandleDType::I32 || out.indices.dtype() != CandleDType::I64 {
        return Err(Failure::Other(
            "codes must be I32 and indices I64".to_owned(),
        ));
    }
    let codes = ints(&out.codes)?.into_iter().map(|c| c as i32).collect();
    Ok(FiniteQuantization {
        quantized: array(&out.quantized)?,
        points: array(&out.points)?,
        decoded: array(&out.decoded)?,
        codes: ArrayD::from_shape_vec(IxDyn(out.codes.dims()), codes)
            .map_err(|e| Failure::Other(e.to_string()))?,
        indices: shaped(&out.indices, ints(&out.indices)?)?,
        loss: scalar(&out.loss)?,
        parts: LossParts {
            embedding: scalar(&out.parts.embedding)?,
            commitment: scalar(&out.parts.commitment)?,
            size: scalar(&out.parts.size)?,
        },
        overloaded: out.overloaded,
    })
}

impl FiniteBackend for CandleCpu {
    type Finite = Finite;

    fn finite(&self, config: &FiniteQuantizerConfig, dtype: DType) -> Result<Finite, Failure> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, self::dtype(dtype), &Device::Cpu);
        let layer = finite_quantizer(config, vb).map_err(failure)?;
        Ok(Finite { varmap, layer })
    }

    fn set_finite_tensor(
        &self,
        layer: &mut Finite,
        name: &str,
        values: ArrayViewD<f64>,
    ) -> Result<(), Failure> {
        set(
            &layer.variable(name)?,
            values.iter().copied().collect(),
            values.shape(),
        )
    }

    fn finite_tensor(&self, layer: &Finite, name: &str) -> Result<ArrayD<f64>, Failure> {
        array(&layer.variable(name)?)
    }

    fn finite_quantize(
        &self,
        layer: &Finite,
        latents: &Input,
    ) -> Result<FiniteQuantization, Failure> {
        let out = layer
            .layer
            .quantize_finite(&input(latents)?)
            .map_err(failure)?;
        finite_quantization(&out)
    }

    fn finite_decode(&self, layer: &Finite, indices: &ArrayD<i64>) -> Result<ArrayD<f64>, Failure> {
        let values = indices.iter().copied().collect::<Vec<i64>>();
        let tensor = Tensor::from_vec(values, indices.shape(), &Device::Cpu).map_err(host)?;
        let decoded = layer
            .layer
            .decode(&CandleCodes::Indices(tensor))
            .map_err(failure)?;
        array(&decoded)
    }

    fn finite_gradients(
        &self,
        layer: &Finite,
        latents: &Input,
        upstream: &Input,
        objective: Objective,
    ) -> Result<BTreeMap<String, ArrayD<f64>>, Failure> {
        let z = Var::from_tensor(&input(latents)?).map_err(host)?;
        let out = layer
            .layer
            .quantize_finite(z.as_tensor())
            .map_err(failure)?;
        let weighted = |t: &Tensor, w: f64| t.affine(w, 0.0);
        let total = (|| {
            let through =
                (&out.quantized * input(upstream).map_err(candle_core::Error::wrap)?)?.sum_all()?;
            weighted(&through, objective.quantized)?
                + weighted(&out.parts.embedding, objective.embedding)?
                + weighted(&out.parts.commitment, objective.commitment)?
                + weighted(&out.parts.size, objective.size)?
        })()
        .map_err(host)?;
        let grads = total.backward().map_err(host)?;
        let mut all = BTreeMap::new();
        if let Some(g) = grads.get(z.as_tensor()) {
            all.insert("latents".to_owned(), array(g)?);
        }
        let data = layer
            .varmap
            .data()
            .lock()
            .map_err(|_| Failure::Other("poisoned".into()))?;
        for (name, var) in data.iter() {
            if let Some(g) = grads.get(var.as_tensor()) {
                all.insert(name.clone(), array(g)?);
            }
        }
        Ok(all)
    }
}

lattice_vq_testkit::conformance_tests!(backend: CandleCpu);
lattice_vq_testkit::conformance_tests!(backend: CandleCpu, suites: [finite]);
