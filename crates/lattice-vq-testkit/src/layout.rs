//! The contract's three latent layouts and their rows (the table in docs/design.md): rows
//! `(N, D)`, channel-last sequences `(B, T, D)` (rows in row-major order) and images
//! `(N, D, H, W)` (rows in NHWC order).

use ndarray::{Array1, Array2, ArrayD, Axis, IxDyn};

use crate::failure::Failure;
use crate::types::Codes;

/// Where rows came from, and so how outputs are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `(N, D)`.
    Rows {
        /// N.
        n: usize,
    },
    /// `(B, T, D)`, rows in row-major order.
    Sequence {
        /// B.
        batch: usize,
        /// T.
        steps: usize,
    },
    /// `(N, D, H, W)`, rows in NHWC order.
    Image {
        /// N.
        n: usize,
        /// H.
        height: usize,
        /// W.
        width: usize,
    },
}

impl Layout {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        match *self {
            Self::Rows { n } => n,
            Self::Sequence { batch, steps } => batch * steps,
            Self::Image { n, height, width } => n * height * width,
        }
    }

    /// The shape of latents, `quantized` and `points` for `dim`.
    pub fn shape(&self, dim: usize) -> Vec<usize> {
        match *self {
            Self::Rows { n } => vec![n, dim],
            Self::Sequence { batch, steps } => vec![batch, steps, dim],
            Self::Image { n, height, width } => vec![n, dim, height, width],
        }
    }

    /// The shape of lattice codes for `dim`.
    pub fn lattice_codes_shape(&self, dim: usize) -> Vec<usize> {
        let mut shape = self.index_shape();
        shape.push(dim);
        shape
    }

    /// The shape of codeword indices.
    pub fn index_shape(&self) -> Vec<usize> {
        match *self {
            Self::Rows { n } => vec![n],
            Self::Sequence { batch, steps } => vec![batch, steps],
            Self::Image { n, height, width } => vec![n, height, width],
        }
    }

    /// `(N, D)` rows laid out in this layout (the inverse of [`to_rows`]).
    ///
    /// # Panics
    /// When the number of rows is not this layout's.
    pub fn restore<T: Clone>(&self, rows: &Array2<T>) -> ArrayD<T> {
        let dim = rows.ncols();
        assert_eq!(rows.nrows(), self.rows(), "rows for {self:?}");
        let flat = rows.as_standard_layout().to_owned();
        match *self {
            Self::Rows { .. } | Self::Sequence { .. } => flat
                .into_shape_with_order(IxDyn(&self.shape(dim)))
                .expect("row-major rows"),
            Self::Image { n, height, width } => flat
                .into_shape_with_order(IxDyn(&[n, height, width, dim]))
                .expect("row-major rows")
                .permuted_axes(IxDyn(&[0, 3, 1, 2]))
                .as_standard_layout()
                .to_owned(),
        }
    }

    /// Per-row lattice codes `(N, D)` in this layout's code shape.
    pub fn restore_lattice_codes(&self, codes: &Array2<i32>) -> ArrayD<i32> {
        let dim = codes.ncols();
        codes
            .as_standard_layout()
            .to_owned()
            .into_shape_with_order(IxDyn(&self.lattice_codes_shape(dim)))
            .expect("row-major codes")
    }

    /// Per-row indices `(N,)` in this layout's index shape.
    pub fn restore_indices(&self, indices: &Array1<i64>) -> ArrayD<i64> {
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
    let layout = match *shape.as_slice() {
        [n, d] if d == dim => Layout::Rows { n },
        [batch, steps, d] if d == dim => Layout::Sequence { batch, steps },
        [n, d, height, width] if d == dim => Layout::Image { n, height, width },
        _ => return Err(bad()),
    };
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
    let index_layout = |s: &[usize]| match *s {
        [n] => Some(Layout::Rows { n }),
        [batch, steps] => Some(Layout::Sequence { batch, steps }),
        [n, height, width] => Some(Layout::Image { n, height, width }),
        _ => None,
    };
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
