//! The output every quantizer returns, and the reshaping between latents and rows.

use lattice_vq_core::layout::{self, LatentLayout};
use lattice_vq_core::output;
use tch::{Kind, Reduction, Tensor};

use crate::error::{Error, Result, dtype_name, input_shape};

/// What [`Quantizer::quantize`](crate::Quantizer::quantize) returns
/// (`lattice_vq_core::output::QuantizerOutput`): lattice codes are `Int`, indices `Int64`.
pub type QuantizerOutput = output::QuantizerOutput<Tensor>;

/// A quantizer's codes (`lattice_vq_core::output::Codes`), the kind said by the variant.
pub type Codes = output::Codes<Tensor>;

/// The unweighted terms of the quantizer loss (`lattice_vq_core::output::LossParts`).
pub type LossParts = output::LossParts<Tensor>;

/// A tensor's shape as the core's layout rules take it (libtorch sizes are never negative).
fn dims(t: &Tensor) -> Vec<usize> {
    t.size().iter().map(|&s| s as usize).collect()
}

/// A shape as libtorch takes it.
fn sizes(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&s| s as i64).collect()
}

/// Latents flattened to contiguous `(rows, D)` in their [`LatentLayout`]'s row order (NHWC
/// for images, so row indices in errors count positions in that order).
///
/// # Errors
/// A kind other than `Float` or `Double`, a float kind other than the layer's `kind`, a shape
/// outside the three layouts, or no rows.
pub(crate) fn to_rows(latents: &Tensor, dim: usize, kind: Kind) -> Result<(Tensor, LatentLayout)> {
    let found = latents.kind();
    if !matches!(found, Kind::Float | Kind::Double) {
        let requirement = format!("must be Float or Double, not {found:?}");
        return Err(input_shape("latents", latents, requirement));
    }
    if found != kind {
        return Err(lattice_vq_core::Error::DtypeMismatch {
            what: "latents",
            found: dtype_name(found),
            expected: dtype_name(kind),
        }
        .into());
    }
    let Some(layout) = LatentLayout::of_latents(&dims(latents), dim) else {
        return Err(input_shape(
            "latents",
            latents,
            layout::latents_requirement(dim),
        ));
    };
    let rows = match layout {
        LatentLayout::Rows { .. } => latents.f_contiguous()?,
        LatentLayout::Image { .. } => latents
            .f_permute(sizes(&LatentLayout::IMAGE_TO_ROWS))?
            .f_contiguous()?
            .f_view([layout.rows() as i64, dim as i64])?,
        LatentLayout::Sequence { .. } => latents
            .f_contiguous()?
            .f_view([layout.rows() as i64, dim as i64])?,
    };
    if layout.rows() == 0 {
        return Err(lattice_vq_core::Error::EmptyInput { what: "latents" }.into());
    }
    Ok((rows, layout))
}

/// The core's `InputShape` error for `codes`.
fn bad_codes(codes: &Tensor, requirement: String) -> Error {
    input_shape("codes", codes, requirement)
}

/// Codes of the variant and kind a layer decodes, or the error saying so.
fn codes_of(codes: &Codes, lattice: bool) -> Result<&Tensor> {
    let (tensor, kind, rule) = match (codes, lattice) {
        (Codes::Lattice(t), true) => (t, Kind::Int, "lattice codes must be Int (I32)"),
        (Codes::Indices(t), false) => (t, Kind::Int64, "indices must be Int64 (I64)"),
        (other, _) => {
            let requirement = if lattice {
                "must be Codes::Lattice: a lattice quantizer decodes lattice coordinates, not \
                 codeword indices"
            } else {
                "must be Codes::Indices: a codebook quantizer decodes codeword indices, not \
                 lattice coordinates"
            };
            return Err(bad_codes(other.tensor(), requirement.into()));
        }
    };
    if tensor.kind() != kind {
        return Err(bad_codes(
            tensor,
            format!("{rule}, not {:?}", tensor.kind()),
        ));
    }
    Ok(tensor)
}

/// Lattice codes (`Int`, in a layout's lattice-code shape) as `(rows, D)`, with the layout
/// they stand for.
///
/// # Errors
/// Indices, a kind other than `Int`, or a shape outside the three layouts.
pub(crate) fn lattice_code_rows(codes: &Codes, dim: usize) -> Result<(Tensor, LatentLayout)> {
    let codes = codes_of(codes, true)?;
    let layout = LatentLayout::of_lattice_codes(&dims(codes), dim)
        .ok_or_else(|| bad_codes(codes, layout::lattice_codes_requirement(dim)))?;
    Ok((codes.f_reshape([layout.rows() as i64, dim as i64])?, layout))
}

