//! The LL-VQ layer: a learnable diagonal lattice basis in an `nn::Path`.

use lattice_vq_core::{DiagonalLattice, LatticeFloat, LatticeQuantizerConfig};
use tch::{Kind, Reduction, Tensor, nn};

use crate::error::Result;
use crate::output::{Codes, LossParts, QuantizerOutput, lattice_code_rows, to_rows};
use crate::quantizer::{Quantizer, quantized_or_panic};

/// Learnable lattice vector quantizer (paper Section 3; semantics of the official code).
///
/// The basis diagonal `b` (D numbers) is the variable `embedding.weight` of shape `(1, D)`
/// under the given path: the official checkpoints' name and shape, so weights load and save
/// in both directions. Sparse and dense LL-VQ are configs
/// ([`LatticeQuantizerConfig::new`] and [`LatticeQuantizerConfig::dense`]), not types.
///
/// [`Quantizer::quantize`] follows lattice-vq-core's straight-through contract (`lattice_vq_core::loss`):
/// `v = round(z * (1 / b))` (ties to even), `e = b * v`, output `z + sg(e - z)`,
/// losses as means over all `N*D` elements and the size loss as a sum. It enforces the core's
/// rules on every call, at the cost of one small reduction and one device sync: basis
/// entries finite and within `LatticeFloat`'s magnitude bounds, latents finite, codes within
/// `i32`. [`Quantizer::decode`] gives `b * v` back for codes `v`.
///
/// `nn::ModuleT::forward_t` returns `quantized` and panics on bad input, as tch's own layers
/// do; [`Quantizer::quantize`] is the fallible call.
///
/// # Example
/// ```no_run
/// use lattice_vq_core::LatticeQuantizerConfig;
/// use lattice_vq_tch::{lattice_quantizer, Quantizer};
/// use tch::{nn, Device, Kind, Tensor};
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let quantizer = lattice_quantizer(&vs.root(), &LatticeQuantizerConfig::new(512, 64))?;
/// let latents = Tensor::randn([8, 64, 14, 14], (Kind::Float, Device::Cpu));
/// let out = quantizer.quantize(&latents, true)?;
/// assert_eq!(out.codes.lattice().unwrap().size(), vec![8, 14, 14, 64]);
/// assert!(quantizer.decode(&out.codes)?.equal(&out.points));
/// out.loss.backward();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LatticeQuantizer {
    weight: Tensor,
    config: LatticeQuantizerConfig,
}

impl LatticeQuantizer {
    /// Register the basis under `path` and initialise it `U(-r, r)` (Eq. 6) from torch's
    /// random generator (`tch::manual_seed` makes it reproducible).
    ///
    /// Draws below the core's minimum basis magnitude are drawn again, so the layer never
    /// starts with a basis the official code would divide by zero with.
    ///
    /// # Errors
    /// An invalid config (`LatticeQuantizerConfig::validate`), a path whose kind is not
    /// `Float` or `Double`, or a libtorch error.
    pub fn new(path: &nn::Path, config: &LatticeQuantizerConfig) -> Result<Self> {
        config.validate()?;
        let half_width = config.init_half_width()?;
        let dim = config.dim as i64;
        let init = nn::Init::Uniform {
            lo: -half_width,
            up: half_width,
        };
        let weight = path.sub("embedding").f_var("weight", &[1, dim], init)?;
        let quantizer = Self {
            weight,
            config: *config,
        };
        while quantizer.validate_basis().is_err() {
            let mut weight = quantizer.weight.shallow_clone();
            tch::no_grad(|| weight.f_uniform_(-half_width, half_width).map(drop))?;
        }
        Ok(quantizer)
    }

    /// The config the layer was built with.
    pub fn config(&self) -> &LatticeQuantizerConfig {
        &self.config
    }

    /// The basis diagonal `b` as a `(D,)` view of the trainable variable (a view: its
    /// gradient is on [`LatticeQuantizer::variable`]).
    ///
    /// # Errors
    /// A libtorch error.
    pub fn basis(&self) -> Result<Tensor> {
        Ok(self.weight.f_view([-1])?)
    }

    /// The trainable variable itself, `embedding.weight` of shape `(1, D)`.
    pub fn variable(&self) -> &Tensor {
        &self.weight
    }

    /// The basis as lattice-vq-core's [`DiagonalLattice`] (copied to the CPU), validated.
    ///
    /// # Errors
    /// The core's basis errors (`NonFiniteBasis`, `BasisOutOfRange`) or a libtorch error.
    pub fn to_core(&self) -> Result<DiagonalLattice<f64>> {
        self.validate_basis()
    }

    /// Check the basis against the core's rules for the variable's float type.
    fn validate_basis(&self) -> Result<DiagonalLattice<f64>> {
        let values = Vec::<f64>::try_from(
            self.weight
                .f_detach()?
                .f_to_kind(Kind::Double)?
                .f_flatten(0, -1)?,
        )?;
        if self.weight.kind() == Kind::Float {
            // f32's bounds are tighter; check them on the f32 values themselves.
            let as_f32: Vec<f32> = values.iter().map(|&b| b as f32).collect();
            DiagonalLattice::<f32>::from_slice(&as_f32)?;
        }
        Ok(DiagonalLattice::<f64>::from_slice(&values)?)
    }

