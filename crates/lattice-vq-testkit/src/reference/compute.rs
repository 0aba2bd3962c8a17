//! The reference layers' arithmetic in the layer's float type `F`, through the core.

use lattice_vq_core::{DiagonalLattice, LatticeFloat, QuantizerConfig, loss, vq};
use ndarray::{Array1, Array2, ArrayView2, Axis, LinalgScalar, Zip};

use super::ReferenceQuantizer;
use crate::failure::Failure;
use crate::layout::CodeRows;
use crate::types::{EmaState, LossParts};

/// One forward (and, with `upstream`, backward) pass, as `f64`.
pub(super) struct Forward {
    pub codes: CodeRows,
    pub points: Array2<f64>,
    pub quantized: Array2<f64>,
    pub loss: f64,
    pub parts: LossParts,
    pub latents_grad: Option<Array2<f64>>,
    pub variable_grad: Option<Array2<f64>>,
    /// VQ-EMA's state after a training step on these rows.
    pub ema: Option<EmaState>,
}

fn narrow<F: LatticeFloat>(values: ArrayView2<f64>) -> Array2<F> {
    values.mapv(|x| F::from_f64(x).unwrap_or_else(F::nan))
}

fn widen<F: LatticeFloat>(values: &Array2<F>) -> Array2<f64> {
    values.mapv(|x| x.to_f64().unwrap_or(f64::NAN))
}

fn float<F: LatticeFloat>(x: F) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}

/// The core lattice of a `(1, D)` basis.
pub(super) fn lattice<F: LatticeFloat>(basis: &Array2<f64>) -> Result<DiagonalLattice<F>, Failure> {
    let values: Vec<F> = narrow::<F>(basis.view()).iter().copied().collect();
    Ok(DiagonalLattice::from_slice(&values)?)
}

pub(super) fn forward<F: LatticeFloat + LinalgScalar>(
    layer: &ReferenceQuantizer,
    rows: ArrayView2<f64>,
    upstream: Option<&Array2<f64>>,
) -> Result<Forward, Failure> {
    let z = narrow::<F>(rows);
    let upstream = upstream.map(|u| narrow::<F>(u.view()));
    match &layer.config {
        QuantizerConfig::Lattice(config) => {
            let lattice = lattice::<F>(&layer.variable)?;
            let q = lattice.quantize(z.view())?;
            let quantized = loss::straight_through(z.view(), q.points.view())?;
            let parts = loss::quantizer_loss(config, &lattice, z.view(), &q)?;
            let (latents_grad, variable_grad) = match &upstream {
                Some(u) => {
                    let grads = loss::quantizer_gradients(config, &lattice, z.view(), &q)?;
                    let latents =
                        loss::encoder_gradient(config, z.view(), q.points.view(), u.view())?;
                    let basis = grads.basis.mapv(float).insert_axis(Axis(0));
                    (Some(widen(&latents)), Some(basis))
                }
                None => (None, None),
            };
            Ok(Forward {
                codes: CodeRows::Lattice(q.codes),
                points: widen(&q.points),
                quantized: widen(&quantized),
                loss: float(parts.total),
                parts: LossParts {
                    embedding: float(parts.embedding),
                    commitment: float(parts.commitment),
                    size: float(parts.size),
                },
                latents_grad,
                variable_grad,
                ema: None,
            })
        }
        QuantizerConfig::Vq(c) => {
            codebook::<F>(layer, &z, upstream.as_ref(), c.commitment_cost, false)
        }
        QuantizerConfig::VqEma(c) => {
            codebook::<F>(layer, &z, upstream.as_ref(), c.commitment_cost, true)
        }
        QuantizerConfig::Finite(_) => Err(finite_not_in_suites()),
    }
}

/// The finite-codebook layers are tested against the core by their own tests, not yet
/// through the reference backend.
pub(super) fn finite_not_in_suites() -> Failure {
    Failure::Other("the reference backend does not model finite codebooks".to_owned())
}

