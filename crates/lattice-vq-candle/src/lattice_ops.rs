//! The LL-VQ layer on the CPU as four candle ops: the codes from lattice-core in one
//! parallel pass, then the straight-through output and the two squared-error losses, each
//! one autograd node that computes `e = b * v` on the fly.
//!
//! The same layer in tensor ops (`crate::lattice`, which other devices take) is about twenty
//! passes over the `(rows, D)` latents forward and as many backward, each a fresh buffer that
//! candle's backward then zero-fills and adds into; here it is one pass per op.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use lattice_core::DiagonalLattice;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::element::{Element, elements};

/// Rows per parallel task of the passes over the latents; the reductions sum their tasks'
/// results in order, so they are the same to the last bit whatever the thread count.
const ROWS_PER_TASK: usize = 512;

/// The contiguous elements of a layout, or an error naming the op and operand.
fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: {what} {:?} must be contiguous", layout.shape()),
    }
}

/// The three operands every op here reads: latents `z` `(rows, D)`, basis `b` (`D` values,
/// any shape) and, after [`Codes`], the codes `v` `(rows, D)`.
struct Operands<'a, T> {
    latents: &'a [T],
    basis: &'a [T],
    codes: &'a [i32],
}

impl<'a, T: Element> Operands<'a, T> {
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
        if b.is_empty() || z.len() % b.len() != 0 || v.len() != z.len() {
            candle_core::bail!(
                "{op}: latents {:?}, basis {:?} and codes {:?} do not agree",
                latents.1.shape(),
                basis.1.shape(),
                codes.1.shape()
            );
        }
        Ok(Self {
            latents: z,
            basis: b,
            codes: v,
        })
    }

    /// `f(z, e, v, d)` for every element, in parallel, collected in order.
    fn map(&self, f: impl Fn(T, T, T, usize) -> T + Sync) -> Vec<T> {
        let dim = self.basis.len();
        let mut out = Vec::new();
        self.latents
            .par_iter()
            .zip(self.codes)
            .enumerate()
            .map(|(i, (&z, &v))| {
                let d = i % dim;
                let v = T::from_i32(v).unwrap_or_else(T::zero);
                f(z, self.basis[d] * v, v, d)
            })
            .collect_into_vec(&mut out);
        out
    }

    /// `f(partial, z, e, v, d)` folded over each fixed chunk of rows in parallel; the
    /// chunks' results in order (so sums built from them do not depend on the threads).
    fn fold_chunks<A: Send>(
        &self,
        init: impl Fn() -> A + Sync,
        f: impl Fn(&mut A, T, T, T, usize) + Sync,
    ) -> Vec<A> {
        let dim = self.basis.len();
        self.latents
            .par_chunks(dim * ROWS_PER_TASK)
            .zip(self.codes.par_chunks(dim * ROWS_PER_TASK))
            .map(|(z, v)| {
                let mut partial = init();
                for (row, codes) in z.chunks_exact(dim).zip(v.chunks_exact(dim)) {
                    for (d, ((&z, &v), &b)) in row.iter().zip(codes).zip(self.basis).enumerate() {
                        let v = T::from_i32(v).unwrap_or_else(T::zero);
                        f(&mut partial, z, b * v, v, d);
                    }
                }
                partial
            })
            .collect()
    }

    /// `mean((e - z)^2)` over all elements.
    fn mean_squared_error(&self) -> T {
        let partials = self.fold_chunks(T::zero, |sum, z, e, _, _| *sum = *sum + (e - z) * (e - z));
        let sum = partials.into_iter().fold(T::zero(), |a, b| a + b);
        sum / T::from_usize(self.latents.len()).unwrap_or_else(T::one)
    }

    /// `scale * sum over rows of (e - z) * v`, one value per basis entry.
    fn basis_gradient(&self, scale: T) -> Vec<T> {
        let dim = self.basis.len();
        let partials = self.fold_chunks(
            || vec![T::zero(); dim],
            |sums, z, e, v, d| {
                sums[d] = sums[d] + (e - z) * v;
            },
        );
        let mut total = vec![T::zero(); dim];
        for partial in partials {
            total.iter_mut().zip(partial).for_each(|(a, b)| *a = *a + b);
        }
        total.into_iter().map(|s| s * scale).collect()
    }
}

