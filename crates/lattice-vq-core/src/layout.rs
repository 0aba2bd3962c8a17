//! The adapters' three latent layouts (the table of `docs/design.md`), as data: which shapes a
//! quantizer layer takes, in which order it reads their rows, and the shapes of what it
//! gives back. An adapter matches a tensor's dims with [`LatentLayout`] and applies the
//! permutes and reshapes in its own ops; the rules and the words of their errors are here,
//! once.
//!
//! | latents | rows in | `quantized`, `points` | lattice codes | indices |
//! |---|---|---|---|---|
//! | `(N, D)` rows | row order | `(N, D)` | `(N, D)` | `(N,)` |
//! | `(B, T, D)` sequences | row-major order | `(B, T, D)` | `(B, T, D)` | `(B, T)` |
//! | `(N, D, H, W)` images | NHWC order (as the official code flattens them) | `(N, D, H, W)` | `(N, H, W, D)` | `(N, H, W)` |

/// Where a batch of latent rows came from: the layout of the latents (or of the codes) a
/// quantizer layer was given, and so the shapes of its outputs.
///
/// # Example
/// ```
/// use lattice_vq_core::layout::LatentLayout;
///
/// let layout = LatentLayout::of_latents(&[8, 64, 14, 14], 64).unwrap();
/// assert_eq!(layout, LatentLayout::Image { n: 8, height: 14, width: 14 });
/// assert_eq!(layout.rows(), 8 * 14 * 14);
/// assert_eq!(layout.row_order_shape(64), vec![8, 14, 14, 64]); // NHWC
/// assert_eq!(layout.lattice_code_shape(64), vec![8, 14, 14, 64]);
/// assert_eq!(layout.index_shape(), vec![8, 14, 14]);
/// assert_eq!(LatentLayout::of_lattice_codes(&[8, 14, 14, 64], 64), Some(layout));
/// assert_eq!(LatentLayout::of_indices(&[8, 14, 14]), Some(layout));
/// assert_eq!(LatentLayout::of_latents(&[8, 63, 14, 14], 64), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatentLayout {
    /// `(N, D)` rows.
    Rows {
        /// N.
        n: usize,
    },
    /// `(B, T, D)` channel-last sequences, rows in row-major order.
    Sequence {
        /// B.
        batch: usize,
        /// T.
        steps: usize,
    },
    /// `(N, D, H, W)` images, rows in NHWC order.
    Image {
        /// N.
        n: usize,
        /// H.
        height: usize,
        /// W.
        width: usize,
    },
}

impl LatentLayout {
    /// The permutation from an `(N, D, H, W)` image to its NHWC rows' buffer
    /// `(N, H, W, D)`.
    pub const IMAGE_TO_ROWS: [usize; 4] = [0, 2, 3, 1];

    /// The permutation from the NHWC rows' buffer `(N, H, W, D)` back to `(N, D, H, W)`.
    pub const ROWS_TO_IMAGE: [usize; 4] = [0, 3, 1, 2];

    /// The layout of latents of `shape` for a layer of dimension `dim`: rank 2 or 3 with
    /// `D` last, rank 4 with `D` second; `None` otherwise (the error's requirement is
    /// [`latents_requirement`]).
    pub fn of_latents(shape: &[usize], dim: usize) -> Option<Self> {
        match *shape {
            [n, d] if d == dim => Some(Self::Rows { n }),
            [batch, steps, d] if d == dim => Some(Self::Sequence { batch, steps }),
            [n, d, height, width] if d == dim => Some(Self::Image { n, height, width }),
            _ => None,
        }
    }

    /// The layout lattice codes of `shape` stand for: rank 2, 3 or 4 with `D` last; `None`
    /// otherwise (the requirement is [`lattice_codes_requirement`]).
    pub fn of_lattice_codes(shape: &[usize], dim: usize) -> Option<Self> {
        match shape.split_last() {
            Some((&d, leading)) if d == dim => Self::of_indices(leading),
            _ => None,
        }
    }

