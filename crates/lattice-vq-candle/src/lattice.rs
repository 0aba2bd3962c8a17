//! The LL-VQ layer: a learnable diagonal lattice basis from a `VarBuilder`.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Init, VarBuilder};
use lattice_vq_core::{DiagonalLattice, LatticeFloat, LatticeQuantizerConfig};
use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::lattice_ops::{self, LatticeOp};
use crate::output::{Codes, LossParts, QuantizerOutput, code_rows, to_rows};
use crate::quantizer::Quantizer;

/// Learnable lattice vector quantizer (paper Section 3; semantics of the official code), the
/// candle twin of `lattice_vq_tch::LatticeQuantizer`.
///
/// The basis diagonal `b` is the variable `embedding.weight` of shape `(1, D)` (the official
/// checkpoints' name and shape). `quantize` follows lattice-vq-core's straight-through
/// contract: `v = round(z * (1 / b))` with ties to even, `e = b * v`, output `z + sg(e - z)`,
/// means over all `N*D` elements, size as a sum. On the CPU the core itself quantizes (and
/// checks its rules) and the output and losses are one fused op each (`lattice_ops`); on
/// other devices the layer is candle tensor ops (candle's own `round` goes half away from
/// zero, so it rounds with the core's add-and-subtract `2^23` trick and checks the core's
/// rules with a few reductions).
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
    /// Get or create the basis `embedding.weight` under `vb`, initialised `U(-r, r)` (Eq. 6)
    /// when created. A created basis with an entry below the core's minimum magnitude is
    /// drawn again.
    ///
    /// # Errors
    /// An invalid config, a var builder whose dtype is not F32 or F64, a stored basis of the
    /// wrong shape or one that breaks the core's rules, or a candle error.
    pub fn new(config: &LatticeQuantizerConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        let half_width = config.init_half_width()?;
        let init = Init::Uniform {
            lo: -half_width,
            up: half_width,
        };
        let vb = vb.pp("embedding");
        let created = !vb.contains_tensor("weight");
        let weight = vb.get_with_hints((1, config.dim), "weight", init)?;
        let quantizer = Self {
            weight,
            config: *config,
        };
        if created {
            let variable = candle_core::Var::from_tensor(&quantizer.weight)?;
            while quantizer.to_core().is_err() {
                let draw = Tensor::rand(-half_width, half_width, (1, config.dim), vb.device())?;
                variable.set(&draw.to_dtype(quantizer.weight.dtype())?)?;
            }
        }
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
        let values = self
            .weight
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        if self.weight.dtype() == DType::F32 {
            let as_f32: Vec<f32> = values.iter().map(|&b| b as f32).collect();
            DiagonalLattice::<f32>::from_slice(&as_f32)?;
        }
        Ok(DiagonalLattice::<f64>::from_slice(&values)?)
    }

    fn basis_bounds(&self) -> (f64, f64) {
        match self.weight.dtype() {
            DType::F32 => (
                f64::from(f32::MIN_BASIS_MAGNITUDE),
                f64::from(f32::MAX_BASIS_MAGNITUDE),
            ),
            _ => (f64::MIN_BASIS_MAGNITUDE, f64::MAX_BASIS_MAGNITUDE),
        }
    }

    /// Integer codes `v` (as floats) of contiguous `(rows, D)` latents, every core rule
    /// checked with a few reductions.
    fn codes_of(&self, rows: &Tensor) -> Result<Tensor> {
        let weight = self.weight.detach();
        let v = round_half_to_even(&rows.detach().broadcast_mul(&weight.recip()?)?)?;
        let magnitude = weight.abs()?;
        let summary = Tensor::stack(
            &[
                v.min_all()?,
                v.max_all()?,
                v.sum_all()?,
                magnitude.min_all()?,
                magnitude.max_all()?,
                magnitude.sum_all()?,
            ],
            0,
        )?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?;
        let [v_min, v_max, v_sum, b_min, b_max, b_sum] =
            <[f64; 6]>::try_from(summary).unwrap_or([f64::NAN; 6]);
        let (min, max) = self.basis_bounds();
        // candle's min/max skip NaN, so the sums (NaN or infinite when any term is) decide.
        if !(b_sum.is_finite() && b_min >= min && b_max <= max) {
            self.to_core()?;
        }
        if !(v_sum.is_finite() && v_min >= f64::CODE_MIN && v_max < f64::CODE_MAX_EXCLUSIVE) {
            self.core_check(rows)?;
        }
        Ok(v)
    }

    /// Re-check latents with the core's own rules and arithmetic (error path only: copies
    /// them to the CPU), so that the error names the same element and value the core would.
    fn core_check(&self, rows: &Tensor) -> Result<()> {
        if self.weight.dtype() == DType::F32 {
            let basis = self.weight.flatten_all()?.to_vec1::<f32>()?;
            DiagonalLattice::<f32>::from_slice(&basis)?
                .validate_latents(&rows.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)?;
        } else {
            let basis = self
                .weight
                .flatten_all()?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            let rows = rows.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            DiagonalLattice::<f64>::from_slice(&basis)?.validate_latents(&rows)?;
        }
        Ok(())
    }
}