    /// Magnitude bounds of the basis for the variable's float type.
    fn basis_bounds(&self) -> (f64, f64) {
        match self.weight.kind() {
            Kind::Float => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
            _ => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
        }
    }

    /// Integer codes `v` (as floats) of contiguous `(rows, D)` latents, with every core rule
    /// checked by one reduction.
    fn codes_of(&self, rows: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let reciprocal = self.weight.f_reciprocal()?;
        let v = rows.f_mul(&reciprocal)?.f_round()?;
        let basis_magnitude = self.weight.f_abs()?;
        let extremes = [
            v.f_min()?,
            v.f_max()?,
            basis_magnitude.f_min()?,
            basis_magnitude.f_max()?,
        ];
        let summary = Tensor::f_stack(&extremes, 0)?.f_to_kind(Kind::Double)?;
        let [v_min, v_max, b_min, b_max] =
            <[f64; 4]>::try_from(Vec::<f64>::try_from(summary)?).unwrap_or([f64::NAN; 4]);
        let (min, max) = self.basis_bounds();
        // NaN fails every comparison (and min/max propagate it), so NaN latents and bases
        // land in the error paths.
        if !(b_min >= min && b_max <= max) {
            self.validate_basis()?;
        }
        if !(v_min >= f64::CODE_MIN && v_max < f64::CODE_MAX_EXCLUSIVE) {
            self.core_check(rows)?;
        }
        Ok(v)
    }

    /// Re-check latents with the core's own rules and arithmetic (error path only: copies
    /// them to the CPU), so that the error names the same element and value the core would.
    fn core_check(&self, rows: &Tensor) -> Result<()> {
        let flat = |t: &Tensor| {
            t.f_detach()?
                .f_to_device(tch::Device::Cpu)?
                .f_to_kind(self.weight.kind())?
                .f_flatten(0, -1)
        };
        if self.weight.kind() == Kind::Float {
            let basis = Vec::<f32>::try_from(flat(&self.weight)?)?;
            DiagonalLattice::<f32>::from_slice(&basis)?
                .validate_latents(&Vec::<f32>::try_from(flat(rows)?)?)?;
        } else {
            let basis = Vec::<f64>::try_from(flat(&self.weight)?)?;
            DiagonalLattice::<f64>::from_slice(&basis)?
                .validate_latents(&Vec::<f64>::try_from(flat(rows)?)?)?;
        }
        Ok(())
    }
}

impl Quantizer for LatticeQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.weight.kind())?;
        let v = self.codes_of(&rows)?;
        // e = b * v with v held constant: the basis learns through dq/db = v only.
        let points = v.f_mul(&self.weight)?;
        let detached_rows = rows.f_detach()?;
        let embedding = points.f_mse_loss(&detached_rows, Reduction::Mean)?;
        let commitment = points.f_detach()?.f_mse_loss(&rows, Reduction::Mean)?;
        let size = self.weight.f_abs()?.f_sum(self.weight.kind())?.f_neg()?;
        let loss = embedding
            .f_add(&commitment.f_mul_scalar(self.config.commitment_cost)?)?
            .f_add(&size.f_mul_scalar(self.config.sparsity_cost)?)?;
        let straight_through = rows.f_add(&points.f_sub(&rows)?.f_detach()?)?;
        let codes = v.f_to_kind(Kind::Int)?;
        Ok(QuantizerOutput {
            quantized: layout.restore(&straight_through, dim)?,
            // From the integer codes, as `decode` computes them (`v` may hold -0.0 where
            // the codes hold 0): the same bits as `decode(&codes)`.
            points: layout.restore(&self.points_of(&codes)?, dim)?,
            codes: Codes::Lattice(layout.codes(&codes)?),
            loss,
            parts: LossParts {
                embedding,
                commitment,
                size,
            },
        })
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        let dim = self.dim();
        let (rows, layout) = lattice_code_rows(codes, dim)?;
        layout.restore(&self.points_of(&rows)?, dim)
    }
}

impl LatticeQuantizer {
    /// Lattice points `b * v`, detached, of integer codes `(rows, D)`.
    fn points_of(&self, codes: &Tensor) -> Result<Tensor> {
        Ok(codes
            .f_to_kind(self.weight.kind())?
            .f_mul(&self.weight.f_detach()?)?)
    }
}

/// Panics with the error's message on bad input; [`Quantizer::quantize`] is the fallible
/// call.
impl nn::ModuleT for LatticeQuantizer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        quantized_or_panic(self, xs, train)
    }
}

/// [`LatticeQuantizer::new`]: the layer under `path`, like tch's `nn::linear`.
///
/// # Errors
/// As [`LatticeQuantizer::new`].
pub fn lattice_quantizer(
    path: &nn::Path,
    config: &LatticeQuantizerConfig,
) -> Result<LatticeQuantizer> {
    LatticeQuantizer::new(path, config)
}
