//! The output every quantizer returns, and the reshaping between latents and rows.

use candle_core::{DType, Tensor};
use lattice_vq_core::layout::{self, LatentLayout};
use lattice_vq_core::output;

use crate::error::{Result, input_shape};

/// What a quantizer's [`quantize`](crate::Quantizer::quantize) returns
/// (`lattice_vq_core::output::QuantizerOutput`): lattice codes are `I32`, indices `I64`; for
/// images `quantized` and `points` are views of channels-last memory as the quantizer
/// computes it (`contiguous()` gives NCHW memory).
pub type QuantizerOutput = output::QuantizerOutput<Tensor>;

/// A quantizer's codes (`lattice_vq_core::output::Codes`), the kind said by the variant.
pub type Codes = output::Codes<Tensor>;

/// The unweighted terms of the quantizer loss (`lattice_vq_core::output::LossParts`).
pub type LossParts = output::LossParts<Tensor>;

/// Latents flattened to contiguous `(rows, D)` in the row order of their
/// [`LatentLayout`] (NHWC for images, as the official code flattens them, so row indices in
/// errors count positions in that order). `dtype` is the layer's: float latents of another
/// dtype are an error.
pub(crate) fn to_rows(
    latents: &Tensor,
    dim: usize,
    dtype: DType,
) -> Result<(Tensor, LatentLayout)> {
    if !matches!(latents.dtype(), DType::F32 | DType::F64) {
        let requirement = format!("must be F32 or F64, not {:?}", latents.dtype());
        return Err(input_shape("latents", latents, requirement));
    }
    if latents.dtype() != dtype {
        return Err(lattice_vq_core::Error::DtypeMismatch {
            what: "latents",
            found: format!("{:?}", latents.dtype()),
            expected: format!("{dtype:?}"),
        }
        .into());
    }
    let Some(layout) = LatentLayout::of_latents(latents.dims(), dim) else {
        return Err(input_shape(
            "latents",
            latents,
            layout::latents_requirement(dim),
        ));
    };
    let rows = match layout {
        LatentLayout::Rows { .. } => latents.contiguous()?,
        LatentLayout::Image { .. } => latents
            .permute(LatentLayout::IMAGE_TO_ROWS)?
            .contiguous()?
            .reshape((layout.rows(), dim))?,
        LatentLayout::Sequence { .. } => latents.contiguous()?.reshape((layout.rows(), dim))?,
    };
    if layout.rows() == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "latents" }.into());
    }
    Ok((rows, layout))
}

/// Codes as `quantize` returned them, flattened to contiguous rows (lattice codes
/// `(rows, D)`, `I32`; indices `(rows,)`, `I64`) with the layout of the latents they came
/// from.
pub(crate) fn code_rows(
    codes: &Tensor,
    dim: usize,
    lattice: bool,
) -> Result<(Tensor, LatentLayout)> {
    let size = codes.dims().to_vec();
    let bad = |requirement: String| input_shape("codes", codes, requirement);
    let (expected, kind) = if lattice {
        (DType::I32, "lattice codes")
    } else {
        (DType::I64, "codeword indices")
    };
    if codes.dtype() != expected {
        let dtype = codes.dtype();
        return Err(bad(format!("{kind} must be {expected:?}, not {dtype:?}")));
    }
    let layout = if lattice {
        LatentLayout::of_lattice_codes(&size, dim)
            .ok_or_else(|| bad(layout::lattice_codes_requirement(dim)))?
    } else {
        LatentLayout::of_indices(&size).ok_or_else(|| bad(layout::INDICES_REQUIREMENT.into()))?
    };
    if layout.rows() == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "codes" }.into());
    }
    let rows = if lattice {
        codes.contiguous()?.reshape((layout.rows(), dim))?
    } else {
        codes.contiguous()?.reshape(layout.rows())?
    };
    Ok((rows, layout))
}

/// Rows `(rows, D)` back to the layout's shape: for images an NCHW view of the rows'
/// channels-last buffer (a channels-last consumer, such as the candle `VqVae`'s decoder,
/// reads it without a copy).
pub(crate) fn restore(layout: LatentLayout, rows: &Tensor, dim: usize) -> Result<Tensor> {
    Ok(match layout {
        LatentLayout::Rows { .. } => rows.clone(),
        LatentLayout::Image { .. } => rows
            .reshape(layout.row_order_shape(dim))?
            .permute(LatentLayout::ROWS_TO_IMAGE)?,
        LatentLayout::Sequence { .. } => rows.reshape(layout.latent_shape(dim))?,
    })
}

/// Per-row lattice codes `(rows, D)` or indices `(rows,)` in the layout's code shape.
pub(crate) fn restore_codes(layout: LatentLayout, codes: &Tensor) -> Result<Tensor> {
    if let LatentLayout::Rows { .. } = layout {
        return Ok(codes.clone());
    }
    let mut shape = layout.index_shape();
    shape.extend(codes.dims().iter().skip(1));
    Ok(codes.reshape(shape)?)
}

/// A zero scalar of `like`'s dtype and device, for loss terms a quantizer does not have.
pub(crate) fn zero_like_scalar(like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::zeros((), like.dtype(), like.device())?)
}

/// The values of a tensor, flat, as `T`, on the host.
pub(crate) fn host<T: candle_core::WithDType>(t: &Tensor) -> Result<Vec<T>> {
    Ok(t.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()?)
}