/// `(latents (rows, D), basis) -> codes (rows, D)`, `I32`: `v = round_ties_even(z * (1 / b))`
/// by lattice-core, which checks the basis and every latent (the caller re-checks on error
/// to report the core's typed error).
pub(crate) struct Codes;

fn codes<T: Element>(z: &[T], basis: &[T]) -> Result<Vec<i32>> {
    let lattice = DiagonalLattice::<T>::from_slice(basis).map_err(candle_core::Error::wrap)?;
    let rows = z.len() / basis.len().max(1);
    let shape = (rows, basis.len());
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
    Ok(codes)
}

impl CustomOp2 for Codes {
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
        let codes = match latents {
            CpuStorage::F32(z) => codes(
                contiguous(z, latents_layout, op, "latents")?,
                contiguous(elements::<f32>(basis, op)?, basis_layout, op, "basis")?,
            )?,
            CpuStorage::F64(z) => codes(
                contiguous(z, latents_layout, op, "latents")?,
                contiguous(elements::<f64>(basis, op)?, basis_layout, op, "basis")?,
            )?,
            _ => candle_core::bail!("{op}: latents must be f32 or f64"),
        };
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

/// One [`LatticeOp`] as a candle op; with `gradient: Some(scale)`, that op's gradient (with
/// respect to the latents or the basis) times `scale` instead, not itself differentiable.
struct Apply {
    op: LatticeOp,
    gradient: Option<f64>,
}

impl Apply {
    fn run<T: Element>(&self, operands: &Operands<'_, T>, shape: &Shape) -> (Vec<T>, Shape) {
        let scale = self.gradient.and_then(T::from_f64);
        match (self.op, scale) {
            (LatticeOp::StraightThrough, _) => {
                (operands.map(|z, e, _, _| z + (e - z)), shape.clone())
            }
            (_, None) => (vec![operands.mean_squared_error()], Shape::from_dims(&[])),
            (LatticeOp::Embedding, Some(scale)) => {
                let dims = [1, operands.basis.len()];
                (operands.basis_gradient(scale), Shape::from_dims(&dims))
            }
            (LatticeOp::Commitment, Some(scale)) => {
                (operands.map(|z, e, _, _| (z - e) * scale), shape.clone())
            }
        }
    }
}

impl CustomOp3 for Apply {
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
                    &Operands::<f32>::new(op, (s1, l1), (s2, l2), (s3, l3))?,
                    l1.shape(),
                );
                (f32::storage(values), shape)
            }
            CpuStorage::F64(_) => {
                let (values, shape) = self.run(
                    &Operands::<f64>::new(op, (s1, l1), (s2, l2), (s3, l3))?,
                    l1.shape(),
                );
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
        // d mean((e - z)^2) = 2 / (rows * D) * (e - z) * (v for b, -1 for z).
        let upstream = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let scale = 2.0 * upstream / latents.elem_count() as f64;
        let gradient = Apply {
            op: self.op,
            gradient: Some(scale),
        };
        let value = latents.apply_op3_no_bwd(basis, codes, &gradient)?;
        Ok(match self.op {
            LatticeOp::Embedding => (None, Some(value.reshape(basis.shape())?), None),
            _ => (Some(value), None, None),
        })
    }
}

/// `op` of `(latents, basis, codes)`, differentiable as [`LatticeOp`] says.
pub(crate) fn apply(
    latents: &Tensor,
    basis: &Tensor,
    codes: &Tensor,
    op: LatticeOp,
) -> Result<Tensor> {
    latents.apply_op3(basis, codes, Apply { op, gradient: None })
}
