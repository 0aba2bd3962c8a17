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

/// The contiguous elements of an operand as `T`, or an error naming the op and operand.
fn operand<'a, T: KernelFloat>(
    (storage, layout): (&'a CpuStorage, &Layout),
    op: &str,
    what: &str,
) -> Result<&'a [T]> {
    contiguous(elements::<T>(storage, op)?, layout, op, what)
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: {what} {:?} must be contiguous", layout.shape()),
    }
}

/// The core lattice of the parameters and the `(rows, D)` shape of `z`'s rows.
fn lattice<T: Element, L: CoreLattice>(
    parameters: &[T],
    z: &[T],
) -> Result<(L::Core<T>, (usize, usize))> {
    let lattice = L::core(parameters).map_err(candle_core::Error::wrap)?;
    let dim = lattice.dim();
    if !z.len().is_multiple_of(dim) {
        candle_core::bail!("lattice-vq: {} latents for rows of {dim}", z.len());
    }
    Ok((lattice, (z.len() / dim, dim)))
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
        let points = self.points.lock().map(|mut p| p.take());
        match points {
            Ok(Some(CpuStorage::F32(points))) => Tensor::from_vec(points, shape, &Device::Cpu),
            Ok(Some(CpuStorage::F64(points))) => Tensor::from_vec(points, shape, &Device::Cpu),
            _ => candle_core::bail!("lattice-vq-codes: no points (the op did not run)"),
        }
    }

    fn quantize<T: Element>(
        latents: (&CpuStorage, &Layout),
        parameters: (&CpuStorage, &Layout),
    ) -> Result<(Vec<i32>, CpuStorage)> {
        let op = "lattice-vq-codes";
        let z = operand::<T>(latents, op, "latents")?;
        let (lattice, shape) = lattice::<T, L>(operand(parameters, op, "parameters")?, z)?;
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
        Ok((codes, T::storage(points)))
    }
}

impl<L: CoreLattice> CustomOp2 for Quantize<L> {
    fn name(&self) -> &'static str {
        "lattice-vq-codes"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (codes, points) = match s1 {
            CpuStorage::F32(_) => Self::quantize::<f32>((s1, l1), (s2, l2))?,
            CpuStorage::F64(_) => Self::quantize::<f64>((s1, l1), (s2, l2))?,
            _ => candle_core::bail!("{}: latents must be f32 or f64", self.name()),
        };
        let mut slot = self
            .points
            .lock()
            .map_err(|_| candle_core::Error::Msg(format!("{}: lock poisoned", self.name())))?;
        *slot = Some(points);
        Ok((CpuStorage::I32(codes), l1.shape().clone()))
    }
}

/// Which op of the layer: each reads `(latents, parameters, codes)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatticeOp {
    /// `z + (e - z)`: the value of `e` (rounded as the official code rounds it), the
    /// gradient of `z` (straight-through).
    StraightThrough,
    /// `mean((e - sg(z))^2)`: the embedding loss, whose gradient reaches the lattice only.
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
    fn new(op: LatticeOp, gradient: Option<f64>) -> Self {
        Self {
            op,
            gradient,
            lattice: PhantomData,
        }
    }

    /// The op on the core's operands: latents `z`, the lattice, codes `v` and the points
    /// `e = B v` decoded from them.
    fn run<T: Element>(
        &self,
        latents: (&CpuStorage, &Layout),
        parameters: (&CpuStorage, &Layout),
        codes: (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let wrap = |e: lattice_vq_core::Error| candle_core::Error::wrap(e);
        let z = operand::<T>(latents, op, "latents")?;
        let (lattice, shape) = lattice::<T, L>(operand(parameters, op, "parameters")?, z)?;
        let (CpuStorage::I32(v), layout) = codes else {
            candle_core::bail!("{op}: codes must be I32");
        };
        let v = contiguous(v, layout, op, "codes")?;
        let z = ArrayView2::from_shape(shape, z).map_err(candle_core::Error::wrap)?;
        let v = ArrayView2::from_shape(shape, v).map_err(candle_core::Error::wrap)?;
        let points = lattice.decode(v).map_err(wrap)?;
        let e = points.view();
        let values = |array: Array2<T>| T::storage(array.into_iter().collect());
        let scalar = |value: T| (T::storage(vec![value]), Shape::from_dims(&[]));
        let same = latents.1.shape().clone();
        let upstream = self.gradient.map(<T as candle_core::WithDType>::from_f64);
        Ok(match (self.op, upstream) {
            (LatticeOp::StraightThrough, _) => {
                (values(loss::straight_through(z, e).map_err(wrap)?), same)
            }
            (LatticeOp::Embedding, None) => scalar(loss::embedding_loss(z, e).map_err(wrap)?),
            (LatticeOp::Commitment, None) => scalar(loss::commitment_loss(z, e).map_err(wrap)?),
            (LatticeOp::Embedding, Some(upstream)) => {
                let grad = lattice.embedding_loss_gradient(z, v, e).map_err(wrap)?;
                let dims = [1, grad.len()];
                let grad = grad.into_iter().map(|g| g * upstream).collect();
                (T::storage(grad), Shape::from_dims(&dims))
            }
            (LatticeOp::Commitment, Some(upstream)) => {
                let grad = loss::commitment_loss_latent_grad(z, e).map_err(wrap)?;
                (values(grad.mapv(|g| g * upstream)), same)
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
        match s1 {
            CpuStorage::F32(_) => self.run::<f32>((s1, l1), (s2, l2), (s3, l3)),
            CpuStorage::F64(_) => self.run::<f64>((s1, l1), (s2, l2), (s3, l3)),
            _ => candle_core::bail!("{}: latents must be f32 or f64", self.name()),
        }
    }

    fn bwd(
        &self,
        latents: &Tensor,
        parameters: &Tensor,
        codes: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.op == LatticeOp::StraightThrough {
            return Ok((Some(grad.clone()), None, None));
        }
        // The losses are scalars: their gradients are the core's, times the upstream scalar.
        let upstream = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let gradient = Apply::<L>::new(self.op, Some(upstream));
        let value = latents.apply_op3_no_bwd(parameters, codes, &gradient)?;
        Ok(match self.op {
            LatticeOp::Embedding => (None, Some(value.reshape(parameters.shape())?), None),
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
    latents.apply_op3(parameters, codes, Apply::<L>::new(op, None))
}
