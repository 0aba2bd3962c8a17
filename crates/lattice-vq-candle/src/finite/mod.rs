//! The finite-codebook layer, generic over its codebook: the projections `D -> d -> D`,
//! token indices, the loss, decoding and the checks. What differs between codebooks is one
//! [`TensorCodebook`] each: `bounded.rs` (the core's `BoundedLattice`) and `fsq.rs` (its
//! `FiniteScalarQuantizer`).

mod bounded;
mod fsq;

use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use lattice_vq_core::{FiniteKind, FiniteQuantizerConfig, Lattice, QuantizerConfig};
use ndarray::{ArrayView1, ArrayView2};

use crate::error::{Result, input_shape};
use crate::lattice_ops::Element;
use crate::output::{
    Codes, LossParts, QuantizerOutput, code_rows, host, restore, restore_codes, to_rows,
    zero_like_scalar,
};
use crate::quantizer::{Quantizer, named_variables};
use bounded::Bounded;
use fsq::Fsq;

/// What [`FiniteQuantizer::quantize_finite`] returns: the [`QuantizerOutput`] of the
/// [`Quantizer`] trait plus what only a finite codebook has.
#[derive(Debug, Clone)]
pub struct FiniteOutput {
    /// The decoder input (straight-through, projected back to D): `quantize`'s `quantized`.
    pub quantized: Tensor,
    /// The codebook points `e` in the codebook's `d` dimensions, detached, in the latents'
    /// layout (channels of an image, last of rows and sequences).
    pub points: Tensor,
    /// The digits `k_i in 0..l_i`, `I32`, channel-last `(..., d)` like lattice codes.
    pub codes: Tensor,
    /// The token indices in `0..K`, `I64`, `(...)` (the code's position without the
    /// channel): `quantize`'s `Codes::Indices`.
    pub indices: Tensor,
    /// The points as the decoder gets them (projected back to D when there are projections),
    /// detached, in the latents' layout: `quantize`'s `points`, and what `decode` gives.
    pub decoded: Tensor,
    /// The loss (bounded lattice: embedding + beta * commitment + gamma * size; FSQ: 0).
    pub loss: Tensor,
    /// Its unweighted parts.
    pub parts: LossParts,
    /// Latent scalars (after the projection) outside the box: their digit was clamped.
    pub overloaded: u64,
}

/// A finite-codebook quantizer: FSQ or the bounded lattice, with `K = prod_i l_i` tokens.
///
/// Variables under `vb` (`QuantizerConfig::tensors`): `project_in` / `project_out` (linear,
/// when `D != d`), `step` `(1, d)` and `offset` `(1, d)` (bounded lattice), and one zero
/// buffer `levels.i` of shape `(l_i,)` per dimension, whose shape makes a checkpoint of other
/// levels fail the strict checkpoint check. Codes of [`Quantizer::quantize`] are the token
/// indices (`Codes::Indices`, `I64`); [`Quantizer::decode`] turns indices (or digit codes)
/// back into the decoder input. Quantization is tensor ops whose values equal the core's bit
/// for bit (the tests check), gradients come from candle's autograd.
///
/// # Example
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_vq_core::FiniteQuantizerConfig;
/// use lattice_vq_candle::{finite_quantizer, Quantizer};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let config = FiniteQuantizerConfig::bounded("8,8,8".parse()?, 64);
/// let layer = finite_quantizer(&config, vb)?;
/// let out = layer.quantize_finite(&Tensor::randn(0f32, 1.0, (4, 64, 7, 7), &Device::Cpu)?)?;
/// assert_eq!(out.indices.dims(), &[4, 7, 7]);
/// assert_eq!(out.codes.dims(), &[4, 7, 7, 3]);
/// let decoded = layer.decode(&lattice_vq_candle::Codes::Indices(out.indices.clone()))?;
/// assert_eq!(decoded.dims(), &[4, 64, 7, 7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FiniteQuantizer {
    config: FiniteQuantizerConfig,
    projections: Option<(Linear, Linear)>,
    codebook: Codebook,
    dtype: DType,
    /// Mixed-radix strides `(1, d)`, `I64`.
    strides: Tensor,
}

/// One finite codebook in candle tensor ops: what FSQ and the bounded lattice do differently
/// inside the finite layer. Its values equal the core type's bit for bit (the `finite`
/// suite of the test kit checks).
trait TensorCodebook {
    /// The core's codebook type over `T`.
    type Core<T: Element>: Lattice<T>;

