//! The output every quantizer returns, and the reshaping between latents and rows.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// What [`Quantizer::quantize`](crate::Quantizer::quantize) returns: a named struct, the same
/// for LL-VQ, VQ and VQ-EMA.
///
/// # Shapes
/// | latents | `quantized`, `points` | lattice codes (`Int`) | indices (`Int64`) |
/// |---|---|---|---|
/// | `(N, D)` rows | `(N, D)` | `(N, D)` | `(N,)` |
/// | `(B, T, D)` sequences | `(B, T, D)` | `(B, T, D)` | `(B, T)` |
/// | `(N, D, H, W)` images | `(N, D, H, W)` | `(N, H, W, D)` | `(N, H, W)` |
///
/// `loss` and the parts are scalars.
#[derive(Debug)]
pub struct QuantizerOutput {
    /// Straight-through output `z + sg(e - z)`: the value of `e`, the gradient of `z`.
    pub quantized: Tensor,
    /// The points `e` themselves (lattice points `B v` or codewords), detached, in the shape
    /// of `quantized`: what [`Quantizer::decode`](crate::Quantizer::decode) gives for `codes`.
    pub points: Tensor,
    /// The codes: lattice coordinates (LL-VQ) or codeword indices (VQ, VQ-EMA).
    pub codes: Codes,
    /// Total quantizer loss, `embedding + commitment_cost * commitment + sparsity_cost * size`
    /// (the terms a quantizer does not have are zero).
    pub loss: Tensor,
    /// The unweighted parts of `loss`.
    pub parts: LossParts,
}

/// A quantizer's codes: what they are is said by the type, not by the rank.
#[derive(Debug)]
pub enum Codes {
    /// Integer lattice coordinates `v` with `e = B v`, `Int` (I32), shape `(..., D)`.
    Lattice(Tensor),
    /// Codeword indices into a `K x D` codebook, `Int64`, shape `(...)`.
    Indices(Tensor),
}

impl Codes {
    /// The codes' tensor, either variant.
    pub fn tensor(&self) -> &Tensor {
        match self {
            Codes::Lattice(t) | Codes::Indices(t) => t,
        }
    }

    /// The lattice coordinates, `Some` for [`Codes::Lattice`].
    pub fn lattice(&self) -> Option<&Tensor> {
        match self {
            Codes::Lattice(t) => Some(t),
            Codes::Indices(_) => None,
        }
    }

    /// The codeword indices, `Some` for [`Codes::Indices`].
    pub fn indices(&self) -> Option<&Tensor> {
        match self {
            Codes::Indices(t) => Some(t),
            Codes::Lattice(_) => None,
        }
    }
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
    /// `(B, T, D)`.
    Sequence { b: i64, t: i64 },
    /// `(N, D)`.
    Rows,
}

/// The rule on latents' shapes, for errors.
fn latent_shapes(dim: usize) -> String {
    format!("must be (N, {dim}) rows, (B, T, {dim}) sequences or (N, {dim}, H, W) images")
}

/// Latents flattened to contiguous `(rows, D)`, NHWC order for images (as the official code
/// flattens them, so row indices in errors count positions in NHWC order), row-major for
/// sequences.
///
/// # Errors
/// A kind other than `Float` or `Double`, a float kind other than the layer's `kind`, a shape
/// outside the three layouts, or no rows.
pub(crate) fn to_rows(latents: &Tensor, dim: usize, kind: Kind) -> Result<(Tensor, Layout)> {
    let size = latents.size();
    let found = latents.kind();
    if !matches!(found, Kind::Float | Kind::Double) {
        return Err(Error::InputShape {
            what: "latents",
            found: size,
            requirement: format!("must be Float or Double, not {found:?}"),
        });
    }
    if found != kind {
        return Err(Error::DtypeMismatch {
            what: "latents",
            found,
            expected: kind,
        });
    }
    let d = dim as i64;
    let (rows, layout) = match *size.as_slice() {
        [n, c, h, w] if c == d => {
            let rows = latents
                .f_permute([0, 2, 3, 1])?
                .f_contiguous()?
                .f_view([n * h * w, d])?;
            (rows, Layout::Nchw { n, h, w })
        }
        [b, t, c] if c == d => (
            latents.f_contiguous()?.f_view([b * t, d])?,
            Layout::Sequence { b, t },
        ),
        [_, c] if c == d => (latents.f_contiguous()?, Layout::Rows),
        _ => {
            return Err(Error::InputShape {
                what: "latents",
                found: size,
                requirement: latent_shapes(dim),
            });
        }
    };
    if rows.size()[0] == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "latents" }.into());
    }
    Ok((rows, layout))
}

