//! The finite-codebook layers: FSQ and the bounded lattice (lattice-vq-core's
//! `FiniteScalarQuantizer` and `BoundedLattice`) in candle tensor ops, with token indices and
//! the optional projections `D -> d -> D`.

use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use lattice_vq_core::{FiniteKind, FiniteQuantizerConfig, Lattice, LatticeFloat, QuantizerConfig};
use ndarray::{ArrayView1, ArrayView2};

use crate::error::{Result, input_shape};
use crate::lattice::round_half_to_even;
use crate::lattice_ops::Element;
use crate::output::{
    Codes, LossParts, QuantizerOutput, code_rows, host, restore, restore_codes, to_rows,
    zero_like_scalar,
};
use crate::quantizer::{Quantizer, named_variables};

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
    step: Option<Tensor>,
    offset: Option<Tensor>,
    dtype: DType,
    constants: Constants,
    /// Mixed-radix strides `(1, d)`, `I64`.
    strides: Tensor,
}

/// Per-dimension constants `(1, d)` in the layer's dtype, as the core computes them.
#[derive(Debug, Clone)]
struct Constants {
    /// `(l - 1) / 2` (bounded) or the FSQ bound's `h`.
    centre_or_range: Tensor,
    /// `l - 1`.
    top: Tensor,
    /// FSQ: `s`, `atanh(s / h)` and `w`.
    fsq: Option<(Tensor, Tensor, Tensor)>,
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
        let (step, offset) = (take("step"), take("offset"));
        let device = vb.device();
        let dtype = vb.dtype();
        let levels = config.levels.as_slice();
        let row = |values: Vec<f64>| -> Result<Tensor> {
            Ok(Tensor::from_vec(values, (1, levels.len()), device)?.to_dtype(dtype)?)
        };
        let constants = match dtype {
            DType::F64 => constants::<f64>(config, row)?,
            _ => constants::<f32>(config, row)?,
        };
        let strides: Vec<i64> = levels
            .iter()
            .scan(1i64, |stride, &l| {
                let this = *stride;
                *stride = stride.saturating_mul(i64::from(l));
                Some(this)
            })
            .collect();
        let layer = Self {
            config: *config,
            projections: project_in.zip(project_out),
            step,
            offset,
            dtype,
            constants,
            strides: Tensor::from_vec(strides, (1, levels.len()), device)?,
        };
        if layer.config.is_bounded() {
            // In the variables' own type: an f32 box of more than 2^24 levels is refused.
            match dtype {
                DType::F64 => drop(layer.core_bounded::<f64>()?),
                _ => drop(layer.core_bounded::<f32>()?),
            }
        }
        Ok(layer)
    }

    /// The config the layer was built with.
    pub fn config(&self) -> &FiniteQuantizerConfig {
        &self.config
    }

    /// The learnable steps `(1, d)` (bounded lattice).
    pub fn step(&self) -> Option<&Tensor> {
        self.step.as_ref()
    }

    /// The learnable offsets `(1, d)` (bounded lattice with learned offsets).
    pub fn offset(&self) -> Option<&Tensor> {
        self.offset.as_ref()
    }

    /// The core bounded lattice of the current steps and offsets (copied to the host).
    ///
    /// # Errors
    /// The core's step and offset errors, or a candle error.
    fn core_bounded<T: Element>(&self) -> Result<lattice_vq_core::BoundedLattice<T>> {
        let mut parameters = Vec::new();
        for tensor in [&self.step, &self.offset].into_iter().flatten() {
            parameters.extend(host::<T>(tensor)?);
        }
        Ok(self.config.bounded_lattice(&parameters)?)
    }

    /// Whether one small reduction proves that the core accepts the projected rows and the
    /// current steps and offsets (as an optimiser step left them): finite latents, steps
    /// within the basis bounds of the dtype, finite offsets within them. If not, the layer
    /// asks the core, which names the bad entry.
    fn proven(&self, y: &Tensor) -> Result<bool> {
        let mut summary = vec![y.sum_all()?.to_dtype(DType::F64)?];
        if let Some(step) = &self.step {
            let magnitude = step.abs()?.to_dtype(DType::F64)?;
            summary.extend([
                magnitude.min_all()?,
                magnitude.max_all()?,
                magnitude.sum_all()?,
            ]);
        }
        if let Some(offset) = &self.offset {
            summary.push(offset.abs()?.to_dtype(DType::F64)?.max_all()?);
            summary.push(offset.to_dtype(DType::F64)?.sum_all()?);
        }
        let values = Tensor::stack(&summary, 0)?.to_vec1::<f64>()?;
        let (min, max) = match self.dtype {
            DType::F64 => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
            _ => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
        };
        let finite = values.iter().all(|v| v.is_finite());
        let steps_ok = self.step.is_none() || (values[1] >= min && values[2] <= max);
        let offsets_ok = self.offset.is_none() || values[values.len() - 2] <= max;
        Ok(finite && steps_ok && offsets_ok)
    }

    /// Check the projected rows with the core's rules (error path only), so that the error
    /// names the element the core would.
    fn core_check<T: Element>(&self, rows: &Tensor) -> Result<()> {
        let values = host::<T>(rows)?;
        if self.config.is_bounded() {
            self.core_bounded::<T>()?.validate_latents(&values)?;
        } else {
            self.config
                .fsq_quantizer::<T>()?
                .validate_latents(&values)?;
        }
        Ok(())
    }

    /// Quantize latents as [`Quantizer::quantize`] does, with the digits, the codebook points
    /// and the overload count as well.
    ///
    /// # Errors
    /// As [`Quantizer::quantize`].
    pub fn quantize_finite(&self, latents: &Tensor) -> Result<FiniteOutput> {
        let (rows, layout) = to_rows(latents, self.config.dim, self.dtype)?;
        let y = match &self.projections {
            Some((project_in, _)) => project_in.forward(&rows)?,
            None => rows,
        };
        if !self.proven(&y)? {
            match self.dtype {
                DType::F64 => self.core_check::<f64>(&y)?,
                _ => self.core_check::<f32>(&y)?,
            }
        }
        let c = &self.constants;
        let zero = Tensor::zeros((), self.dtype, y.device())?;
        let (quantized, points, unclamped, digits, parts) = match (&self.step, &c.fsq) {
            (Some(step), _) => {
                let offset = match &self.offset {
                    Some(offset) => offset.clone(),
                    None => step.zeros_like()?,
                };
                let (b, o) = (step.detach(), offset.detach());
                let t = y
                    .detach()
                    .broadcast_sub(&o)?
                    .broadcast_mul(&b.recip()?)?
                    .broadcast_add(&c.centre_or_range)?;
                let k = round_half_to_even(&t)?;
                let clamped = k.broadcast_maximum(&zero)?.broadcast_minimum(&c.top)?;
                // e = c + b (k - (l - 1) / 2) with k held constant: the box learns through
                // de/db and de/dc only.
                let e = clamped
                    .broadcast_sub(&c.centre_or_range)?
                    .broadcast_mul(step)?
                    .broadcast_add(&offset)?;
                let embedding = (&e - y.detach())?.sqr()?.mean_all()?;
                let commitment = (e.detach() - &y)?.sqr()?.mean_all()?;
                let size = step.abs()?.sum_all()?.neg()?;
                let straight_through = exact_straight_through(&e, &y)?;
                let parts = LossParts {
                    embedding,
                    commitment,
                    size,
                };
                (straight_through, e.detach(), k, clamped, parts)
            }
            (None, Some((half_step, shift, half_width))) => {
                // The core's bound: tanh correctly rounded from f64.
                let bound = y
                    .broadcast_add(shift)?
                    .to_dtype(DType::F64)?
                    .tanh()?
                    .to_dtype(self.dtype)?
                    .broadcast_mul(&c.centre_or_range)?
                    .broadcast_sub(half_step)?;
                let rounded = round_half_to_even(&bound.detach())?;
                let k = rounded.broadcast_add(half_width)?;
                let clamped = k.broadcast_maximum(&zero)?.broadcast_minimum(&c.top)?;
                let level = clamped.broadcast_sub(half_width)?;
                let e = level.broadcast_div(half_width)?;
                // vector-quantize-pytorch's round_ste then the scale (gradients through the
                // tanh), with the forward value exactly the point.
                let straight_through =
                    exact_straight_through(&e, &bound.broadcast_div(half_width)?)?;
                let zero = zero_like_scalar(&y)?;
                let parts = LossParts {
                    embedding: zero.clone(),
                    commitment: zero.clone(),
                    size: zero,
                };
                (straight_through, e, k, clamped, parts)
            }
            (None, None) => unreachable!("a bounded layer has steps, an FSQ layer constants"),
        };
        let overloaded = unclamped
            .ne(&digits)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()? as u64;
        let loss = if self.config.is_bounded() {
            ((&parts.embedding + parts.commitment.affine(self.config.commitment_cost, 0.0)?)?
                + parts.size.affine(self.config.sparsity_cost, 0.0)?)?
        } else {
            zero_like_scalar(&quantized)?
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
        fn points<T: Element>(layer: &FiniteQuantizer, digits: &Tensor) -> Result<Vec<T>> {
            let codes = host::<i32>(digits)?;
            let d = layer.config.codebook_dim();
            let codes = ArrayView2::from_shape((codes.len() / d, d), &codes)
                .map_err(candle_core::Error::wrap)?;
            let points = if layer.config.is_bounded() {
                layer.core_bounded::<T>()?.decode(codes)?
            } else {
                layer.config.fsq_quantizer::<T>()?.decode(codes)?
            };
            Ok(points.into_iter().collect())
        }
        let shape = digits.dims2()?;
        let device = self.constants.top.device();
        let e = match self.dtype {
            DType::F64 => Tensor::from_vec(points::<f64>(self, digits)?, shape, device)?,
            _ => Tensor::from_vec(points::<f32>(self, digits)?, shape, device)?,
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

/// The layer's constants in `T`, computed by the core's own types so that they are its bits.
fn constants<T: Element>(
    config: &FiniteQuantizerConfig,
    row: impl Fn(Vec<f64>) -> Result<Tensor>,
) -> Result<Constants> {
    let levels = config.levels.as_slice();
    let widen = |v: T| v.to_f64();
    let top: Vec<f64> = levels.iter().map(|&l| f64::from(l - 1)).collect();
    let centre = top.iter().map(|t| t * 0.5).collect();
    if config.kind == FiniteKind::Fsq {
        let fsq = config.fsq_quantizer::<T>()?;
        let (range, half_step, shift, width) = fsq.constants();
        let as_row = |values: &[T]| row(values.iter().map(|&v| widen(v)).collect());
        return Ok(Constants {
            centre_or_range: as_row(range)?,
            top: row(top)?,
            fsq: Some((as_row(half_step)?, as_row(shift)?, as_row(width)?)),
        });
    }
    Ok(Constants {
        centre_or_range: row(centre)?,
        top: row(top)?,
        fsq: None,
    })
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
