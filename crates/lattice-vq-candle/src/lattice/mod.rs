//! The LL-VQ layer: a learnable lattice's parameters as one variable from a `VarBuilder`,
//! quantized by lattice-vq-core on the CPU (`crate::lattice_ops`, generic over the core's
//! `Lattice`) and by the lattice's own tensor ops on other devices ([`TensorLattice`], one
//! file per lattice: `diagonal.rs`).

mod diagonal;

pub(crate) use diagonal::round_half_to_even;

use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;
use lattice_vq_core::{DiagonalLattice, LatticeQuantizerConfig, QuantizerConfig};
use ndarray::ArrayView2;

use crate::error::{Result, input_shape};
use crate::lattice_ops::{self, CoreLattice, Element, LatticeOp};
use crate::output::{
    Codes, LossParts, QuantizerOutput, code_rows, host, restore, restore_codes, to_rows,
};
use crate::quantizer::{Quantizer, variables};

/// The lattice of [`LatticeQuantizer`]: the paper's diagonal one.
type Kind = diagonal::Diagonal;

/// A core lattice as candle tensor ops, for devices other than the CPU (and as the tests'
/// second opinion on it); the CPU path needs only its [`CoreLattice`].
pub(crate) trait TensorLattice: CoreLattice {
    /// Integer codes `v` (as floats) of contiguous `(rows, D)` latents, and whether a few
    /// reductions proved that the core accepts the parameters and every latent (if not, the
    /// layer asks the core, which names the first bad entry).
    fn codes(parameters: &Tensor, rows: &Tensor) -> Result<(Tensor, bool)>;

    /// The points `e = B v` of float codes, differentiable in `parameters` only.
    fn points(parameters: &Tensor, codes: &Tensor) -> Result<Tensor>;

    /// `Lattice::size_loss`, differentiable.
    fn size_loss(parameters: &Tensor) -> Result<Tensor>;
}

/// Learnable lattice vector quantizer (paper Section 3) with the semantics of
/// lattice-vq-core: `Lattice::quantize`, the losses of `lattice_vq_core::loss` and the
/// straight-through output.
///
/// The basis diagonal `b` is the variable `embedding.weight` of shape `(1, D)` (the official
/// checkpoints' name and shape). On the CPU the core itself quantizes (and checks its rules)
/// and the output and losses are one fused op each; on other devices the layer is candle
/// tensor ops.
///
/// # Example
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_vq_core::LatticeQuantizerConfig;
/// use lattice_vq_candle::{lattice_quantizer, Quantizer};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let quantizer = lattice_quantizer(&LatticeQuantizerConfig::new(512, 64), vb)?;
/// let latents = Tensor::randn(0f32, 3.0, (8, 64, 14, 14), &Device::Cpu)?;
/// let out = quantizer.quantize(&latents, true)?;
/// assert_eq!(out.codes.lattice().unwrap().dims(), &[8, 14, 14, 64]);
/// assert_eq!(out.points.dims(), &[8, 64, 14, 14]);
/// let grads = out.loss.backward()?;
/// assert!(grads.get(quantizer.variable()).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LatticeQuantizer {
    weight: Tensor,
    config: LatticeQuantizerConfig,
}

/// Build an LL-VQ layer under `vb` (candle's constructor-function convention).
///
/// # Errors
/// As [`LatticeQuantizer::new`].
pub fn lattice_quantizer(
    config: &LatticeQuantizerConfig,
    vb: VarBuilder,
) -> Result<LatticeQuantizer> {
    LatticeQuantizer::new(config, vb)
}

impl LatticeQuantizer {
    /// Get or create the basis `embedding.weight` under `vb` (`QuantizerConfig::tensors`),
    /// drawn again when created as `lattice_vq_core::init::redraw_until_valid` says.
    ///
    /// # Errors
    /// An invalid config, a stored basis of the wrong shape or one that breaks the core's
    /// rules, or a candle error.
    pub fn new(config: &LatticeQuantizerConfig, vb: VarBuilder) -> Result<Self> {
        let created = !vb.contains_tensor("embedding.weight");
        let [weight] = variables(QuantizerConfig::Lattice(*config), &vb)?;
        if created {
            diagonal::redraw_until_valid(&weight, config.init_half_width()?)?;
        }
        let quantizer = Self {
            weight,
            config: *config,
        };
        quantizer.to_core()?;
        Ok(quantizer)
    }

    /// The config the layer was built with.
    pub fn config(&self) -> &LatticeQuantizerConfig {
        &self.config
    }

    /// The basis diagonal `b`, shape `(D,)` (a reshape of [`LatticeQuantizer::variable`]).
    ///
    /// # Errors
    /// A candle error.
    pub fn basis(&self) -> Result<Tensor> {
        Ok(self.weight.flatten_all()?)
    }

