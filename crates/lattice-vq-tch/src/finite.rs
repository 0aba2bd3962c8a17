//! The finite-codebook layers: FSQ and the bounded lattice (lattice-vq-core's
//! `FiniteScalarQuantizer` and `BoundedLattice`) in libtorch tensor ops, with token indices
//! and the optional projections `D -> d -> D`.

use lattice_vq_core::layout::{self, LatentLayout};
use lattice_vq_core::{FiniteKind, FiniteQuantizerConfig, Lattice, LatticeFloat, QuantizerConfig};
use tch::kind::Element;
use tch::{Device, Kind, Tensor, nn};

use crate::error::{Result, input_shape};
use crate::output::{
    Codes, LossParts, QuantizerOutput, host, lattice_code_rows, restore, restore_codes, to_rows,
    vq_losses, zero_like_scalar,
};
use crate::quantizer::{Quantizer, module_and_constructor, named_variables};

/// What [`FiniteQuantizer::quantize_finite`] returns: the [`QuantizerOutput`] of the
/// [`Quantizer`] trait plus what only a finite codebook has.
#[derive(Debug)]
pub struct FiniteOutput {
    /// The decoder input (straight-through, projected back to D): `quantize`'s `quantized`.
    pub quantized: Tensor,
    /// The codebook points `e` in the codebook's `d` dimensions, detached, in the latents'
    /// layout (channels of an image, last of rows and sequences).
    pub points: Tensor,
    /// The digits `k_i in 0..l_i`, `Int` (I32), channel-last `(..., d)` like lattice codes.
    pub codes: Tensor,
    /// The token indices in `0..K`, `Int64`, `(...)` (the code's position without the
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
/// Variables under the path (`QuantizerConfig::tensors`): `project_in` / `project_out`
/// (`weight` and `bias`, when `D != d`), `step` `(1, d)` and `offset` `(1, d)` (bounded
/// lattice), and one zero buffer `levels.i` of shape `(l_i,)` per dimension, whose shape makes
/// a checkpoint of other levels fail the strict checkpoint check. Codes of
/// [`Quantizer::quantize`] are the token indices (`Codes::Indices`, `Int64`);
/// [`Quantizer::decode`] turns indices (or digit codes) back into the decoder input.
/// Quantization is tensor ops whose values equal the core's bit for bit on the CPU (the tests
/// check), gradients come from libtorch's autograd. The layer follows its var store's kind
/// and device (`VarStore::double`, `VarStore::set_device`).
///
/// # Example
/// ```no_run
/// use lattice_vq_core::FiniteQuantizerConfig;
/// use lattice_vq_tch::{Codes, Quantizer, finite_quantizer};
/// use tch::{Device, Kind, Tensor, nn};
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let config = FiniteQuantizerConfig::bounded("8,8,8".parse()?, 64);
/// let layer = finite_quantizer(&vs.root(), &config)?;
/// let latents = Tensor::randn([4, 64, 7, 7], (Kind::Float, Device::Cpu));
/// let out = layer.quantize_finite(&latents)?;
/// assert_eq!(out.indices.size(), vec![4, 7, 7]);
/// assert_eq!(out.codes.size(), vec![4, 7, 7, 3]);
/// let decoded = layer.decode(&Codes::Indices(out.indices.shallow_clone()))?;
/// assert_eq!(decoded.size(), vec![4, 64, 7, 7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FiniteQuantizer {
    config: FiniteQuantizerConfig,
    projections: Option<(Linear, Linear)>,
    step: Option<Tensor>,
    offset: Option<Tensor>,
    /// The buffer `levels.0`: a variable that every finite layer has, so its kind and device
    /// are the var store's even after `VarStore::double` or `set_device`.
    marker: Tensor,
    /// The constants in `f32` and in `f64`: converting one set to the other kind would not
    /// give the core's bits (FSQ's `atanh(s / h)` is rounded once in each type). The var
    /// store's kind at construction must take the levels; the other kind is `None` when the
    /// core refuses them in it (more than `2^24` levels in `f32`), and only needed after
    /// `VarStore::double` or `VarStore::float`.
    single: Option<Constants>,
    double: Option<Constants>,
    /// Mixed-radix strides `(1, d)`, `Int64`.
    strides: Tensor,
}