    /// The core codebook of the current parameters (copied to the host).
    ///
    /// # Errors
    /// The core's parameter errors, or a candle error.
    fn core<T: Element>(&self, config: &FiniteQuantizerConfig) -> Result<Self::Core<T>>;

    /// `F64` scalars of the parameters for [`TensorCodebook::accepts`], reduced with the
    /// latents' in one transfer.
    fn summary(&self) -> Result<Vec<Tensor>>;

    /// Whether the (finite) `summary` proves that the core accepts the parameters in
    /// `dtype`, as an optimiser step left them. If not, the layer asks the core, which names
    /// the bad entry.
    fn accepts(&self, summary: &[f64], dtype: DType) -> bool;

    /// Quantize the projected rows `(N, d)`.
    fn quantize(&self, y: &Tensor) -> Result<Quantized>;
}

/// What a [`TensorCodebook`] gives for rows `y` `(N, d)`: all `(N, d)` in the rows' dtype.
struct Quantized {
    /// The straight-through output: its forward value is exactly `points`.
    straight_through: Tensor,
    /// The codebook points, detached.
    points: Tensor,
    /// The digits before the clamp to the box, detached.
    unclamped: Tensor,
    /// The digits `0..l_i`, detached.
    digits: Tensor,
    /// The loss's parts, for a codebook that learns through one (FSQ: `None`, no loss).
    parts: Option<LossParts>,
}

/// The codebooks of [`FiniteKind`].
#[derive(Debug, Clone)]
enum Codebook {
    Bounded(Bounded),
    Fsq(Fsq),
}

/// Build a finite-codebook layer under `vb` (candle's constructor-function convention).
///
/// # Errors
/// As [`FiniteQuantizer::new`].
pub fn finite_quantizer(config: &FiniteQuantizerConfig, vb: VarBuilder) -> Result<FiniteQuantizer> {
    FiniteQuantizer::new(config, vb)
}

impl FiniteQuantizer {
    /// Get or create the layer's variables under `vb`.
    ///
    /// # Errors
    /// An invalid config, stored steps or offsets the core refuses, or a candle error.
    pub fn new(config: &FiniteQuantizerConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let mut named = named_variables(QuantizerConfig::Finite(*config), &vb)?;
        let mut take = |name: &str| {
            named
                .iter()
                .position(|(n, _)| n == name)
                .map(|at| named.remove(at).1)
        };
        let linear = |weight: Option<Tensor>, bias| weight.map(|w| Linear::new(w, bias));
        let project_in = linear(take("project_in.weight"), take("project_in.bias"));
        let project_out = linear(take("project_out.weight"), take("project_out.bias"));
        let device = vb.device();
        let dtype = vb.dtype();
        let levels = config.levels.as_slice();
        let row = |values: Vec<f64>| -> Result<Tensor> {
            Ok(Tensor::from_vec(values, (1, levels.len()), device)?.to_dtype(dtype)?)
        };
        let top = row(levels.iter().map(|&l| f64::from(l - 1)).collect())?;
        let codebook = match config.kind {
            FiniteKind::Fsq => Codebook::Fsq(Fsq::new(config, dtype, &top, row)?),
            FiniteKind::Bounded | FiniteKind::BoundedWithOffset => {
                let step = take("step").ok_or_else(|| {
                    candle_core::Error::Msg("the bounded lattice's specs have no step".into())
                })?;
                Codebook::Bounded(Bounded::new(step, take("offset"), &top)?)
            }
        };
        let strides = config.levels.strides();
        let layer = Self {
            config: *config,
            projections: project_in.zip(project_out),
            codebook,
            dtype,
            strides: Tensor::from_vec(strides, (1, levels.len()), device)?,
        };
        // In the variables' own type: an f32 box of more than 2^24 levels is refused, and so
        // are stored steps or offsets outside the core's bounds.
        match (&layer.codebook, dtype) {
            (Codebook::Bounded(c), DType::F64) => drop(c.core::<f64>(config)?),
            (Codebook::Bounded(c), _) => drop(c.core::<f32>(config)?),
            (Codebook::Fsq(c), DType::F64) => drop(c.core::<f64>(config)?),
            (Codebook::Fsq(c), _) => drop(c.core::<f32>(config)?),
        }
        Ok(layer)
    }