    /// The trainable variable `embedding.weight`, shape `(1, D)`: the key of its gradient.
    pub fn variable(&self) -> &Tensor {
        &self.weight
    }

    /// The basis as lattice-vq-core's [`DiagonalLattice`] (copied to the CPU), validated with
    /// the bounds of the variable's dtype.
    ///
    /// # Errors
    /// The core's basis errors (`NonFiniteBasis`, `BasisOutOfRange`) or a candle error.
    pub fn to_core(&self) -> Result<DiagonalLattice<f64>> {
        if self.weight.dtype() == DType::F32 {
            Kind::core(&host::<f32>(&self.weight)?)?;
        }
        Ok(Kind::core(&host::<f64>(&self.weight)?)?)
    }

    /// Check the parameters and contiguous `(rows, D)` latents with the core's own rules and
    /// arithmetic (error path only: copies them to the CPU), so that the error names the
    /// element and value the core would.
    fn core_check(&self, rows: &Tensor) -> Result<()> {
        fn check<T: Element>(parameters: &Tensor, rows: &Tensor) -> Result<()> {
            Kind::core(&host::<T>(parameters)?)?.validate_latents(&host::<T>(rows)?)?;
            Ok(())
        }
        match self.weight.dtype() {
            DType::F32 => check::<f32>(&self.weight, rows),
            _ => check::<f64>(&self.weight, rows),
        }
    }

    /// How [`Quantizer::quantize`] and [`Quantizer::decode`] compute on the variable's
    /// device.
    fn path(&self) -> Path {
        if self.weight.device().is_cpu() {
            Path::CpuOps
        } else {
            Path::TensorOps
        }
    }
}

impl Quantizer for LatticeQuantizer {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn quantize(&self, latents: &Tensor, _train: bool) -> Result<QuantizerOutput> {
        let path = if latents.device().is_cpu() {
            Path::CpuOps
        } else {
            Path::TensorOps
        };
        self.forward_on(latents, path)
    }

    fn decode(&self, codes: &Codes) -> Result<Tensor> {
        self.decode_on(codes, self.path())
    }
}

/// How [`Quantizer::quantize`] computes: this crate's CPU ops (`lattice_ops`), or
/// candle tensor ops (every device; the tests' second opinion on the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    CpuOps,
    TensorOps,
}

impl LatticeQuantizer {
    fn forward_on(&self, latents: &Tensor, path: Path) -> Result<QuantizerOutput> {
        let dim = self.dim();
        let (rows, layout) = to_rows(latents, dim, self.weight.dtype())?;
        let (quantized, points, v, embedding, commitment) = match path {
            Path::CpuOps => {
                let op = lattice_ops::Quantize::<Kind>::new();
                let v = match rows.apply_op2_no_bwd(&self.weight, &op) {
                    Ok(v) => v,
                    Err(error) => {
                        // The core refused: name the parameter or latent it refused.
                        self.core_check(&rows)?;
                        return Err(error.into());
                    }
                };
                let apply = |op| lattice_ops::apply::<Kind>(&rows, &self.weight, &v, op);
                (
                    apply(LatticeOp::StraightThrough)?,
                    op.points(rows.shape())?,
                    v.clone(),
                    apply(LatticeOp::Embedding)?,
                    apply(LatticeOp::Commitment)?,
                )
            }
            Path::TensorOps => {
                let (v, proven) = Kind::codes(&self.weight.detach(), &rows.detach())?;
                if !proven {
                    self.core_check(&rows)?;
                }
                // e = B v with v held constant: the lattice learns through de/dB only.
                let points = Kind::points(&self.weight, &v)?;
                let embedding = (&points - &rows.detach())?.sqr()?.mean_all()?;
                let commitment = (points.detach() - &rows)?.sqr()?.mean_all()?;
                let straight_through = (&rows + (&points - &rows)?.detach())?;
                (
                    straight_through,
                    points.detach(),
                    v.to_dtype(DType::I32)?,
                    embedding,
                    commitment,
                )
            }
        };
        let size = Kind::size_loss(&self.weight)?;
        let loss = ((&embedding + commitment.affine(self.config.commitment_cost, 0.0)?)?
            + size.affine(self.config.sparsity_cost, 0.0)?)?;
        Ok(QuantizerOutput {
            quantized: restore(layout, &quantized, dim)?,
            points: restore(layout, &points, dim)?,
            codes: Codes::Lattice(restore_codes(layout, &v)?),
            loss,
            parts: LossParts {
                embedding,
                commitment,
                size,
            },
        })
    }