/// Codeword indices (`Int64`, in a layout's index shape, each in `0..codebook_size`) as
/// `(rows,)`, with the layout they stand for.
///
/// # Errors
/// Lattice codes, a kind other than `Int64`, a shape outside the three layouts, or an index
/// outside the codebook.
pub(crate) fn index_rows(codes: &Codes, codebook_size: usize) -> Result<(Tensor, LatentLayout)> {
    let codes = codes_of(codes, false)?;
    let layout = LatentLayout::of_indices(&dims(codes))
        .ok_or_else(|| bad_codes(codes, layout::INDICES_REQUIREMENT.into()))?;
    let flat = codes.f_reshape([-1])?;
    if flat.numel() > 0 {
        let extremes = Tensor::f_stack(&[flat.f_min()?, flat.f_max()?], 0)?;
        let extremes = Vec::<i64>::try_from(&extremes)?;
        if extremes[0] < 0 || extremes[1] >= codebook_size as i64 {
            let (low, high) = (extremes[0], extremes[1]);
            return Err(bad_codes(
                codes,
                format!("indices must lie in 0..{codebook_size} (found {low} to {high})"),
            ));
        }
    }
    Ok((flat, layout))
}

/// Rows `(rows, D)` back to the layout's latent shape (contiguous NCHW for images, as the
/// official code returns it: the decoder's convolutions then see the same memory format).
pub(crate) fn restore(layout: LatentLayout, rows: &Tensor, dim: usize) -> Result<Tensor> {
    Ok(match layout {
        LatentLayout::Rows { .. } => rows.shallow_clone(),
        LatentLayout::Image { .. } => rows
            .f_view(sizes(&layout.row_order_shape(dim)).as_slice())?
            .f_permute(sizes(&LatentLayout::ROWS_TO_IMAGE))?
            .f_contiguous()?,
        LatentLayout::Sequence { .. } => {
            rows.f_view(sizes(&layout.latent_shape(dim)).as_slice())?
        }
    })
}

/// Per-row codes `(rows, D)` or indices `(rows,)` in the layout's code shape.
pub(crate) fn restore_codes(layout: LatentLayout, codes: &Tensor) -> Result<Tensor> {
    if let LatentLayout::Rows { .. } = layout {
        return Ok(codes.shallow_clone());
    }
    let mut shape = sizes(&layout.index_shape());
    shape.extend(codes.size().iter().skip(1));
    Ok(codes.f_view(shape.as_slice())?)
}

/// The output of a layer that computed on `(rows, D)` rows: `quantized`, `points` and
/// `codes` (per row) are given back in `layout`'s shapes.
pub(crate) fn output_from_rows(
    layout: LatentLayout,
    dim: usize,
    (quantized, points): (&Tensor, &Tensor),
    codes: Codes,
    loss: Tensor,
    parts: LossParts,
) -> Result<QuantizerOutput> {
    Ok(QuantizerOutput {
        quantized: restore(layout, quantized, dim)?,
        points: restore(layout, points, dim)?,
        codes: codes.try_map(|codes| restore_codes(layout, &codes))?,
        loss,
        parts,
    })
}

/// The embedding and commitment losses of points `e` for rows `z`, `mean((e - sg z)^2)` and
/// `mean((sg e - z)^2)` (`lattice_vq_core::loss`, `lattice_vq_core::vq_loss`).
pub(crate) fn vq_losses(points: &Tensor, rows: &Tensor) -> Result<(Tensor, Tensor)> {
    let embedding = points.f_mse_loss(&rows.f_detach()?, Reduction::Mean)?;
    let commitment = points.f_detach()?.f_mse_loss(rows, Reduction::Mean)?;
    Ok((embedding, commitment))
}

/// The straight-through output `z + sg(e - z)`: the value of `e`, the gradient of `z`.
pub(crate) fn straight_through(rows: &Tensor, points: &Tensor) -> Result<Tensor> {
    Ok(rows.f_add(&points.f_sub(rows)?.f_detach()?)?)
}

/// A tensor's values on the host, converted to `T`, row-major.
pub(crate) fn host<T: tch::kind::Element + Copy>(t: &Tensor) -> Result<Vec<T>> {
    Ok(Vec::<T>::try_from(
        t.f_detach()?
            .f_to_device(tch::Device::Cpu)?
            .f_to_kind(T::KIND)?
            .f_flatten(0, -1)?,
    )?)
}

/// A zero scalar of `like`'s kind and device, for loss terms a quantizer does not have.
pub(crate) fn zero_like_scalar(like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::f_zeros([], (like.kind(), like.device()))?)
}