/// VQ and VQ-EMA: nearest codewords by the core's rule, losses and gradients in `F`.
fn codebook<F: LatticeFloat + LinalgScalar>(
    layer: &ReferenceQuantizer,
    z: &Array2<F>,
    upstream: Option<&Array2<F>>,
    commitment_cost: f64,
    ema: bool,
) -> Result<Forward, Failure> {
    let codebook = narrow::<F>(layer.variable.view());
    let indices = vq::nearest_codewords(codebook.view(), z.view())?.to_vec();
    let points = codebook.select(Axis(0), &indices);
    let quantized = loss::straight_through(z.view(), points.view())?;
    let mse = float(loss::commitment_loss(z.view(), points.view())?);
    let parts = LossParts {
        embedding: if ema { 0.0 } else { mse },
        commitment: mse,
        size: 0.0,
    };
    let count = F::from_usize(z.len()).unwrap_or_else(F::nan);
    let two = F::one() + F::one();
    let beta = F::from_f64(commitment_cost).unwrap_or_else(F::nan);
    let (latents_grad, variable_grad) = match upstream {
        Some(u) => {
            let mut latents = u.clone();
            Zip::from(&mut latents)
                .and(z)
                .and(&points)
                .for_each(|g, &z, &e| *g = *g + beta * (two * (z - e) / count));
            let variable = (!ema).then(|| {
                let mut grad = Array2::<F>::zeros(codebook.raw_dim());
                for ((zr, er), &k) in z.rows().into_iter().zip(points.rows()).zip(&indices) {
                    Zip::from(grad.row_mut(k))
                        .and(zr)
                        .and(er)
                        .for_each(|g, &z, &e| *g = *g + two * (e - z) / count);
                }
                widen(&grad)
            });
            (Some(widen(&latents)), variable)
        }
        None => (None, None),
    };
    let ema = match (&layer.ema, &layer.config) {
        (Some((ema_w, cluster_size)), QuantizerConfig::VqEma(config)) => {
            Some(ema_update::<F>(config, ema_w, cluster_size, z, &indices))
        }
        _ => None,
    };
    Ok(Forward {
        codes: CodeRows::Indices(indices.iter().map(|&i| i as i64).collect()),
        points: widen(&points),
        quantized: widen(&quantized),
        loss: parts.embedding + commitment_cost * mse,
        parts,
        latents_grad,
        variable_grad,
        ema,
    })
}

/// The EMA step in `F`, as the adapters compute it (crates/lattice-vq-tch/src/vq_ema.rs).
fn ema_update<F: LatticeFloat + LinalgScalar>(
    config: &lattice_vq_core::VectorQuantizerEmaConfig,
    ema_w: &Array2<f64>,
    cluster_size: &Array1<f64>,
    z: &Array2<F>,
    indices: &[usize],
) -> EmaState {
    let of = |x: f64| F::from_f64(x).unwrap_or_else(F::nan);
    let (decay, epsilon) = (of(config.decay), of(config.epsilon));
    let keep = of(1.0 - config.decay);
    let k = ema_w.nrows();
    let mut counts = Array1::<F>::zeros(k);
    let mut sums = Array2::<F>::zeros(ema_w.raw_dim());
    for (row, &i) in z.rows().into_iter().zip(indices) {
        counts[i] = counts[i] + F::one();
        Zip::from(sums.row_mut(i))
            .and(row)
            .for_each(|s, &x| *s = *s + x);
    }
    let cluster = Zip::from(cluster_size)
        .and(&counts)
        .map_collect(|&c, &n| of(c) * decay + n * keep);
    let total = cluster.sum();
    let smoothed = cluster.mapv(|c| (c + epsilon) / (total + of(k as f64) * epsilon) * total);
    let ema_w = Zip::from(ema_w)
        .and(&sums)
        .map_collect(|&w, &s| of(w) * decay + s * keep);
    let codebook = &ema_w / &smoothed.view().insert_axis(Axis(1));
    EmaState {
        codebook: widen(&codebook),
        ema_w: widen(&ema_w),
        cluster_size: smoothed.mapv(float),
    }
}