    /// The config the layer was built with.
    pub fn config(&self) -> &FiniteQuantizerConfig {
        &self.config
    }

    /// The learnable steps `(1, d)` (bounded lattice).
    pub fn step(&self) -> Option<&Tensor> {
        match &self.codebook {
            Codebook::Bounded(c) => Some(c.step()),
            Codebook::Fsq(_) => None,
        }
    }

    /// The learnable offsets `(1, d)` (bounded lattice with learned offsets).
    pub fn offset(&self) -> Option<&Tensor> {
        match &self.codebook {
            Codebook::Bounded(c) => c.offset(),
            Codebook::Fsq(_) => None,
        }
    }

    /// Quantize latents as [`Quantizer::quantize`] does, with the digits, the codebook points
    /// and the overload count as well.
    ///
    /// # Errors
    /// As [`Quantizer::quantize`].
    pub fn quantize_finite(&self, latents: &Tensor) -> Result<FiniteOutput> {
        match &self.codebook {
            Codebook::Bounded(c) => self.quantize_with(c, latents),
            Codebook::Fsq(c) => self.quantize_with(c, latents),
        }
    }

    fn quantize_with<C: TensorCodebook>(
        &self,
        codebook: &C,
        latents: &Tensor,
    ) -> Result<FiniteOutput> {
        let (rows, layout) = to_rows(latents, self.config.dim, self.dtype)?;
        let y = match &self.projections {
            Some((project_in, _)) => project_in.forward(&rows)?,
            None => rows,
        };
        // One small reduction proves that the core accepts the projected rows (finite) and
        // the parameters; if not, the core's own check names the bad element.
        let mut summary = vec![y.sum_all()?.to_dtype(DType::F64)?];
        summary.extend(codebook.summary()?);
        let values = Tensor::stack(&summary, 0)?.to_vec1::<f64>()?;
        if !(values.iter().all(|v| v.is_finite()) && codebook.accepts(&values[1..], self.dtype)) {
            match self.dtype {
                DType::F64 => codebook
                    .core::<f64>(&self.config)?
                    .validate_latents(&host(&y)?)?,
                _ => codebook
                    .core::<f32>(&self.config)?
                    .validate_latents(&host(&y)?)?,
            }
        }
        let Quantized {
            straight_through: quantized,
            points,
            unclamped,
            digits,
            parts,
        } = codebook.quantize(&y)?;
        let overloaded = unclamped
            .ne(&digits)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()? as u64;
        let (loss, parts) = match parts {
            Some(parts) => {
                let weighted = parts.commitment.affine(self.config.commitment_cost, 0.0)?;
                let sparsity = parts.size.affine(self.config.sparsity_cost, 0.0)?;
                (((&parts.embedding + weighted)? + sparsity)?, parts)
            }
            None => {
                let zero = zero_like_scalar(&y)?;
                let parts = LossParts {
                    embedding: zero.clone(),
                    commitment: zero.clone(),
                    size: zero,
                };
                (zero_like_scalar(&quantized)?, parts)
            }
        };
        let digits_i64 = digits.to_dtype(DType::I64)?;
        let indices = digits_i64.broadcast_mul(&self.strides)?.sum(D::Minus1)?;
        let (decoder_input, decoded) = match &self.projections {
            Some((_, project_out)) => (
                project_out.forward(&quantized)?,
                project_out.forward(&points)?.detach(),
            ),
            None => (quantized, points.clone()),
        };
        let d = self.config.codebook_dim();
        Ok(FiniteOutput {
            quantized: restore(layout, &decoder_input, self.config.dim)?,
            points: restore(layout, &points, d)?,
            codes: restore_codes(layout, &digits.to_dtype(DType::I32)?)?,
            indices: restore_codes(layout, &indices)?,
            decoded: restore(layout, &decoded, self.config.dim)?,
            loss,
            parts,
            overloaded,
        })
    }