    /// The layout codeword indices of `shape` stand for: rank 1, 2 or 3; `None` otherwise
    /// (the requirement is [`INDICES_REQUIREMENT`]).
    pub fn of_indices(shape: &[usize]) -> Option<Self> {
        match *shape {
            [n] => Some(Self::Rows { n }),
            [batch, steps] => Some(Self::Sequence { batch, steps }),
            [n, height, width] => Some(Self::Image { n, height, width }),
            _ => None,
        }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.index_shape().iter().product()
    }

    /// Whether the rows are the latents permuted ([`LatentLayout::IMAGE_TO_ROWS`]) rather
    /// than reshaped.
    pub fn is_image(&self) -> bool {
        matches!(self, Self::Image { .. })
    }

    /// The shape of the latents, and of `quantized` and `points`.
    pub fn latent_shape(&self, dim: usize) -> Vec<usize> {
        match *self {
            Self::Image { n, height, width } => vec![n, dim, height, width],
            _ => self.lattice_code_shape(dim),
        }
    }

    /// The shape of the rows' buffer in row order before it is flattened to `(rows, D)`:
    /// `(N, H, W, D)` for images, the latents' shape otherwise.
    pub fn row_order_shape(&self, dim: usize) -> Vec<usize> {
        self.lattice_code_shape(dim)
    }

    /// The shape of lattice codes: [`LatentLayout::index_shape`] then `D`.
    pub fn lattice_code_shape(&self, dim: usize) -> Vec<usize> {
        let mut shape = self.index_shape();
        shape.push(dim);
        shape
    }

    /// The shape of codeword indices: one per row, in the layout's leading shape.
    pub fn index_shape(&self) -> Vec<usize> {
        match *self {
            Self::Rows { n } => vec![n],
            Self::Sequence { batch, steps } => vec![batch, steps],
            Self::Image { n, height, width } => vec![n, height, width],
        }
    }
}

/// The rule on latents' shapes, for an adapter's shape error.
///
/// # Example
/// ```
/// assert_eq!(lattice_vq_core::layout::latents_requirement(4),
///     "must be (N, 4) rows, (B, T, 4) sequences or (N, 4, H, W) images");
/// ```
pub fn latents_requirement(dim: usize) -> String {
    format!("must be (N, {dim}) rows, (B, T, {dim}) sequences or (N, {dim}, H, W) images")
}

/// The rule on lattice codes' shapes, for an adapter's shape error.
pub fn lattice_codes_requirement(dim: usize) -> String {
    format!("lattice codes must be (N, {dim}), (B, T, {dim}) or (N, H, W, {dim})")
}

/// The rule on codeword indices' shapes, for an adapter's shape error.
pub const INDICES_REQUIREMENT: &str = "indices must be (N,), (B, T) or (N, H, W)";

#[cfg(test)]
mod tests {
    use super::LatentLayout;

    #[test]
    fn each_layout_round_trips_through_its_shapes() {
        for layout in [
            LatentLayout::Rows { n: 5 },
            LatentLayout::Sequence { batch: 2, steps: 3 },
            LatentLayout::Image {
                n: 2,
                height: 3,
                width: 4,
            },
        ] {
            let dim = 7;
            assert_eq!(
                LatentLayout::of_latents(&layout.latent_shape(dim), dim),
                Some(layout)
            );
            assert_eq!(
                LatentLayout::of_lattice_codes(&layout.lattice_code_shape(dim), dim),
                Some(layout)
            );
            assert_eq!(
                LatentLayout::of_indices(&layout.index_shape()),
                Some(layout)
            );
            let elements: usize = layout.row_order_shape(dim).iter().product();
            assert_eq!(elements, layout.rows() * dim);
        }
        assert_eq!(LatentLayout::of_latents(&[3], 3), None);
        assert_eq!(LatentLayout::of_latents(&[2, 3, 4, 5, 6], 3), None);
        assert_eq!(LatentLayout::of_lattice_codes(&[4], 4), None);
        assert_eq!(LatentLayout::of_lattice_codes(&[2, 5], 4), None);
        assert_eq!(LatentLayout::of_indices(&[]), None);
        assert_eq!(LatentLayout::of_indices(&[1, 2, 3, 4]), None);
    }
}
