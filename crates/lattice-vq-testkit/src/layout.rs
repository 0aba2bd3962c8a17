//! The contract's three latent layouts and their rows (the table in docs/design.md): rows
//! `(N, D)`, channel-last sequences `(B, T, D)` (rows in row-major order) and images
//! `(N, D, H, W)` (rows in NHWC order).

use ndarray::{Array1, Array2, ArrayD, Axis, IxDyn};

use crate::failure::Failure;
use crate::types::Codes;

/// Where rows came from, and so how outputs are shaped: the core's rule
/// (`lattice_vq_core::layout`), which the adapters follow too.
pub use lattice_vq_core::layout::LatentLayout as Layout;

/// Values in a [`Layout`] from `(N, D)` rows: what the suites build their inputs and
/// expected outputs with (ndarray only; the core's layout knows shapes, not arrays).
pub trait Restore {
    /// `(N, D)` rows laid out in this layout (the inverse of [`to_rows`]).
    ///
    /// # Panics
    /// When the number of rows is not this layout's.
    fn restore<T: Clone>(&self, rows: &Array2<T>) -> ArrayD<T>;

    /// Per-row lattice codes `(N, D)` in this layout's code shape.
    fn restore_lattice_codes(&self, codes: &Array2<i32>) -> ArrayD<i32>;

    /// Per-row indices `(N,)` in this layout's index shape.
    fn restore_indices(&self, indices: &Array1<i64>) -> ArrayD<i64>;
}

impl Restore for Layout {
    fn restore<T: Clone>(&self, rows: &Array2<T>) -> ArrayD<T> {
        let dim = rows.ncols();
        assert_eq!(rows.nrows(), self.rows(), "rows for {self:?}");
        let flat = rows.as_standard_layout().to_owned();
        match *self {
            Self::Rows { .. } | Self::Sequence { .. } => flat
                .into_shape_with_order(IxDyn(&self.latent_shape(dim)))
                .expect("row-major rows"),
            Self::Image { n, height, width } => flat
                .into_shape_with_order(IxDyn(&[n, height, width, dim]))
                .expect("row-major rows")
                .permuted_axes(IxDyn(&[0, 3, 1, 2]))
                .as_standard_layout()
                .to_owned(),
        }
    }

    fn restore_lattice_codes(&self, codes: &Array2<i32>) -> ArrayD<i32> {
        let dim = codes.ncols();
        codes
            .as_standard_layout()
            .to_owned()
            .into_shape_with_order(IxDyn(&self.lattice_code_shape(dim)))
            .expect("row-major codes")
    }

    fn restore_indices(&self, indices: &Array1<i64>) -> ArrayD<i64> {
        indices
            .clone()
            .into_shape_with_order(IxDyn(&self.index_shape()))
            .expect("one index per row")
    }
}

/// Latents as `(N, D)` rows and their layout, by the contract's rule: rank 2, 3 or 4 with
/// `D` last (rows, sequences) or second (images).
///
/// # Errors
/// [`Failure::InputShape`] naming `what` for any other rank or width.
pub fn to_rows<T: Clone>(
    values: &ArrayD<T>,
    dim: usize,
    what: &str,
) -> Result<(Array2<T>, Layout), Failure> {
    let shape = values.shape().to_vec();
    let bad = || {
        Failure::input_shape(
            what,
            format!(
                "{what} has shape {shape:?}: expected (N, {dim}), (B, T, {dim}) or (N, {dim}, H, W)"
            ),
        )
    };
    let layout = Layout::of_latents(&shape, dim).ok_or_else(bad)?;
    let view = match layout {
        Layout::Image { .. } => values.view().permuted_axes(IxDyn(&[0, 2, 3, 1])),
        _ => values.view(),
    };
    let rows = view
        .as_standard_layout()
        .to_owned()
        .into_shape_with_order((layout.rows(), dim))
        .map_err(|_| bad())?;
    Ok((rows, layout))
}

/// Codes as per-row codes and the layout `decode` gives their points, by the contract's
/// rule: lattice codes of rank 2, 3, 4 (`D` last) and indices of rank 1, 2, 3.
///
/// # Errors
/// [`Failure::InputShape`] (`what = "codes"`) for any other rank, or lattice codes whose
/// last dimension is not `dim`.
pub fn codes_to_rows(codes: &Codes, dim: usize) -> Result<(CodeRows, Layout), Failure> {
    let shape = codes.shape().to_vec();
    let bad =
        |rule: &str| Failure::input_shape("codes", format!("codes have shape {shape:?}: {rule}"));
    let index_layout = Layout::of_indices;
    match codes {
        Codes::Lattice(c) => {
            let rule = format!("lattice codes are (N, {dim}), (B, T, {dim}) or (N, H, W, {dim})");
            let (last, rest) = shape.split_last().ok_or_else(|| bad(&rule))?;
            if *last != dim {
                return Err(bad(&rule));
            }
            let layout = index_layout(rest).ok_or_else(|| bad(&rule))?;
            let rows = c
                .as_standard_layout()
                .to_owned()
                .into_shape_with_order((layout.rows(), dim))
                .map_err(|_| bad(&rule))?;
            Ok((CodeRows::Lattice(rows), layout))
        }
        Codes::Indices(c) => {
            let rule = "indices are (N), (B, T) or (N, H, W)";
            let layout = index_layout(&shape).ok_or_else(|| bad(rule))?;
            let rows: Array1<i64> = c.iter().copied().collect();
            Ok((CodeRows::Indices(rows), layout))
        }
    }
}

/// Per-row codes: what [`codes_to_rows`] returns.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRows {
    /// `(N, D)` lattice coordinates.
    Lattice(Array2<i32>),
    /// `(N,)` indices.
    Indices(Array1<i64>),
}

/// Rows of latents as f64 from any float array (a helper for the suites' comparisons).
pub fn rows_of(values: &ArrayD<f64>, dim: usize) -> Array2<f64> {
    to_rows(values, dim, "values")
        .expect("values in one of the contract's layouts")
        .0
}

/// Row `i` of a row-major matrix as a `Vec` (a helper for messages).
pub fn row<T: Clone>(rows: &Array2<T>, i: usize) -> Vec<T> {
    rows.index_axis(Axis(0), i).to_vec()
}
