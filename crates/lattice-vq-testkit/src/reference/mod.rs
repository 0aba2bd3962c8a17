//! A backend on lattice-vq-core alone (ndarray, analytic gradients): the contract's layers
//! as plain functions, so that the suites can be run without a tensor framework, and so
//! that they are shown to pass on a correct implementation.
//!
//! Values are kept as `f64` and computed in the layer's dtype (`f32` or `f64`) through the
//! core, as a host's layer computes in its own. It has no convolutional network, so it
//! implements [`Backend`] but not [`ModelBackend`](crate::ModelBackend).

mod compute;

use lattice_vq_core::QuantizerConfig;
use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2};

use crate::backend::Backend;
use crate::failure::Failure;
use crate::layout::{CodeRows, Restore, codes_to_rows, to_rows};
use crate::types::{Codes, DType, EmaState, Gradients, Input, LayerState, Quantization};

/// The reference backend (stateless: each layer holds its own values).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceBackend;

/// A reference layer: its config, dtype and values (exact in the dtype).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceQuantizer {
    config: QuantizerConfig,
    dtype: DType,
    /// The `(1, D)` basis or `(K, D)` codebook.
    variable: Array2<f64>,
    /// VQ-EMA's `ema_w` and `cluster_size`.
    ema: Option<(Array2<f64>, Array1<f64>)>,
}

impl ReferenceQuantizer {
    fn dim(&self) -> usize {
        self.config.dim()
    }

    /// Values rounded to the layer's dtype.
    fn round<D: ndarray::Dimension>(
        &self,
        values: ndarray::ArrayView<f64, D>,
    ) -> ndarray::Array<f64, D> {
        match self.dtype {
            DType::F32 => values.mapv(|x| f64::from(x as f32)),
            _ => values.to_owned(),
        }
    }

    /// The latents' rows and layout, after the dtype and shape checks.
    fn rows(&self, latents: &Input) -> Result<(Array2<f64>, crate::layout::Layout), Failure> {
        let (rows, layout) = to_rows(&latents.values, self.dim(), "latents")?;
        match latents.dtype {
            DType::Int => Err(Failure::input_shape(
                "latents",
                format!("latents: dtype {:?} is not a float dtype", latents.dtype),
            )),
            dtype if dtype != self.dtype => Err(Failure::DtypeMismatch {
                what: "latents".to_owned(),
                message: format!(
                    "latents: dtype {dtype:?} does not match the layer's {:?}",
                    self.dtype
                ),
            }),
            _ => Ok((rows, layout)),
        }
    }

    fn forward(
        &mut self,
        latents: &Input,
        train: bool,
        upstream: Option<&Input>,
    ) -> Result<(Quantization, Option<Gradients>), Failure> {
        let (rows, layout) = self.rows(latents)?;
        let upstream = upstream
            .map(|u| to_rows(&u.values, self.dim(), "upstream").map(|(rows, _)| rows))
            .transpose()?;
        let out = match self.dtype {
            DType::F64 => compute::forward::<f64>(self, rows.view(), upstream.as_ref())?,
            _ => compute::forward::<f32>(self, rows.view(), upstream.as_ref())?,
        };
        if train && let (Some(update), Some(ema)) = (&out.ema, self.ema.as_mut()) {
            self.variable = update.codebook.clone();
            *ema = (update.ema_w.clone(), update.cluster_size.clone());
        }
        let codes = match &out.codes {
            CodeRows::Lattice(c) => Codes::Lattice(layout.restore_lattice_codes(c)),
            CodeRows::Indices(i) => Codes::Indices(layout.restore_indices(i)),
        };
        let quantization = Quantization {
            quantized: layout.restore(&out.quantized),
            points: layout.restore(&out.points),
            dtype: self.dtype,
            codes,
            loss: out.loss,
            parts: out.parts,
        };
        let gradients = out.latents_grad.map(|g| Gradients {
            latents: layout.restore(&g),
            variable: out.variable_grad,
        });
        Ok((quantization, gradients))
    }
}

impl Backend for ReferenceBackend {
    type Quantizer = ReferenceQuantizer;

    fn name(&self) -> String {
        "reference".to_owned()
    }

