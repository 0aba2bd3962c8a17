//! The output every quantizer returns, and the reshaping between latents and rows.

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// What a quantizer's [`quantize`](crate::Quantizer::quantize) returns: a named struct, the
/// same for LL-VQ, VQ and VQ-EMA (and the same as `lattice_vq_tch::QuantizerOutput`).
///
/// # Shapes
/// | latents | `quantized`, `points` | lattice codes (`I32`) | indices (`I64`) |
/// |---|---|---|---|
/// | `(N, D)` rows | `(N, D)` | `(N, D)` | `(N,)` |
/// | `(B, T, D)` sequences | `(B, T, D)` | `(B, T, D)` | `(B, T)` |
/// | `(N, D, H, W)` images | `(N, D, H, W)` | `(N, H, W, D)` | `(N, H, W)` |
///
/// For images `quantized` and `points` are views of channels-last memory as the quantizer
/// computes it (`contiguous()` gives NCHW memory). `loss` and the parts are scalars.
#[derive(Debug, Clone)]
pub struct QuantizerOutput {
    /// Straight-through output `z + sg(e - z)`: the value of `e`, the gradient of `z`.
    pub quantized: Tensor,
    /// The points `e` themselves (lattice points `b * v` or codewords), detached, in the
    /// shape of `quantized`; [`Quantizer::decode`](crate::Quantizer::decode) of `codes`
    /// gives them again.
    pub points: Tensor,
    /// The integer codes, their kind said by the type.
    pub codes: Codes,
    /// Total quantizer loss, `embedding + commitment_cost * commitment + sparsity_cost * size`
    /// (the terms a quantizer does not have are zero).
    pub loss: Tensor,
    /// The unweighted parts of `loss`.
    pub parts: LossParts,
}

/// A quantizer's codes: lattice coordinates (LL-VQ) or codeword indices (VQ, VQ-EMA).
#[derive(Debug, Clone)]
pub enum Codes {
    /// Integer lattice coordinates `v` with `e = B v`, `I32`, shape `(..., D)`.
    Lattice(Tensor),
    /// Codeword indices into a `K x D` codebook, `I64`, shape `(...)`.
    Indices(Tensor),
}

impl Codes {
    /// The codes' tensor, whichever kind they are.
    pub fn tensor(&self) -> &Tensor {
        match self {
            Codes::Lattice(t) | Codes::Indices(t) => t,
        }
    }

    /// The lattice coordinates, if these are lattice codes.
    pub fn lattice(&self) -> Option<&Tensor> {
        match self {
            Codes::Lattice(t) => Some(t),
            Codes::Indices(_) => None,
        }
    }

    /// The codeword indices, if these are indices.
    pub fn indices(&self) -> Option<&Tensor> {
        match self {
            Codes::Indices(t) => Some(t),
            Codes::Lattice(_) => None,
        }
    }
}

/// The unweighted terms of the quantizer loss (paper Eq. 7-8; see `lattice_vq_core::loss`).
#[derive(Debug, Clone)]
pub struct LossParts {
    /// `mean((e - sg(z))^2)`: trains the basis or codebook (zero for VQ-EMA).
    pub embedding: Tensor,
    /// `mean((sg(e) - z)^2)`: trains the encoder.
    pub commitment: Tensor,
    /// `-||b||_1` for LL-VQ, zero otherwise.
    pub size: Tensor,
}

/// The layout latents came in, to give outputs back in the same one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout {
    /// `(N, D)`.
    Rows,
    /// `(B, T, D)`.
    Sequence { b: usize, t: usize },
    /// `(N, D, H, W)`.
    Nchw { n: usize, h: usize, w: usize },
}

/// The rule [`to_rows`] checks, for its errors.
fn latent_rule(dim: usize) -> String {
    format!("must be (N, {dim}) rows, (B, T, {dim}) sequences or (N, {dim}, H, W) images")
}