/// A linear layer `x W^T + b` on the variables `weight` and `bias`.
#[derive(Debug)]
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_linear(&self.weight, Some(&self.bias))?)
    }

    /// The forward pass without gradient, for the detached outputs.
    fn forward_detached(&self, xs: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        Ok(xs.f_linear(&self.weight, Some(&self.bias))?)
    }
}

/// Per-dimension constants `(1, d)` in one float kind, as the core computes them.
#[derive(Debug)]
struct Constants {
    /// `(l - 1) / 2` (bounded) or the FSQ bound's `h`.
    centre_or_range: Tensor,
    /// `l - 1`.
    top: Tensor,
    /// FSQ: `s`, `atanh(s / h)` and `w`.
    fsq: Option<(Tensor, Tensor, Tensor)>,
}

impl Constants {
    /// The layer's constants in `T`, computed by the core's own types so that they are its
    /// bits.
    ///
    /// # Errors
    /// Levels whose digits `T` cannot hold exactly (the core's `InvalidConfig`), or a
    /// libtorch error.
    fn new<T: Element + Copy + LatticeFloat>(
        config: &FiniteQuantizerConfig,
        device: Device,
    ) -> Result<Self> {
        let row = |values: &[T]| -> Result<Tensor> {
            Ok(Tensor::from_slice(values)
                .f_view([1, -1])?
                .f_to_device(device)?)
        };
        // `l - 1` and `(l - 1) / 2` are exact in `T` once the core has accepted the levels in
        // `T` (below).
        let exact = |values: Vec<f64>| -> Result<Tensor> {
            Ok(Tensor::from_slice(&values)
                .f_view([1, -1])?
                .f_to_kind(T::KIND)?
                .f_to_device(device)?)
        };
        let top: Vec<f64> = config
            .levels
            .as_slice()
            .iter()
            .map(|&l| f64::from(l - 1))
            .collect();
        let centre = top.iter().map(|t| t * 0.5).collect();
        if config.kind == FiniteKind::Fsq {
            let fsq = config.fsq_quantizer::<T>()?;
            let (range, half_step, shift, width) = fsq.constants();
            return Ok(Self {
                centre_or_range: row(range)?,
                top: exact(top)?,
                fsq: Some((row(half_step)?, row(shift)?, row(width)?)),
            });
        }
        // The core's bounded lattice of these levels in `T` (unit steps, zero offsets) refuses
        // levels whose digits `T` cannot hold, as the quantization in `T` would need.
        let d = config.codebook_dim();
        let mut parameters = vec![T::one(); d];
        if config.kind == FiniteKind::BoundedWithOffset {
            parameters.extend(vec![T::zero(); d]);
        }
        config.bounded_lattice::<T>(&parameters)?;
        Ok(Self {
            centre_or_range: exact(centre)?,
            top: exact(top)?,
            fsq: None,
        })
    }

    /// The constants on `device` (the same tensors when they are there already).
    fn on(&self, device: Device) -> Result<Self> {
        let to = |t: &Tensor| t.f_to_device(device);
        Ok(Self {
            centre_or_range: to(&self.centre_or_range)?,
            top: to(&self.top)?,
            fsq: match &self.fsq {
                Some((s, shift, w)) => Some((to(s)?, to(shift)?, to(w)?)),
                None => None,
            },
        })
    }
}