    fn quantizer(
        &self,
        config: &QuantizerConfig,
        dtype: DType,
    ) -> Result<ReferenceQuantizer, Failure> {
        if dtype == DType::Int {
            return Err(Failure::Other("layers are f32 or f64".to_owned()));
        }
        let (rows, ema) = match config {
            QuantizerConfig::Lattice(c) => {
                c.validate()?;
                (1, false)
            }
            QuantizerConfig::Vq(c) => {
                c.validate()?;
                (c.codebook_size, false)
            }
            QuantizerConfig::VqEma(c) => {
                c.validate()?;
                (c.codebook_size, true)
            }
            QuantizerConfig::Finite(_) => return Err(compute::finite_not_in_suites()),
        };
        let dim = config.dim();
        // Deterministic placeholders: every suite sets the values it uses.
        let variable =
            Array2::from_shape_fn((rows, dim), |(k, d)| 1.0 + (k * dim + d) as f64 / 8.0);
        Ok(ReferenceQuantizer {
            config: *config,
            dtype,
            variable,
            ema: ema.then(|| (Array2::ones((rows, dim)), Array1::zeros(rows))),
        })
    }

    fn set_variable(
        &self,
        layer: &mut ReferenceQuantizer,
        values: ArrayView2<f64>,
    ) -> Result<(), Failure> {
        if values.dim() != layer.variable.dim() {
            return Err(Failure::Other(format!(
                "variable of shape {:?} set to {:?}",
                layer.variable.dim(),
                values.dim()
            )));
        }
        layer.variable = layer.round(values);
        Ok(())
    }

    fn set_ema(
        &self,
        layer: &mut ReferenceQuantizer,
        ema_w: ArrayView2<f64>,
        cluster_size: ArrayView1<f64>,
    ) -> Result<(), Failure> {
        let (ema_w, cluster_size) = (layer.round(ema_w), layer.round(cluster_size));
        match layer.ema.as_mut() {
            Some(ema) => {
                *ema = (ema_w, cluster_size);
                Ok(())
            }
            None => Err(Failure::Other("not a VQ-EMA layer".to_owned())),
        }
    }

    fn state(&self, layer: &ReferenceQuantizer) -> Result<LayerState, Failure> {
        Ok(LayerState {
            variable: layer.variable.clone(),
            ema: layer.ema.as_ref().map(|(ema_w, cluster_size)| EmaState {
                codebook: layer.variable.clone(),
                ema_w: ema_w.clone(),
                cluster_size: cluster_size.clone(),
            }),
        })
    }

    fn quantize(
        &self,
        layer: &mut ReferenceQuantizer,
        latents: &Input,
        train: bool,
    ) -> Result<Quantization, Failure> {
        Ok(layer.forward(latents, train, None)?.0)
    }

    fn decode(&self, layer: &ReferenceQuantizer, codes: &Codes) -> Result<ArrayD<f64>, Failure> {
        let (rows, layout) = codes_to_rows(codes, layer.dim())?;
        let points = match (&rows, layer.config) {
            (CodeRows::Lattice(c), QuantizerConfig::Lattice(_)) => match layer.dtype {
                DType::F64 => compute::lattice::<f64>(&layer.variable)?
                    .decode(c.view())?
                    .mapv(f64::from),
                _ => compute::lattice::<f32>(&layer.variable)?
                    .decode(c.view())?
                    .mapv(f64::from),
            },
            (CodeRows::Indices(i), QuantizerConfig::Vq(_) | QuantizerConfig::VqEma(_)) => {
                let k = layer.variable.nrows();
                let indices = i
                    .iter()
                    .map(|&i| usize::try_from(i).ok().filter(|&i| i < k))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| Failure::Other(format!("indices must be in 0..{k}")))?;
                layer.variable.select(ndarray::Axis(0), &indices)
            }
            _ => {
                return Err(Failure::input_shape(
                    "codes",
                    "codes of the other kind: lattice layers decode lattice codes, codebooks indices",
                ));
            }
        };
        Ok(layout.restore(&points))
    }

    fn gradients(
        &self,
        layer: &mut ReferenceQuantizer,
        latents: &Input,
        upstream: &Input,
    ) -> Result<(Quantization, Gradients), Failure> {
        let (quantization, gradients) = layer.forward(latents, true, Some(upstream))?;
        Ok((quantization, gradients.expect("gradients were asked for")))
    }
}
