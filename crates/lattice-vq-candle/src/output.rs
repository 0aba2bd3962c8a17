//! The output every quantizer returns, and the reshaping between latents and rows.

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// What a quantizer's `forward_t` returns: a named struct, the same for LL-VQ, VQ and VQ-EMA
/// (and the same as `lattice_vq_tch::QuantizerOutput`).
///
/// # Shapes
/// For NCHW latents `(N, D, H, W)`: `quantized` is `(N, D, H, W)`, a view of channels-last
/// memory as the quantizer computes it (`contiguous()` gives NCHW memory); `codes` is
/// `(N, H, W, D)` (`I32`, lattice coordinates) for LL-VQ and `(N, H, W)` (`I64`, codeword
/// indices) for VQ and VQ-EMA. For rows `(N, D)`: `quantized` is `(N, D)`, `codes` `(N, D)`
/// or `(N,)`. `loss` and the parts are scalars.
#[derive(Debug)]
pub struct QuantizerOutput {
    /// Straight-through output `z + sg(e - z)`: the value of `e`, the gradient of `z`.
    pub quantized: Tensor,
    /// Integer codes: lattice coordinates `v` (LL-VQ) or codeword indices (VQ, VQ-EMA).
    pub codes: Tensor,
    /// Total quantizer loss, `embedding + commitment_cost * commitment + sparsity_cost * size`
    /// (the terms a quantizer does not have are zero).
    pub loss: Tensor,
    /// The unweighted parts of `loss`.
    pub parts: LossParts,
}

/// The unweighted terms of the quantizer loss (paper Eq. 7-8; see `lattice_vq_core::loss`).
#[derive(Debug)]
pub struct LossParts {
    /// `mean((e - sg(z))^2)`: trains the basis or codebook (zero for VQ-EMA).
    pub embedding: Tensor,
    /// `mean((sg(e) - z)^2)`: trains the encoder.
    pub commitment: Tensor,
    /// `-||b||_1` for LL-VQ, zero otherwise.
    pub size: Tensor,
}

/// The memory layout latents came in, to give outputs back in the same one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout {
    /// `(N, D, H, W)`.
    Nchw { n: usize, h: usize, w: usize },
    /// `(N, D)`.
    Rows,
}

/// Latents flattened to contiguous `(rows, D)`, NHWC order for images, as the official code
/// flattens them (so row indices in errors count positions in NHWC order).
pub(crate) fn to_rows(latents: &Tensor, dim: usize) -> Result<(Tensor, Layout)> {
    let size = latents.dims().to_vec();
    if !matches!(latents.dtype(), DType::F32 | DType::F64) {
        return Err(Error::InputShape {
            what: "latents",
            found: size,
            requirement: format!("must be F32 or F64, not {:?}", latents.dtype()),
        });
    }
    let (rows, layout) = match *size.as_slice() {
        [n, d, h, w] if d == dim => {
            let rows = latents
                .permute((0, 2, 3, 1))?
                .contiguous()?
                .reshape((n * h * w, dim))?;
            (rows, Layout::Nchw { n, h, w })
        }
        [_, d] if d == dim => (latents.contiguous()?, Layout::Rows),
        _ => {
            return Err(Error::InputShape {
                what: "latents",
                found: size,
                requirement: format!("must be (N, {dim}, H, W) or (N, {dim})"),
            });
        }
    };
    if rows.dims()[0] == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "latents" }.into());
    }
    Ok((rows, layout))
}

impl Layout {
    /// Rows `(N*H*W, D)` back to the input's shape: for images an NCHW view of the rows'
    /// channels-last buffer (a channels-last consumer, such as the candle `VqVae`'s decoder,
    /// reads it without a copy).
    pub(crate) fn restore(self, rows: &Tensor, dim: usize) -> Result<Tensor> {
        Ok(match self {
            Layout::Nchw { n, h, w } => rows.reshape((n, h, w, dim))?.permute((0, 3, 1, 2))?,
            Layout::Rows => rows.clone(),
        })
    }

    /// Per-row codes `(rows, D)` or indices `(rows,)` in the input's leading shape.
    pub(crate) fn codes(self, codes: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Layout::Nchw { n, h, w } => {
                let mut shape = vec![n, h, w];
                shape.extend(codes.dims().iter().skip(1));
                codes.reshape(shape)?
            }
            Layout::Rows => codes.clone(),
        })
    }
}

/// A zero scalar of `like`'s dtype and device, for loss terms a quantizer does not have.
pub(crate) fn zero_like_scalar(like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::zeros((), like.dtype(), like.device())?)
}

/// The core error for the first non-finite latent of contiguous `(rows, D)` latents, if any.
pub(crate) fn first_non_finite(rows: &Tensor) -> Result<Option<lattice_vq_core::Error>> {
    let values = rows.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    for (row, values) in values.iter().enumerate() {
        if let Some(col) = values.iter().position(|v| !v.is_finite()) {
            let value = values[col];
            return Ok(Some(lattice_vq_core::Error::NonFiniteLatent {
                row,
                col,
                value,
            }));
        }
    }
    Ok(None)
}

/// Whether every element of `t` is finite, with one reduction: a sum is finite exactly when
/// no term is NaN or infinite, as long as it does not overflow (callers sum values whose
/// total stays far below the float range, or treat an overflow as a failure to re-check).
pub(crate) fn sum_is_finite(t: &Tensor) -> Result<bool> {
    Ok(t.sum_all()?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?
        .is_finite())
}