impl FiniteQuantizer {
    /// Register the layer's variables under `path` (projections drawn from torch's
    /// generator as `QuantizerConfig::tensors` says; `tch::manual_seed` makes them
    /// reproducible).
    ///
    /// # Errors
    /// An invalid config, steps or offsets the core refuses, or a libtorch error.
    pub fn new(path: &nn::Path, config: &FiniteQuantizerConfig) -> Result<Self> {
        config.validate()?;
        let mut named = named_variables(QuantizerConfig::Finite(*config), path)?;
        let mut take = |name: &str| {
            named
                .iter()
                .position(|(n, _)| n == name)
                .map(|at| named.remove(at).1)
        };
        let linear = |weight: Option<Tensor>, bias: Option<Tensor>| {
            weight
                .zip(bias)
                .map(|(weight, bias)| Linear { weight, bias })
        };
        let project_in = linear(take("project_in.weight"), take("project_in.bias"));
        let project_out = linear(take("project_out.weight"), take("project_out.bias"));
        let (step, offset) = (take("step"), take("offset"));
        let marker = take("levels.0").ok_or_else(|| {
            tch::TchError::Kind("the finite layer's specs have no levels.0 buffer".into())
        })?;
        let device = path.device();
        let strides: Vec<i64> = config
            .levels
            .as_slice()
            .iter()
            .scan(1i64, |stride, &l| {
                let this = *stride;
                *stride = stride.saturating_mul(i64::from(l));
                Some(this)
            })
            .collect();
        let (single, double) = (
            Constants::new::<f32>(config, device),
            Constants::new::<f64>(config, device),
        );
        let (single, double) = match path.kind() {
            Kind::Double => (single.ok(), Some(double?)),
            _ => (Some(single?), double.ok()),
        };
        let layer = Self {
            config: *config,
            projections: project_in.zip(project_out),
            step,
            offset,
            marker,
            single,
            double,
            strides: Tensor::from_slice(&strides)
                .f_view([1, -1])?
                .f_to_device(device)?,
        };
        if layer.config.is_bounded() {
            layer.core_bounded::<f64>()?;
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

    /// The float kind of the layer's variables.
    fn kind(&self) -> Kind {
        self.marker.kind()
    }

    /// The constants in the variables' kind, on their device.
    ///
    /// # Errors
    /// Levels the core refuses in that kind (the var store was converted to it), or a
    /// libtorch error.
    fn constants(&self) -> Result<Constants> {
        let (kind, device) = (self.kind(), self.marker.device());
        let cached = match kind {
            Kind::Double => &self.double,
            _ => &self.single,
        };
        match cached {
            Some(constants) => constants.on(device),
            // Built again only to return the core's reason.
            None if kind == Kind::Double => Constants::new::<f64>(&self.config, device),
            None => Constants::new::<f32>(&self.config, device),
        }
    }

    /// The core bounded lattice of the current steps and offsets (copied to the host).
    ///
    /// # Errors
    /// The core's step and offset errors, or a libtorch error.
    fn core_bounded<T: Element + Copy + LatticeFloat>(
        &self,
    ) -> Result<lattice_vq_core::BoundedLattice<T>> {
        let mut parameters = Vec::new();
        for tensor in [&self.step, &self.offset].into_iter().flatten() {
            parameters.extend(host::<T>(tensor)?);
        }
        Ok(self.config.bounded_lattice(&parameters)?)
    }

    /// Check the projected rows with the core's rules (error path only: copies them to the
    /// host), so that the error names the element the core would.
    fn core_check<T: Element + Copy + LatticeFloat>(&self, rows: &Tensor) -> Result<()> {
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

    /// Whether one small reduction (in f64, so that f32 latents cannot overflow it) proves
    /// that the core accepts the projected rows and the current steps and offsets (as an
    /// optimiser step left them): finite latents, steps within the basis bounds of the kind,
    /// finite offsets within them. If not, the layer asks the core, which names the bad
    /// entry.
    fn proven(&self, y: &Tensor) -> Result<bool> {
        let _guard = tch::no_grad_guard();
        let mut summary = vec![y.f_sum(Kind::Double)?];
        if let Some(step) = &self.step {
            let magnitude = step.f_abs()?.f_to_kind(Kind::Double)?;
            summary.extend([
                magnitude.f_min()?,
                magnitude.f_max()?,
                magnitude.f_sum(Kind::Double)?,
            ]);
        }
        if let Some(offset) = &self.offset {
            let offset = offset.f_to_kind(Kind::Double)?;
            summary.extend([offset.f_abs()?.f_max()?, offset.f_sum(Kind::Double)?]);
        }
        let values =
            Vec::<f64>::try_from(&Tensor::f_stack(&summary, 0)?.f_to_device(Device::Cpu)?)?;
        let (min, max) = match self.kind() {
            Kind::Double => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
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

    /// Quantize latents as [`Quantizer::quantize`] does, with the digits, the codebook points
    /// and the overload count as well.
    ///
    /// # Errors
    /// As [`Quantizer::quantize`].
    pub fn quantize_finite(&self, latents: &Tensor) -> Result<FiniteOutput> {
        let kind = self.kind();
        let (rows, layout) = to_rows(latents, self.config.dim, kind)?;
        let y = match &self.projections {
            Some((project_in, _)) => project_in.forward(&rows)?,
            None => rows,
        };
        if !self.proven(&y)? {
            match kind {
                Kind::Double => self.core_check::<f64>(&y)?,
                _ => self.core_check::<f32>(&y)?,
            }
        }
        let c = self.constants()?;
        let zero = Tensor::f_zeros([], (kind, y.device()))?;
        let (quantized, points, unclamped, digits, parts) = match (&self.step, &c.fsq) {
            (Some(step), _) => {
                let offset = match &self.offset {
                    Some(offset) => offset.shallow_clone(),
                    None => step.f_zeros_like()?,
                };
                let (b, o) = (step.f_detach()?, offset.f_detach()?);
                // The core's `(z - c) * (1 / b) + (l - 1) / 2`, the reciprocal rounded once.
                let t = y
                    .f_detach()?
                    .f_sub(&o)?
                    .f_mul(&b.f_reciprocal()?)?
                    .f_add(&c.centre_or_range)?;
                // libtorch's round is half to even, as the core's.
                let k = t.f_round()?;
                let clamped = k.f_maximum(&zero)?.f_minimum(&c.top)?;
                // e = c + b (k - (l - 1) / 2) with k held constant: the box learns through
                // de/db and de/dc only.
                let e = clamped
                    .f_sub(&c.centre_or_range)?
                    .f_mul(step)?
                    .f_add(&offset)?;
                let (embedding, commitment) = vq_losses(&e, &y)?;
                let size = step.f_abs()?.f_sum(kind)?.f_neg()?;
                let parts = LossParts {
                    embedding,
                    commitment,
                    size,
                };
                (
                    exact_straight_through(&e, &y)?,
                    e.f_detach()?,
                    k,
                    clamped,
                    parts,
                )
            }
            (None, Some((half_step, shift, half_width))) => {
                // The core's bound: tanh correctly rounded from f64.
                let bound = y
                    .f_add(shift)?
                    .f_to_kind(Kind::Double)?
                    .f_tanh()?
                    .f_to_kind(kind)?
                    .f_mul(&c.centre_or_range)?
                    .f_sub(half_step)?;
                let k = bound.f_detach()?.f_round()?.f_add(half_width)?;
                let clamped = k.f_maximum(&zero)?.f_minimum(&c.top)?;
                let level = clamped.f_sub(half_width)?;
                let e = level.f_div(half_width)?;
                // vector-quantize-pytorch's round_ste then the scale (gradients through the
                // tanh), with the forward value exactly the point.
                let straight_through = exact_straight_through(&e, &bound.f_div(half_width)?)?;
                let parts = LossParts {
                    embedding: zero_like_scalar(&y)?,
                    commitment: zero_like_scalar(&y)?,
                    size: zero_like_scalar(&y)?,
                };
                (straight_through, e, k, clamped, parts)
            }
            (None, None) => unreachable!("a bounded layer has steps, an FSQ layer constants"),
        };
        let overloaded = unclamped
            .f_ne_tensor(&digits)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        let loss = if self.config.is_bounded() {
            parts
                .embedding
                .f_add(&parts.commitment.f_mul_scalar(self.config.commitment_cost)?)?
                .f_add(&parts.size.f_mul_scalar(self.config.sparsity_cost)?)?
        } else {
            zero_like_scalar(&quantized)?
        };
        let indices = digits
            .f_to_kind(Kind::Int64)?
            .f_mul(&self.strides.f_to_device(digits.device())?)?
            .f_sum_dim_intlist(-1, false, Kind::Int64)?;
        let (decoder_input, decoded) = match &self.projections {
            Some((_, project_out)) => (
                project_out.forward(&quantized)?,
                project_out.forward_detached(&points)?,
            ),
            None => (quantized, points.shallow_clone()),
        };
        let d = self.config.codebook_dim();
        Ok(FiniteOutput {
            quantized: restore(layout, &decoder_input, self.config.dim)?,
            points: restore(layout, &points, d)?,
            codes: restore_codes(layout, &digits.f_to_kind(Kind::Int)?)?,
            indices: restore_codes(layout, &indices)?,
            decoded: restore(layout, &decoded, self.config.dim)?,
            loss,
            parts,
            overloaded: overloaded as u64,
        })
    }

    /// Token indices back to the decoder input `(N, D)`, through the core's mixed radix and
    /// decode on the host (the same bits as the points of `quantize`).
    ///
    /// # Errors
    /// A token `>= K` (`TokenOutOfRange`), steps or offsets the core refuses, or a libtorch
    /// error.
    fn decode_tokens(&self, tokens: &[u64]) -> Result<Tensor> {
        fn points<T: Element + Copy + LatticeFloat>(
            layer: &FiniteQuantizer,
            tokens: &[u64],
        ) -> Result<Tensor> {
            let codes = layer.config.levels.radix().codes(tokens.into())?;
            let points = if layer.config.is_bounded() {
                layer.core_bounded::<T>()?.decode(codes.view())?
            } else {
                layer.config.fsq_quantizer::<T>()?.decode(codes.view())?
            };
            let values: Vec<T> = points.iter().copied().collect();
            let d = layer.config.codebook_dim() as i64;
            Ok(Tensor::from_slice(&values).f_view([-1, d])?)
        }
        let e = match self.kind() {
            Kind::Double => points::<f64>(self, tokens)?,
            _ => points::<f32>(self, tokens)?,
        };
        let e = e.f_to_device(self.marker.device())?;
        Ok(match &self.projections {
            Some((_, project_out)) => project_out.forward_detached(&e)?,
            None => e,
        })
    }

    /// The tokens of `Int64` indices, on the host.
    ///
    /// # Errors
    /// Indices of another kind or negative (`InputShape` on `indices`), or a libtorch error.
    fn tokens(indices: &Tensor) -> Result<Vec<u64>> {
        if indices.kind() != Kind::Int64 {
            let requirement = format!(
                "token indices must be Int64 (I64), not {:?}",
                indices.kind()
            );
            return Err(input_shape("indices", indices, requirement));
        }
        host::<i64>(indices)?
            .into_iter()
            .map(|i| u64::try_from(i).ok())
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                let requirement = "token indices must be non-negative".to_owned();
                input_shape("indices", indices, requirement)
            })
    }

    /// Token indices, `Int64` of any shape `(...)` the layer gave, back to their digits
    /// `(..., d)` (`Int`), by the core's mixed radix.
    ///
    /// # Errors
    /// Indices of another kind or negative (`InputShape` on `indices`), indices `>= K`
    /// (`TokenOutOfRange`), or a libtorch error.
    pub fn indices_to_codes(&self, indices: &Tensor) -> Result<Tensor> {
        let tokens = Self::tokens(indices)?;
        let codes = self.config.levels.radix().codes(tokens.as_slice().into())?;
        let mut shape = indices.size();
        shape.push(self.config.codebook_dim() as i64);
        let values: Vec<i32> = codes.iter().copied().collect();
        Ok(Tensor::from_slice(&values)
            .f_view(shape.as_slice())?
            .f_to_device(indices.device())?)
    }
}

/// The tokens of digit rows `(N, d)` (`Int`), each row checked by the core's mixed radix.
///
/// # Errors
/// A digit outside `0..l_i` (`CodeOutOfRange` naming its row and column), or a libtorch
/// error.
fn digit_tokens(config: &FiniteQuantizerConfig, digits: &Tensor) -> Result<Vec<u64>> {
    let radix = config.levels.radix();
    let digits = host::<i32>(digits)?;
    let d = config.codebook_dim();
    digits
        .chunks(d)
        .enumerate()
        .map(|(row, code)| {
            // The radix checks one code at a time and reports row 0: name the row.
            radix.index(code).map_err(|error| match error {
                lattice_vq_core::Error::CodeOutOfRange {
                    col, code, levels, ..
                } => lattice_vq_core::Error::CodeOutOfRange {
                    row,
                    col,
                    code,
                    levels,
                }
                .into(),
                other => other.into(),
            })
        })
        .collect()
}

/// `sg(e) + (y - sg(y))`: the straight-through estimator (gradient 1 with respect to `y`)
/// whose forward value is exactly `e` (`y - y = 0`), unlike `y + sg(e - y)`, which rounds.
/// So decoding the token indices gives the decoder the same input, bit for bit, as the
/// forward pass did, and a file of tokens reproduces the evaluated reconstruction exactly.
fn exact_straight_through(e: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(e.f_detach()?.f_add(&y.f_sub(&y.f_detach()?)?)?)
}

/// Token indices (`Int64`, in a layout's index shape) as `(rows,)`, with the layout they
/// stand for; their range is [`FiniteQuantizer::indices_to_codes`]'s to check, so that a
/// token `>= K` is the core's `TokenOutOfRange`.
///
/// # Errors
/// A kind other than `Int64`, a shape outside the three layouts, or no indices.
fn index_rows(indices: &Tensor) -> Result<(Tensor, LatentLayout)> {
    if indices.kind() != Kind::Int64 {
        let requirement = format!("indices must be Int64 (I64), not {:?}", indices.kind());
        return Err(input_shape("codes", indices, requirement));
    }
    let dims: Vec<usize> = indices.size().iter().map(|&s| s as usize).collect();
    let layout = LatentLayout::of_indices(&dims)
        .ok_or_else(|| input_shape("codes", indices, layout::INDICES_REQUIREMENT.into()))?;
    if layout.rows() == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "codes" }.into());
    }
    Ok((indices.f_reshape([-1])?, layout))
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

