//! The LL-VQ layer on the CPU as four candle ops around lattice-vq-core, for any core
//! [`Lattice`] rebuilt from the layer's parameter tensor ([`CoreLattice`]): the codes (the
//! core's quantization, one parallel pass), then the straight-through output and the two
//! squared-error losses, each one autograd node whose value and gradient are the core's
//! functions (`lattice_vq_core::loss`, `Lattice::embedding_loss_gradient`) on the decoded
//! points `e = B v`.
//!
//! The same layer in tensor ops (`crate::lattice`, which other devices take) is about twenty
//! passes over the `(rows, D)` latents forward and as many backward, each a fresh buffer that
//! candle's backward then zero-fills and adds into.

use std::marker::PhantomData;
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Tensor};
use lattice_vq_core::{Lattice, LatticeFloat, loss};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::kernels::{KernelFloat, elements};

/// Element types of the lattice ops: the core's floats ([`LatticeFloat`]), with the kernels'
/// access to candle's storage of them.
pub(crate) trait Element: LatticeFloat + KernelFloat {}

impl<T: LatticeFloat + KernelFloat> Element for T {}

/// A kind of core lattice, rebuilt from its parameter tensor's values
/// ([`Lattice::parameters`] order) in either float type: what the ops are generic over.
pub(crate) trait CoreLattice: 'static {
    /// The core lattice over `T`.
    type Core<T: Element>: Lattice<T>;

    /// The core lattice of `parameters`, validated as its constructor validates them.
    ///
    /// # Errors
    /// The core's.
    fn core<T: Element>(parameters: &[T]) -> lattice_vq_core::Result<Self::Core<T>>;
}

/// The contiguous elements of a layout, or an error naming the op and operand.
fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: {what} {:?} must be contiguous", layout.shape()),
    }
}

/// What every op here reads, as the core takes it: the lattice, latents `z` and codes `v`
/// `(rows, D)` (from [`Quantize`]), and the points `e = B v` decoded from them.
struct Operands<'a, T: Element, L: CoreLattice> {
    lattice: L::Core<T>,
    latents: ArrayView2<'a, T>,
    codes: ArrayView2<'a, i32>,
    points: Array2<T>,
}

