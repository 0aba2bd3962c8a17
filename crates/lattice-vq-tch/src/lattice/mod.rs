//! The LL-VQ layer: a learnable lattice's parameters as one variable in an `nn::Path`, with
//! the lattice's own tensor ops in one file per lattice ([`TensorLattice`]: `diagonal.rs`).

mod diagonal;

use lattice_vq_core::{
    DiagonalLattice, Lattice, LatticeFloat, LatticeQuantizerConfig, QuantizerConfig,
};
use tch::kind::Element;
use tch::{Kind, Tensor, nn};

use crate::error::Result;
use crate::output::{
    Codes, LossParts, QuantizerOutput, host, lattice_code_rows, output_from_rows, restore,
    straight_through, to_rows, vq_losses,
};
use crate::quantizer::{Quantizer, module_and_constructor, variables};

/// The lattice of [`LatticeQuantizer`]: the paper's diagonal one.
type Geometry = diagonal::Diagonal;

/// A core lattice as libtorch tensor ops on its parameter variable.
pub(crate) trait TensorLattice {
    /// The core lattice these ops compute, in the variable's float type.
    type Core<T: Element + Copy + LatticeFloat>: Lattice<T>;

    /// The core lattice of `parameters` ([`Lattice::parameters`]), validated as the core's
    /// constructor validates them.
    fn core<T: Element + Copy + LatticeFloat>(
        parameters: &[T],
    ) -> lattice_vq_core::Result<Self::Core<T>>;

    /// Integer codes `v` (as floats) of contiguous `(rows, D)` latents, and whether a few
    /// reductions proved that the core accepts the parameters and every latent (if not, the
    /// layer asks the core, which names the first bad entry).
    fn codes(parameters: &Tensor, rows: &Tensor) -> Result<(Tensor, bool)>;

    /// The points `e = B v` of float codes `(rows, D)`, differentiable in `parameters`.
    fn points(parameters: &Tensor, codes: &Tensor) -> Result<Tensor>;

    /// [`Lattice::size_loss`], differentiable.
    fn size_loss(parameters: &Tensor) -> Result<Tensor>;
}

/// Learnable lattice vector quantizer (paper Section 3): `Lattice::quantize`, the losses of
/// `lattice_vq_core::loss` and the straight-through output, as libtorch ops. The basis
/// diagonal `b` is the variable `embedding.weight` `(1, D)` under the path (the official
/// name and shape); sparse and dense LL-VQ are configs, not types. Every call checks the
/// core's basis and latent rules at the cost of one small reduction and one device sync.
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
    /// Register the basis under `path`, drawn as `QuantizerConfig::tensors` and
    /// `lattice_vq_core::init::redraw_until_valid` say from torch's generator
    /// (`tch::manual_seed` makes it reproducible).
    ///
    /// # Errors
    /// An invalid config or a libtorch error.
    pub fn new(path: &nn::Path, config: &LatticeQuantizerConfig) -> Result<Self> {
        config.validate()?;
        let [weight] = variables(QuantizerConfig::Lattice(*config), path)?;
        Ok(Self {
            weight,
            config: *config,
        })
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

    /// The basis as lattice-vq-core's [`DiagonalLattice`] (copied to the CPU), validated with
    /// the bounds of the variable's kind.
    ///
    /// # Errors
    /// The core's basis errors (`NonFiniteBasis`, `BasisOutOfRange`) or a libtorch error.
    pub fn to_core(&self) -> Result<DiagonalLattice<f64>> {
        if self.weight.kind() == Kind::Float {
            Geometry::core(&host::<f32>(&self.weight)?)?;
        }
        Ok(Geometry::core(&host::<f64>(&self.weight)?)?)
    }

    /// Check the parameters and contiguous `(rows, D)` latents with the core's own rules and
    /// arithmetic (error path only: copies them to the CPU), so that the error names the
    /// element and value the core would.
    fn core_check(&self, rows: &Tensor) -> Result<()> {
        fn check<T: Element + Copy + LatticeFloat>(
            parameters: &Tensor,
            rows: &Tensor,
        ) -> Result<()> {
            Geometry::core(&host::<T>(parameters)?)?.validate_latents(&host::<T>(rows)?)?;
            Ok(())
        }
        match self.weight.kind() {
            Kind::Float => check::<f32>(&self.weight, rows),
            _ => check::<f64>(&self.weight, rows),
        }
    }

    /// Lattice points, detached, of integer codes `(rows, D)`.
    fn points_of(&self, codes: &Tensor) -> Result<Tensor> {
        let codes = codes.f_to_kind(self.weight.kind())?;
        Geometry::points(&self.weight.f_detach()?, &codes)
    }
}

impl Quantizer for LatticeQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.weight.kind())?;
        let (v, proven) = Geometry::codes(&self.weight, &rows)?;
        if !proven {
            self.core_check(&rows)?;
        }
        // e = B v with v held constant: the lattice learns through de/dB only.
        let points = Geometry::points(&self.weight, &v)?;
        let (embedding, commitment) = vq_losses(&points, &rows)?;
        let size = Geometry::size_loss(&self.weight)?;
        let loss = embedding
            .f_add(&commitment.f_mul_scalar(self.config.commitment_cost)?)?
            .f_add(&size.f_mul_scalar(self.config.sparsity_cost)?)?;
        let quantized = straight_through(&rows, &points)?;
        let codes = v.f_to_kind(Kind::Int)?;
        // The points from the integer codes, as `decode` computes them (`v` may hold -0.0
        // where the codes hold 0): the same bits as `decode(&codes)`.
        let points = self.points_of(&codes)?;
        let parts = LossParts {
            embedding,
            commitment,
            size,
        };
        let codes = Codes::Lattice(codes);
        output_from_rows(layout, dim, (&quantized, &points), codes, loss, parts)
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        let (rows, layout) = lattice_code_rows(codes, self.dim())?;
        restore(layout, &self.points_of(&rows)?, self.dim())
    }
}

module_and_constructor!(LatticeQuantizer, lattice_quantizer, LatticeQuantizerConfig);