/// Round half to even, elementwise, with tensor ops every backend has: below `2^23` (`2^52`
/// for F64) adding and subtracting that power of two rounds the magnitude to even in the
/// FPU's default mode; above it every float is an integer already.
pub(crate) fn round_half_to_even(x: &Tensor) -> Result<Tensor> {
    let shift = if x.dtype() == DType::F64 {
        4_503_599_627_370_496.0
    } else {
        8_388_608.0
    };
    let magnitude = x.abs()?;
    let rounded = magnitude.affine(1.0, shift)?.affine(1.0, -shift)?;
    let rounded = magnitude.lt(shift)?.where_cond(&rounded, &magnitude)?;
    Ok(x.lt(0.0)?.where_cond(&rounded.neg()?, &rounded)?)
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
        let path = if self.weight.device().is_cpu() {
            Path::CpuOps
        } else {
            Path::TensorOps
        };
        self.decode_on(codes, path)
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
                let op = lattice_ops::Quantize::default();
                let v = match rows.apply_op2_no_bwd(&self.weight, &op) {
                    Ok(v) => v,
                    Err(error) => {
                        // The core refused: name the basis entry or latent it refused.
                        self.to_core()?;
                        self.core_check(&rows)?;
                        return Err(error.into());
                    }
                };
                let apply = |op| lattice_ops::apply(&rows, &self.weight, &v, op);
                (
                    apply(LatticeOp::StraightThrough)?,
                    op.points(rows.shape())?,
                    v.clone(),
                    apply(LatticeOp::Embedding)?,
                    apply(LatticeOp::Commitment)?,
                )
            }
            Path::TensorOps => {
                let v = self.codes_of(&rows)?;
                // e = b * v with v held constant: the basis learns through de/db = v only.
                let points = v.broadcast_mul(&self.weight)?;
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
        let size = self.weight.abs()?.sum_all()?.neg()?;
        let loss = ((&embedding + commitment.affine(self.config.commitment_cost, 0.0)?)?
            + size.affine(self.config.sparsity_cost, 0.0)?)?;
        Ok(QuantizerOutput {
            quantized: layout.restore(&quantized, dim)?,
            points: layout.restore(&points, dim)?,
            codes: Codes::Lattice(layout.codes(&v)?),
            loss,
            parts: LossParts {
                embedding,
                commitment,
                size,
            },
        })
    }
}