impl<'a, T: Element, L: CoreLattice> Operands<'a, T, L> {
    fn new(
        op: &str,
        latents: (&'a CpuStorage, &Layout),
        basis: (&'a CpuStorage, &Layout),
        codes: (&'a CpuStorage, &Layout),
    ) -> Result<Self> {
        let z = contiguous(elements::<T>(latents.0, op)?, latents.1, op, "latents")?;
        let b = contiguous(elements::<T>(basis.0, op)?, basis.1, op, "basis")?;
        let CpuStorage::I32(v) = codes.0 else {
            candle_core::bail!("{op}: codes must be I32");
        };
        let v = contiguous(v, codes.1, op, "codes")?;
        let lattice = L::core(b).map_err(candle_core::Error::wrap)?;
        let dim = lattice.dim();
        if z.len() % dim != 0 || v.len() != z.len() {
            candle_core::bail!(
                "{op}: latents {:?}, basis {:?} and codes {:?} do not agree",
                latents.1.shape(),
                basis.1.shape(),
                codes.1.shape()
            );
        }
        let shape = (z.len() / dim, dim);
        let latents = ArrayView2::from_shape(shape, z).map_err(candle_core::Error::wrap)?;
        let codes = ArrayView2::from_shape(shape, v).map_err(candle_core::Error::wrap)?;
        let points = lattice.decode(codes).map_err(candle_core::Error::wrap)?;
        Ok(Self {
            lattice,
            latents,
            codes,
            points,
        })
    }
}

/// A core result as a flat vector in row-major order (the core returns standard layout).
fn values<T: Element>(array: Array2<T>) -> Vec<T> {
    array.into_iter().collect()
}

/// `(latents (rows, D), parameters) -> codes (rows, D)`, `I32`: `Lattice::quantize_into` of
/// lattice-vq-core, which checks the lattice and every latent (the caller re-checks on error
/// to report the core's typed error). The points `e = B v` the core computes with the codes
/// are kept for [`Quantize::points`]: one op per forward.
pub(crate) struct Quantize<L> {
    points: Mutex<Option<CpuStorage>>,
    lattice: PhantomData<fn() -> L>,
}

impl<L: CoreLattice> Quantize<L> {
    pub(crate) fn new() -> Self {
        Self {
            points: Mutex::new(None),
            lattice: PhantomData,
        }
    }

    /// The points of the last forward, `(rows, D)` like the codes, on the CPU.
    pub(crate) fn points(&self, shape: &Shape) -> Result<Tensor> {
        let points = self
            .points
            .lock()
            .map_err(|_| candle_core::Error::Msg("lattice-vq-quantize: lock poisoned".into()))?
            .take();
        match points {
            Some(CpuStorage::F32(points)) => Tensor::from_vec(points, shape, &Device::Cpu),
            Some(CpuStorage::F64(points)) => Tensor::from_vec(points, shape, &Device::Cpu),
            _ => candle_core::bail!("lattice-vq-quantize: no points (the op did not run)"),
        }
    }
}

fn quantize<T: Element, L: CoreLattice>(z: &[T], parameters: &[T]) -> Result<(Vec<i32>, Vec<T>)> {
    let lattice = L::core(parameters).map_err(candle_core::Error::wrap)?;
    let shape = (z.len() / lattice.dim(), lattice.dim());
    let latents = ArrayView2::from_shape(shape, z).map_err(candle_core::Error::wrap)?;
    let mut codes = vec![0i32; z.len()];
    let mut points = vec![T::zero(); z.len()];
    lattice
        .quantize_into(
            latents,
            ArrayViewMut2::from_shape(shape, &mut codes).map_err(candle_core::Error::wrap)?,
            ArrayViewMut2::from_shape(shape, &mut points).map_err(candle_core::Error::wrap)?,
        )
        .map_err(candle_core::Error::wrap)?;
    Ok((codes, points))
}

impl<L: CoreLattice> CustomOp2 for Quantize<L> {
    fn name(&self) -> &'static str {
        "lattice-vq-codes"
    }

    fn cpu_fwd(
        &self,
        latents: &CpuStorage,
        latents_layout: &Layout,
        basis: &CpuStorage,
        basis_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (codes, points) = match latents {
            CpuStorage::F32(z) => {
                let (codes, points) = quantize::<_, L>(
                    contiguous(z, latents_layout, op, "latents")?,
                    contiguous(elements::<f32>(basis, op)?, basis_layout, op, "basis")?,
                )?;
                (codes, f32::storage(points))
            }
            CpuStorage::F64(z) => {
                let (codes, points) = quantize::<_, L>(
                    contiguous(z, latents_layout, op, "latents")?,
                    contiguous(elements::<f64>(basis, op)?, basis_layout, op, "basis")?,
                )?;
                (codes, f64::storage(points))
            }
            _ => candle_core::bail!("{op}: latents must be f32 or f64"),
        };
        *self
            .points
            .lock()
            .map_err(|_| candle_core::Error::Msg(format!("{op}: lock poisoned")))? = Some(points);
        Ok((CpuStorage::I32(codes), latents_layout.shape().clone()))
    }
}

/// Which op of the layer: each reads `(latents, basis, codes)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatticeOp {
    /// `z + (e - z)`: the value of `e` (rounded as the official code rounds it), the
    /// gradient of `z` (straight-through).
    StraightThrough,
    /// `mean((e - sg(z))^2)`: the embedding loss, whose gradient reaches the basis only.
    Embedding,
    /// `mean((sg(e) - z)^2)`: the commitment loss, whose gradient reaches the latents only.
    Commitment,
}

/// One [`LatticeOp`] as a candle op; with `gradient: Some(upstream)`, that op's gradient
/// (with respect to the latents or the parameters) times `upstream` instead, not itself
/// differentiable.
struct Apply<L> {
    op: LatticeOp,
    gradient: Option<f64>,
    lattice: PhantomData<fn() -> L>,
}

impl<L: CoreLattice> Apply<L> {
    fn run<T: Element>(
        &self,
        operands: &Operands<'_, T, L>,
        shape: &Shape,
    ) -> Result<(Vec<T>, Shape)> {
        let (z, e) = (operands.latents, operands.points.view());
        let wrap = candle_core::Error::wrap;
        let upstream = self.gradient.map(<T as candle_core::WithDType>::from_f64);
        Ok(match (self.op, upstream) {
            (LatticeOp::StraightThrough, _) => (
                values(loss::straight_through(z, e).map_err(wrap)?),
                shape.clone(),
            ),
            (LatticeOp::Embedding, None) => (
                vec![loss::embedding_loss(z, e).map_err(wrap)?],
                Shape::from_dims(&[]),
            ),
            (LatticeOp::Commitment, None) => (
                vec![loss::commitment_loss(z, e).map_err(wrap)?],
                Shape::from_dims(&[]),
            ),
            (LatticeOp::Embedding, Some(upstream)) => {
                let grad = operands
                    .lattice
                    .embedding_loss_gradient(z, operands.codes, e)
                    .map_err(wrap)?;
                let dims = [1, grad.len()];
                let grad = grad.into_iter().map(|g| g * upstream).collect();
                (grad, Shape::from_dims(&dims))
            }
            (LatticeOp::Commitment, Some(upstream)) => {
                let grad = loss::commitment_loss_latent_grad(z, e).map_err(wrap)?;
                (values(grad.mapv(|g| g * upstream)), shape.clone())
            }
        })
    }
}

impl<L: CoreLattice> CustomOp3 for Apply<L> {
    fn name(&self) -> &'static str {
        match self.op {
            LatticeOp::StraightThrough => "lattice-vq-straight-through",
            LatticeOp::Embedding => "lattice-vq-embedding-loss",
            LatticeOp::Commitment => "lattice-vq-commitment-loss",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (values, shape) = match s1 {
            CpuStorage::F32(_) => {
                let (values, shape) = self.run(
                    &Operands::<f32, L>::new(op, (s1, l1), (s2, l2), (s3, l3))?,
                    l1.shape(),
                )?;
                (f32::storage(values), shape)
            }
            CpuStorage::F64(_) => {
                let (values, shape) = self.run(
                    &Operands::<f64, L>::new(op, (s1, l1), (s2, l2), (s3, l3))?,
                    l1.shape(),
                )?;
                (f64::storage(values), shape)
            }
            _ => candle_core::bail!("{op}: latents must be f32 or f64"),
        };
        Ok((values, shape))
    }

    fn bwd(
        &self,
        latents: &Tensor,
        basis: &Tensor,
        codes: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.op == LatticeOp::StraightThrough {
            return Ok((Some(grad.clone()), None, None));
        }
        // The losses are scalars: their gradients are the core's, times the upstream scalar.
        let upstream = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let gradient = Apply::<L> {
            op: self.op,
            gradient: Some(upstream),
            lattice: PhantomData,
        };
        let value = latents.apply_op3_no_bwd(basis, codes, &gradient)?;
        Ok(match self.op {
            LatticeOp::Embedding => (None, Some(value.reshape(basis.shape())?), None),
            _ => (Some(value), None, None),
        })
    }
}

/// `op` of `(latents, parameters, codes)`, differentiable as [`LatticeOp`] says.
pub(crate) fn apply<L: CoreLattice>(
    latents: &Tensor,
    parameters: &Tensor,
    codes: &Tensor,
    op: LatticeOp,
) -> Result<Tensor> {
    let op = Apply::<L> {
        op,
        gradient: None,
        lattice: PhantomData,
    };
    latents.apply_op3(parameters, codes, op)
}