    /// Token indices (`Codes::Indices`, `Int64`) or digit codes (`Codes::Lattice`, `Int`,
    /// `(..., d)`) back to the decoder input, in the latents' layout. A token `>= K` is the
    /// core's `TokenOutOfRange`, a digit outside `0..l_i` its `CodeOutOfRange`.
    /// The bounded lattice's clamped digits and the digits counted (FSQ's bound keeps every
    /// digit inside the box for up to 1001 levels: it reports its clamps too).
    fn overload(&self, latents: &Tensor) -> Result<Option<(u64, u64)>> {
        let out = self.quantize_finite(latents)?;
        Ok(Some((out.overloaded, out.codes.numel() as u64)))
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        // The crate holds no ndarray: the core's radix turns tokens into the code rows its
        // decode takes, so digit codes go through their tokens (exact, and checked).
        let (tokens, layout) = match codes {
            Codes::Indices(indices) => {
                let (rows, layout) = index_rows(indices)?;
                (Self::tokens(&rows)?, layout)
            }
            Codes::Lattice(_) => {
                let (rows, layout) = lattice_code_rows(codes, self.config.codebook_dim())?;
                if layout.rows() == 0 {
                    return Err(lattice_vq_core::Error::EmptyInput { what: "codes" }.into());
                }
                (digit_tokens(&self.config, &rows)?, layout)
            }
        };
        restore(layout, &self.decode_tokens(&tokens)?, self.config.dim)
    }
}

module_and_constructor!(FiniteQuantizer, finite_quantizer, FiniteQuantizerConfig);