    /// Digit rows `(N, d)` (`I32`) back to the decoder input `(N, D)`, through the core's
    /// decode (the same bits as the points of `quantize`).
    fn decode_digits(&self, digits: &Tensor) -> Result<Tensor> {
        fn points<T: Element, C: TensorCodebook>(
            codebook: &C,
            config: &FiniteQuantizerConfig,
            digits: &Tensor,
            device: &candle_core::Device,
        ) -> Result<Tensor> {
            let codes = host::<i32>(digits)?;
            let d = config.codebook_dim();
            let codes = ArrayView2::from_shape((codes.len() / d, d), &codes)
                .map_err(candle_core::Error::wrap)?;
            let points = codebook.core::<T>(config)?.decode(codes)?;
            let shape = points.dim();
            Ok(Tensor::from_vec(
                points.into_iter().collect(),
                shape,
                device,
            )?)
        }
        let (config, device) = (&self.config, self.strides.device());
        let e = match (&self.codebook, self.dtype) {
            (Codebook::Bounded(c), DType::F64) => points::<f64, _>(c, config, digits, device)?,
            (Codebook::Bounded(c), _) => points::<f32, _>(c, config, digits, device)?,
            (Codebook::Fsq(c), DType::F64) => points::<f64, _>(c, config, digits, device)?,
            (Codebook::Fsq(c), _) => points::<f32, _>(c, config, digits, device)?,
        };
        Ok(match &self.projections {
            Some((_, project_out)) => project_out.forward(&e)?.detach(),
            None => e,
        })
    }

    /// Token indices, `I64` of any shape `(...)` the layer gave, back to their digits
    /// `(..., d)` (`I32`), by the core's mixed radix.
    ///
    /// # Errors
    /// Indices of another dtype, negative or `>= K` (`TokenOutOfRange`), or a candle error.
    pub fn indices_to_codes(&self, indices: &Tensor) -> Result<Tensor> {
        if indices.dtype() != DType::I64 {
            let requirement = format!("token indices must be I64, not {:?}", indices.dtype());
            return Err(input_shape("indices", indices, requirement));
        }
        let flat = host::<i64>(indices)?;
        let Some(tokens) = flat
            .iter()
            .map(|&i| u64::try_from(i).ok())
            .collect::<Option<Vec<u64>>>()
        else {
            let requirement = "token indices must be non-negative".to_owned();
            return Err(input_shape("indices", indices, requirement));
        };
        let codes = self
            .config
            .levels
            .radix()
            .codes(ArrayView1::from(&tokens))?;
        let mut shape = indices.dims().to_vec();
        shape.push(self.config.codebook_dim());
        let values: Vec<i32> = codes.into_iter().collect();
        Ok(Tensor::from_vec(values, shape, indices.device())?)
    }
}

/// `sg(e) + (y - sg(y))`: the straight-through estimator (gradient 1 with respect to `y`)
/// whose forward value is exactly `e` (`y - y = 0`), unlike `y + sg(e - y)`, which rounds.
/// So decoding the token indices gives the decoder the same input, bit for bit, as the
/// forward pass did, and a file of tokens reproduces the evaluated reconstruction exactly.
fn exact_straight_through(e: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok((e.detach() + (y - y.detach())?)?)
}

impl Quantizer for FiniteQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    /// The decoder input, its codebook points projected back to D (`points`), the token
    /// indices as `Codes::Indices`.
    fn quantize(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let out = self.quantize_finite(latents)?;
        Ok(QuantizerOutput {
            quantized: out.quantized,
            points: out.decoded,
            codes: Codes::Indices(out.indices),
            loss: out.loss,
            parts: out.parts,
        })
    }

    /// The bounded lattice's clamped digits and the digits counted (FSQ's bound keeps every
    /// digit inside the box for up to 1001 levels: it reports its clamps too).
    fn overload(&self, latents: &Tensor) -> Result<Option<(u64, u64)>> {
        let out = self.quantize_finite(latents)?;
        Ok(Some((out.overloaded, out.codes.elem_count() as u64)))
    }

    /// Token indices (`Codes::Indices`, `I64`) or digit codes (`Codes::Lattice`, `I32`,
    /// `(..., d)`) back to the decoder input, in the latents' layout.
    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        let d = self.config.codebook_dim();
        let (digits, layout) = match codes {
            Codes::Indices(indices) => {
                let (rows, layout) = code_rows(indices, 1, false)?;
                (self.indices_to_codes(&rows)?, layout)
            }
            Codes::Lattice(digits) => code_rows(digits, d, true)?,
        };
        restore(layout, &self.decode_digits(&digits)?, self.config.dim)
    }
}

impl Module for FiniteQuantizer {
    fn forward(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.quantize_finite(latents)?.quantized)
    }
}
