//! The output every quantizer returns, and the reshaping between latents and rows.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// What a quantizer's `forward_t` returns: a named struct, the same for LL-VQ, VQ and VQ-EMA.
///
/// # Shapes
/// For NCHW latents `(N, D, H, W)`: `quantized` is `(N, D, H, W)`; `codes` is `(N, H, W, D)`
/// (`Int`, lattice coordinates) for LL-VQ and `(N, H, W)` (`Int64`, codeword indices) for VQ
/// and VQ-EMA. For rows `(N, D)`: `quantized` is `(N, D)`, `codes` `(N, D)` or `(N,)`.
/// `loss` and the parts are scalars.
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
    /// `mean((e - sg(z))^2)`: trains the basis or codebook (zero for VQ-EMA, whose codebook
    /// follows moving averages instead).
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
    Nchw { n: i64, h: i64, w: i64 },
    /// `(N, D)`.
    Rows,
}

/// Latents flattened to contiguous `(rows, D)`, NHWC order for images, as the official code
/// flattens them (so row indices in errors count positions in NHWC order).
pub(crate) fn to_rows(latents: &Tensor, dim: i64) -> Result<(Tensor, Layout)> {
    let size = latents.size();
    if !matches!(latents.kind(), Kind::Float | Kind::Double) {
        return Err(Error::InputShape {
            what: "latents",
            found: size,
            requirement: format!("must be Float or Double, not {:?}", latents.kind()),
        });
    }
    let (rows, layout) = match *size.as_slice() {
        [n, d, h, w] if d == dim => {
            let rows = latents
                .f_permute([0, 2, 3, 1])?
                .f_contiguous()?
                .f_view([-1, dim])?;
            (rows, Layout::Nchw { n, h, w })
        }
        [_, d] if d == dim => (latents.f_contiguous()?, Layout::Rows),
        _ => {
            return Err(Error::InputShape {
                what: "latents",
                found: size,
                requirement: format!("must be (N, {dim}, H, W) or (N, {dim})"),
            });
        }
    };
    if rows.size()[0] == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "latents" }.into());
    }
    Ok((rows, layout))
}

impl Layout {
    /// Rows `(N*H*W, D)` back to the input's layout (contiguous NCHW, as the official code
    /// returns it: the decoder's convolutions then see the same memory format).
    pub(crate) fn restore(self, rows: &Tensor, dim: i64) -> Result<Tensor> {
        Ok(match self {
            Layout::Nchw { n, h, w } => rows
                .f_view([n, h, w, dim])?
                .f_permute([0, 3, 1, 2])?
                .f_contiguous()?,
            Layout::Rows => rows.shallow_clone(),
        })
    }

    /// Per-row codes `(rows, D)` or indices `(rows,)` in the input's leading shape.
    pub(crate) fn codes(self, codes: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Layout::Nchw { n, h, w } => {
                let mut shape = vec![n, h, w];
                shape.extend(codes.size().iter().skip(1));
                codes.f_view(shape.as_slice())?
            }
            Layout::Rows => codes.shallow_clone(),
        })
    }
}

/// A zero scalar of `like`'s kind and device, for loss terms a quantizer does not have.
pub(crate) fn zero_like_scalar(like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::f_zeros([], (like.kind(), like.device()))?)
}

/// The first row-major position of `rows` where `bad` is true, as (row, column).
pub(crate) fn first_true(bad: &Tensor, dim: i64) -> Result<Option<(usize, usize)>> {
    let positions = bad.f_flatten(0, -1)?.f_nonzero()?;
    if positions.size()[0] == 0 {
        return Ok(None);
    }
    let index = positions.f_get(0)?.f_int64_value(&[0])?;
    Ok(Some(((index / dim) as usize, (index % dim) as usize)))
}