    fn decode_on(&self, codes: &Codes, path: Path) -> Result<Tensor> {
        let dim = self.dim();
        let Codes::Lattice(codes) = codes else {
            let requirement = "an LL-VQ layer decodes lattice codes, not codeword indices";
            return Err(input_shape("codes", codes.tensor(), requirement.into()));
        };
        let (v, layout) = code_rows(codes, dim, true)?;
        let v = v.to_device(self.weight.device())?;
        let points = match path {
            // The core's decode, whose arithmetic gave `quantize` its points.
            Path::CpuOps => {
                fn decode<T: Element>(parameters: &Tensor, v: &Tensor) -> Result<Tensor> {
                    let codes = v.flatten_all()?.to_vec1::<i32>()?;
                    let lattice = Kind::core(&host::<T>(parameters)?)?;
                    let shape = (codes.len() / lattice.dim(), lattice.dim());
                    let codes =
                        ArrayView2::from_shape(shape, &codes).map_err(candle_core::Error::wrap)?;
                    let points: Vec<T> = lattice.decode(codes)?.into_iter().collect();
                    Ok(Tensor::from_vec(points, shape, v.device())?)
                }
                match self.weight.dtype() {
                    DType::F32 => decode::<f32>(&self.weight, &v)?,
                    _ => decode::<f64>(&self.weight, &v)?,
                }
            }
            Path::TensorOps => {
                self.to_core()?;
                Kind::points(&self.weight.detach(), &v.to_dtype(self.weight.dtype())?)?
            }
        };
        restore(layout, &points, dim)
    }
}

/// `Module` view of the layer: the straight-through quantized latents only (the training
/// flag changes nothing for LL-VQ, so candle's `ModuleT` for every `Module` is the same).
impl Module for LatticeQuantizer {
    fn forward(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.quantize(latents, false)?.quantized)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};
    use candle_nn::{VarBuilder, VarMap};
    use lattice_vq_core::LatticeQuantizerConfig;

    use super::{LatticeQuantizer, Path};
    use crate::test_support::max_gap;

    /// The CPU ops against the tensor ops (the other devices' path) on the CPU: codes,
    /// points, decode and outputs to the bit, losses and gradients to rounding.
    #[test]
    fn cpu_ops_and_tensor_ops_agree_on_values_codes_losses_and_gradients() {
        let (device, varmap) = (Device::Cpu, VarMap::new());
        let vb = VarBuilder::from_varmap(&varmap, DType::F64, &device);
        let config = LatticeQuantizerConfig::new(64, 8).with_sparsity_cost(0.3);
        let layer = LatticeQuantizer::new(&config, vb).unwrap();
        // 1,280 rows: three tasks of the parallel passes.
        let shape = (4, 8, 16, 20);
        let values: Vec<f64> = (0..4 * 8 * 16 * 20)
            .map(|i| 2.0 * (i as f64 * 0.618).sin())
            .collect();
        let latents = Var::from_vec(values, shape, &device).unwrap();
        let weights = Tensor::rand(0f64, 1.0, shape, &device).unwrap();
        let run = |path| {
            let out = layer.forward_on(latents.as_tensor(), path).unwrap();
            let objective = (&out.quantized * &weights).unwrap().sum_all().unwrap();
            let grads = (objective + &out.loss).unwrap().backward().unwrap();
            let latents = grads.get(latents.as_tensor()).unwrap().clone();
            let basis = grads.get(layer.variable()).unwrap().clone();
            (out, latents, basis)
        };
        let (ours, our_latents, our_basis) = run(Path::CpuOps);
        let (theirs, their_latents, their_basis) = run(Path::TensorOps);
        assert_eq!(ours.codes.tensor().dims(), &[4, 16, 20, 8]);
        for path in [Path::CpuOps, Path::TensorOps] {
            let decoded = layer.decode_on(&ours.codes, path).unwrap();
            assert_eq!(decoded.dims(), ours.points.dims());
            assert_eq!(max_gap(&decoded, &ours.points), 0.0);
        }
        for (a, b) in [
            (ours.codes.tensor(), theirs.codes.tensor()),
            (&ours.points, &theirs.points),
            (&ours.quantized, &theirs.quantized),
        ] {
            assert_eq!(max_gap(a, b), 0.0);
        }
        for (a, b) in [
            (&ours.loss, &theirs.loss),
            (&ours.parts.embedding, &theirs.parts.embedding),
            (&ours.parts.commitment, &theirs.parts.commitment),
            (&our_latents, &their_latents),
            (&our_basis, &their_basis),
        ] {
            assert_eq!(a.dims(), b.dims());
            assert!(max_gap(a, b) < 1e-12, "gap {}", max_gap(a, b));
        }
        assert!(max_gap(&our_basis, &our_basis.zeros_like().unwrap()) > 0.0);
    }
}