impl LatticeQuantizer {
    fn decode_on(&self, codes: &Codes, path: Path) -> Result<Tensor> {
        let dim = self.dim();
        let Codes::Lattice(codes) = codes else {
            return Err(Error::InputShape {
                what: "codes",
                found: codes.tensor().dims().to_vec(),
                requirement: "an LL-VQ layer decodes lattice codes, not codeword indices".into(),
            });
        };
        let (v, layout) = code_rows(codes, dim, true)?;
        let v = v.to_device(self.weight.device())?;
        let points = match path {
            // The core's decode, whose arithmetic gave `quantize` its points.
            Path::CpuOps => {
                let codes = v.flatten_all()?.to_vec1::<i32>()?;
                let shape = (codes.len() / dim, dim);
                let codes =
                    ArrayView2::from_shape(shape, &codes).map_err(candle_core::Error::wrap)?;
                if self.weight.dtype() == DType::F32 {
                    let basis = self.weight.flatten_all()?.to_vec1::<f32>()?;
                    let points = DiagonalLattice::from_slice(&basis)?.decode(codes)?;
                    Tensor::from_vec(points.into_iter().collect::<Vec<_>>(), shape, &Device::Cpu)?
                } else {
                    let basis = self.weight.flatten_all()?.to_vec1::<f64>()?;
                    let points = DiagonalLattice::from_slice(&basis)?.decode(codes)?;
                    Tensor::from_vec(points.into_iter().collect::<Vec<_>>(), shape, &Device::Cpu)?
                }
            }
            Path::TensorOps => {
                self.to_core()?;
                let weight = self.weight.detach();
                v.to_dtype(weight.dtype())?.broadcast_mul(&weight)?
            }
        };
        layout.restore(&points, dim)
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
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};
    use lattice_vq_core::LatticeQuantizerConfig;

    use super::{LatticeQuantizer, Path};
    use crate::test_support::max_gap;

    #[test]
    fn cpu_ops_and_tensor_ops_agree_on_values_codes_losses_and_gradients() {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F64, &device);
        let config = LatticeQuantizerConfig::new(64, 8).with_sparsity_cost(0.3);
        let layer = LatticeQuantizer::new(&config, vb).unwrap();
        // 1,280 rows: three tasks of the parallel passes.
        let count = 4 * 8 * 16 * 20;
        let values: Vec<f64> = (0..count).map(|i| 2.0 * (i as f64 * 0.618).sin()).collect();
        let latents = candle_core::Var::from_vec(values, (4, 8, 16, 20), &device).unwrap();
        let weights = Tensor::rand(0f64, 1.0, (4, 8, 16, 20), &device).unwrap();
        let run = |path| {
            let out = layer.forward_on(latents.as_tensor(), path).unwrap();
            let objective =
                ((&out.quantized * &weights).unwrap().sum_all().unwrap() + &out.loss).unwrap();
            let grads = objective.backward().unwrap();
            let grad_latents = grads.get(latents.as_tensor()).unwrap().clone();
            let grad_basis = grads.get(layer.variable()).unwrap().clone();
            (out, grad_latents, grad_basis)
        };
        let (ours, our_latents, our_basis) = run(Path::CpuOps);
        let (theirs, their_latents, their_basis) = run(Path::TensorOps);
        assert_eq!(ours.codes.tensor().dims(), &[4, 16, 20, 8]);
        assert_eq!(max_gap(&ours.points, &theirs.points), 0.0);
        for path in [Path::CpuOps, Path::TensorOps] {
            let decoded = layer.decode_on(&ours.codes, path).unwrap();
            assert_eq!(decoded.dims(), ours.points.dims());
            assert_eq!(max_gap(&decoded, &ours.points), 0.0);
        }
        assert_eq!(
            ours.codes
                .tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<i32>()
                .unwrap(),
            theirs
                .codes
                .tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<i32>()
                .unwrap()
        );
        assert_eq!(max_gap(&ours.quantized, &theirs.quantized), 0.0);
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

    #[test]
    fn losses_and_basis_gradient_are_the_same_to_the_last_bit_whatever_the_thread_count() {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let layer = LatticeQuantizer::new(&LatticeQuantizerConfig::new(512, 16), vb).unwrap();
        // 1,568 rows: four tasks of the parallel passes.
        let values: Vec<f32> = (0..8 * 16 * 14 * 14)
            .map(|i| (i as f32 * 0.377).sin())
            .collect();
        let latents = Tensor::from_vec(values, (8, 16, 14, 14), &device).unwrap();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let out = layer.forward_on(&latents, Path::CpuOps).unwrap();
                let grads = out.loss.backward().unwrap();
                let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
                let basis = grads.get(layer.variable()).unwrap();
                (
                    [scalar(&out.parts.embedding), scalar(&out.parts.commitment)],
                    basis.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                )
            })
        };
        assert_eq!(run(1), run(3));
    }
}