/// Lattice codes (`Int`, `(N, D)`, `(B, T, D)` or `(N, H, W, D)`) as `(rows, D)`, with the
/// layout they stand for.
///
/// # Errors
/// Indices, a kind other than `Int`, or a shape outside the three layouts.
pub(crate) fn lattice_code_rows(codes: &Codes, dim: usize) -> Result<(Tensor, Layout)> {
    let Codes::Lattice(codes) = codes else {
        return Err(Error::InputShape {
            what: "codes",
            found: codes.tensor().size(),
            requirement: "must be Codes::Lattice: a lattice quantizer decodes lattice \
                          coordinates, not codeword indices"
                .into(),
        });
    };
    let size = codes.size();
    check_code_kind(codes, Kind::Int, "lattice codes must be Int (I32)")?;
    let d = dim as i64;
    let layout = match *size.as_slice() {
        [_, c] if c == d => Layout::Rows,
        [b, t, c] if c == d => Layout::Sequence { b, t },
        [n, h, w, c] if c == d => Layout::Nchw { n, h, w },
        _ => {
            return Err(Error::InputShape {
                what: "codes",
                found: size,
                requirement: format!(
                    "lattice codes must be (N, {dim}), (B, T, {dim}) or (N, H, W, {dim})"
                ),
            });
        }
    };
    let rows = size[..size.len() - 1].iter().product::<i64>();
    Ok((codes.f_reshape([rows, d])?, layout))
}

/// Codeword indices (`Int64`, `(N,)`, `(B, T)` or `(N, H, W)`, each in `0..codebook_size`)
/// as `(rows,)`, with the layout they stand for.
///
/// # Errors
/// Lattice codes, a kind other than `Int64`, a shape outside the three layouts, or an index
/// outside the codebook.
pub(crate) fn index_rows(codes: &Codes, codebook_size: usize) -> Result<(Tensor, Layout)> {
    let Codes::Indices(codes) = codes else {
        return Err(Error::InputShape {
            what: "codes",
            found: codes.tensor().size(),
            requirement: "must be Codes::Indices: a codebook quantizer decodes codeword \
                          indices, not lattice coordinates"
                .into(),
        });
    };
    let size = codes.size();
    check_code_kind(codes, Kind::Int64, "indices must be Int64 (I64)")?;
    let layout = match *size.as_slice() {
        [_] => Layout::Rows,
        [b, t] => Layout::Sequence { b, t },
        [n, h, w] => Layout::Nchw { n, h, w },
        _ => {
            return Err(Error::InputShape {
                what: "codes",
                found: size,
                requirement: "indices must be (N,), (B, T) or (N, H, W)".into(),
            });
        }
    };
    let flat = codes.f_reshape([-1])?;
    if flat.numel() > 0 {
        let extremes = Tensor::f_stack(&[flat.f_min()?, flat.f_max()?], 0)?;
        let extremes = Vec::<i64>::try_from(&extremes)?;
        if extremes[0] < 0 || extremes[1] >= codebook_size as i64 {
            return Err(Error::InputShape {
                what: "codes",
                found: size,
                requirement: format!(
                    "indices must lie in 0..{codebook_size} (found {} to {})",
                    extremes[0], extremes[1]
                ),
            });
        }
    }
    Ok((flat, layout))
}

fn check_code_kind(codes: &Tensor, kind: Kind, rule: &str) -> Result<()> {
    if codes.kind() == kind {
        Ok(())
    } else {
        Err(Error::InputShape {
            what: "codes",
            found: codes.size(),
            requirement: format!("{rule}, not {:?}", codes.kind()),
        })
    }
}

impl Layout {
    /// Rows `(rows, D)` back to the input's layout (contiguous NCHW for images, as the
    /// official code returns it: the decoder's convolutions then see the same memory format).
    pub(crate) fn restore(self, rows: &Tensor, dim: usize) -> Result<Tensor> {
        let d = dim as i64;
        Ok(match self {
            Layout::Nchw { n, h, w } => rows
                .f_view([n, h, w, d])?
                .f_permute([0, 3, 1, 2])?
                .f_contiguous()?,
            Layout::Sequence { b, t } => rows.f_view([b, t, d])?,
            Layout::Rows => rows.shallow_clone(),
        })
    }

    /// Per-row codes `(rows, D)` or indices `(rows,)` in the input's leading shape.
    pub(crate) fn codes(self, codes: &Tensor) -> Result<Tensor> {
        let leading = match self {
            Layout::Nchw { n, h, w } => vec![n, h, w],
            Layout::Sequence { b, t } => vec![b, t],
            Layout::Rows => return Ok(codes.shallow_clone()),
        };
        let mut shape = leading;
        shape.extend(codes.size().iter().skip(1));
        Ok(codes.f_view(shape.as_slice())?)
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
