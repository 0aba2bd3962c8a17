//! The finite-codebook layer, generic over its codebook: the projections `D -> d -> D`,
//! token indices, the loss, decoding and the checks. What differs between codebooks is one
//! [`TensorCodebook`] each: `bounded.rs` (the core's `BoundedLattice`) and `fsq.rs` (its
//! `FiniteScalarQuantizer`).

mod bounded;
mod fsq;

use lattice_vq_core::layout::{self, LatentLayout};
use lattice_vq_core::{FiniteKind, FiniteQuantizerConfig, Lattice, LatticeFloat, QuantizerConfig};
use tch::kind::Element;
use tch::{Device, Kind, Tensor, nn};

use bounded::Bounded;
use fsq::Fsq;

use crate::error::{Result, input_shape};
use crate::output::{
    Codes, LossParts, QuantizerOutput, host, lattice_code_rows, restore, restore_codes, to_rows,
    zero_like_scalar,
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
    codebook: Codebook,
    /// The buffer `levels.0`: a variable that every finite layer has, so its kind and device
    /// are the var store's even after `VarStore::double` or `set_device`.
    marker: Tensor,
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

/// A float type of the core and of libtorch.
trait Float: Element + Copy + LatticeFloat {}

impl<T: Element + Copy + LatticeFloat> Float for T {}

/// One finite codebook in libtorch tensor ops: what FSQ and the bounded lattice do
/// differently inside the finite layer. Its values equal the core type's bit for bit on the
/// CPU (the `finite` suite of the test kit checks).
trait TensorCodebook {
    /// The core's codebook type over `T`.
    type Core<T: Float>: Lattice<T>;

    /// The core codebook of the current parameters (copied to the host).
    ///
    /// # Errors
    /// The core's parameter errors, or a libtorch error.
    fn core<T: Float>(&self, config: &FiniteQuantizerConfig) -> Result<Self::Core<T>>;

    /// `Double` scalars of the parameters for [`TensorCodebook::accepts`], reduced with the
    /// latents' in one transfer.
    fn summary(&self) -> Result<Vec<Tensor>>;

    /// Whether the (finite) `summary` proves that the core accepts the parameters in `kind`,
    /// as an optimiser step left them. If not, the layer asks the core, which names the bad
    /// entry.
    fn accepts(&self, summary: &[f64], kind: Kind) -> bool;

    /// Quantize the projected rows `(N, d)`, in their kind and on their device.
    ///
    /// # Errors
    /// Levels the core refuses in the rows' kind (the var store was converted to it), or a
    /// libtorch error.
    fn quantize(&self, config: &FiniteQuantizerConfig, y: &Tensor) -> Result<Quantized>;
}

/// What a [`TensorCodebook`] gives for rows `y` `(N, d)`: all `(N, d)` in the rows' kind.
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
#[derive(Debug)]
enum Codebook {
    Bounded(Bounded),
    Fsq(Fsq),
}

/// A codebook's `N` constant rows in `f32` and in `f64`, as the core computes them in each.
/// The var store's kind at construction must take the levels; the other kind is `None` when
/// the core refuses them in it (more than `2^24` levels in `f32`), and only needed after
/// `VarStore::double` or `VarStore::float`.
#[derive(Debug)]
struct ByKind<const N: usize> {
    single: Option<[Tensor; N]>,
    double: Option<[Tensor; N]>,
}

impl<const N: usize> ByKind<N> {
    /// Both kinds' constants, by `make`.
    ///
    /// # Errors
    /// `make`'s for `kind`.
    fn new(kind: Kind, make: impl Fn(Kind) -> Result<[Tensor; N]>) -> Result<Self> {
        let (single, double) = (make(Kind::Float), make(Kind::Double));
        Ok(match kind {
            Kind::Double => Self {
                single: single.ok(),
                double: Some(double?),
            },
            _ => Self {
                single: Some(single?),
                double: double.ok(),
            },
        })
    }

    /// The constants in `kind` on `device` (the same tensors when they are there already);
    /// `make` builds those the core refused again, only to return its reason.
    fn get(
        &self,
        kind: Kind,
        device: Device,
        make: impl Fn(Kind) -> Result<[Tensor; N]>,
    ) -> Result<[Tensor; N]> {
        let cached = match kind {
            Kind::Double => &self.double,
            _ => &self.single,
        };
        let Some(constants) = cached else {
            return make(kind);
        };
        let moved: Vec<Tensor> = constants
            .iter()
            .map(|t| t.f_to_device(device))
            .collect::<std::result::Result<_, _>>()?;
        Ok(moved
            .try_into()
            .unwrap_or_else(|_| unreachable!("N tensors in, N out")))
    }
}

/// A `(1, d)` row of `values` in `kind` on `device`: values exact in that kind (`l - 1`,
/// `(l - 1) / 2` of levels the core accepted in it).
fn exact_row(values: Vec<f64>, kind: Kind, device: Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(&values)
        .f_view([1, -1])?
        .f_to_kind(kind)?
        .f_to_device(device)?)
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
        let missing =
            |name: &str| tch::TchError::Kind(format!("the finite layer's specs have no {name}"));
        let marker = take("levels.0").ok_or_else(|| missing("levels.0 buffer"))?;
        let (kind, device) = (path.kind(), path.device());
        let codebook = match config.kind {
            FiniteKind::Fsq => Codebook::Fsq(Fsq::new(config, kind, device)?),
            FiniteKind::Bounded | FiniteKind::BoundedWithOffset => {
                let step = take("step").ok_or_else(|| missing("step"))?;
                let offset = take("offset");
                Codebook::Bounded(Bounded::new(config, step, offset, kind, device)?)
            }
        };
        let strides = config.levels.strides();
        if let Codebook::Bounded(bounded) = &codebook {
            // Stored steps or offsets outside the core's bounds.
            bounded.core::<f64>(config)?;
        }
        Ok(Self {
            config: *config,
            projections: project_in.zip(project_out),
            codebook,
            marker,
            strides: Tensor::from_slice(&strides)
                .f_view([1, -1])?
                .f_to_device(device)?,
        })
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

    /// The float kind of the layer's variables.
    fn kind(&self) -> Kind {
        self.marker.kind()
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
        let kind = self.kind();
        let (rows, layout) = to_rows(latents, self.config.dim, kind)?;
        let y = match &self.projections {
            Some((project_in, _)) => project_in.forward(&rows)?,
            None => rows,
        };
        // One small reduction (in f64, so that f32 latents cannot overflow it) proves that
        // the core accepts the projected rows (finite) and the parameters; if not, the
        // core's own check (on a host copy) names the bad element.
        let proven = {
            let _guard = tch::no_grad_guard();
            let mut summary = vec![y.f_sum(Kind::Double)?];
            summary.extend(codebook.summary()?);
            let values =
                Vec::<f64>::try_from(&Tensor::f_stack(&summary, 0)?.f_to_device(Device::Cpu)?)?;
            values.iter().all(|v| v.is_finite()) && codebook.accepts(&values[1..], kind)
        };
        if !proven {
            match kind {
                Kind::Double => codebook
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
        } = codebook.quantize(&self.config, &y)?;
        let overloaded = unclamped
            .f_ne_tensor(&digits)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        let (loss, parts) = match parts {
            Some(parts) => {
                let loss = parts
                    .embedding
                    .f_add(&parts.commitment.f_mul_scalar(self.config.commitment_cost)?)?
                    .f_add(&parts.size.f_mul_scalar(self.config.sparsity_cost)?)?;
                (loss, parts)
            }
            None => {
                let parts = LossParts {
                    embedding: zero_like_scalar(&y)?,
                    commitment: zero_like_scalar(&y)?,
                    size: zero_like_scalar(&y)?,
                };
                (zero_like_scalar(&quantized)?, parts)
            }
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
        fn points<T: Float, C: TensorCodebook>(
            codebook: &C,
            config: &FiniteQuantizerConfig,
            tokens: &[u64],
        ) -> Result<Tensor> {
            let codes = config.levels.radix().codes(tokens.into())?;
            let points = codebook.core::<T>(config)?.decode(codes.view())?;
            let values: Vec<T> = points.iter().copied().collect();
            let d = config.codebook_dim() as i64;
            Ok(Tensor::from_slice(&values).f_view([-1, d])?)
        }
        let config = &self.config;
        let e = match (&self.codebook, self.kind()) {
            (Codebook::Bounded(c), Kind::Double) => points::<f64, _>(c, config, tokens)?,
            (Codebook::Bounded(c), _) => points::<f32, _>(c, config, tokens)?,
            (Codebook::Fsq(c), Kind::Double) => points::<f64, _>(c, config, tokens)?,
            (Codebook::Fsq(c), _) => points::<f32, _>(c, config, tokens)?,
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