/// Latents flattened to contiguous `(rows, D)`, NHWC order for images (as the official code
/// flattens them, so row indices in errors count positions in NHWC order), row-major for
/// sequences. `dtype` is the layer's: float latents of another dtype are an error.
pub(crate) fn to_rows(latents: &Tensor, dim: usize, dtype: DType) -> Result<(Tensor, Layout)> {
    let size = latents.dims().to_vec();
    if !matches!(latents.dtype(), DType::F32 | DType::F64) {
        return Err(Error::InputShape {
            what: "latents",
            found: size,
            requirement: format!("must be F32 or F64, not {:?}", latents.dtype()),
        });
    }
    if latents.dtype() != dtype {
        return Err(Error::DtypeMismatch {
            what: "latents",
            found: latents.dtype(),
            expected: dtype,
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
        [b, t, d] if d == dim => (
            latents.contiguous()?.reshape((b * t, dim))?,
            Layout::Sequence { b, t },
        ),
        [_, d] if d == dim => (latents.contiguous()?, Layout::Rows),
        _ => {
            return Err(Error::InputShape {
                what: "latents",
                found: size,
                requirement: latent_rule(dim),
            });
        }
    };
    if rows.dims()[0] == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "latents" }.into());
    }
    Ok((rows, layout))
}

/// Codes as `quantize` returned them, flattened to rows: lattice codes `(rows, D)`, indices
/// `(rows,)`, contiguous, with the layout of the latents they came from (told by the rank:
/// lattice codes rank 2/3/4, indices rank 1/2/3 are rows/sequences/images). `expected` is
/// the dtype of the kind (`I32` lattice, `I64` indices).
pub(crate) fn code_rows(codes: &Tensor, dim: usize, lattice: bool) -> Result<(Tensor, Layout)> {
    let size = codes.dims().to_vec();
    let (expected, rule) = if lattice {
        (
            DType::I32,
            format!(
                "lattice codes must be I32, (N, {dim}) for rows, (B, T, {dim}) for sequences \
                 or (N, H, W, {dim}) for images"
            ),
        )
    } else {
        (
            DType::I64,
            "codeword indices must be I64, (N,) for rows, (B, T) for sequences or (N, H, W) \
             for images"
                .to_string(),
        )
    };
    let leading = if lattice {
        match size.split_last() {
            Some((&d, leading)) if d == dim => Some(leading),
            _ => None,
        }
    } else {
        Some(size.as_slice())
    };
    let layout = match leading {
        Some(&[_]) => Some(Layout::Rows),
        Some(&[b, t]) => Some(Layout::Sequence { b, t }),
        Some(&[n, h, w]) => Some(Layout::Nchw { n, h, w }),
        _ => None,
    };
    let (Some(layout), true) = (layout, codes.dtype() == expected) else {
        return Err(Error::InputShape {
            what: "codes",
            found: size,
            requirement: rule,
        });
    };
    let count: usize = leading.map_or(0, |l| l.iter().product());
    if count == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "codes" }.into());
    }
    let rows = if lattice {
        codes.contiguous()?.reshape((count, dim))?
    } else {
        codes.contiguous()?.reshape(count)?
    };
    Ok((rows, layout))
}

impl Layout {
    /// Rows `(rows, D)` back to the input's shape: for images an NCHW view of the rows'
    /// channels-last buffer (a channels-last consumer, such as the candle `VqVae`'s decoder,
    /// reads it without a copy).
    pub(crate) fn restore(self, rows: &Tensor, dim: usize) -> Result<Tensor> {
        Ok(match self {
            Layout::Nchw { n, h, w } => rows.reshape((n, h, w, dim))?.permute((0, 3, 1, 2))?,
            Layout::Sequence { b, t } => rows.reshape((b, t, dim))?,
            Layout::Rows => rows.clone(),
        })
    }

    /// Per-row codes `(rows, D)` or indices `(rows,)` in the input's leading shape.
    pub(crate) fn codes(self, codes: &Tensor) -> Result<Tensor> {
        let leading = match self {
            Layout::Nchw { n, h, w } => vec![n, h, w],
            Layout::Sequence { b, t } => vec![b, t],
            Layout::Rows => return Ok(codes.clone()),
        };
        let mut shape = leading;
        shape.extend(codes.dims().iter().skip(1));
        Ok(codes.reshape(shape)?)
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
