//! Turning a batch's quantizer output into rows for [`UniqueCodes`].

use lattice_vq_core::UniqueCodes;
use ndarray::ArrayView2;

use crate::error::Result;

/// What identifies a latent's quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// Integer codes: lattice coordinates (D per latent) or a codeword index (1 per latent).
    Codes,
    /// The quantized vector `e` itself (the lattice point or codebook row the quantizer chose,
    /// not the straight-through output), as the bit patterns of its D floats. This is what
    /// the paper counted: a VQ-EMA codebook that moves between batches makes new vectors
    /// under the same index.
    Vectors,
    /// Nothing (saves the copy off the device).
    None,
}

/// Code rows of one batch: `data.len() / dim` rows of `dim` values.
#[derive(Debug, Clone, Default)]
pub struct CodeRows {
    /// Row-major values.
    pub data: Vec<i32>,
    /// Values per row (0 when empty).
    pub dim: usize,
}

impl CodeRows {
    /// Rows from quantized float vectors, bit for bit (`-0.0` and `0.0` differ, as in a
    /// hash of the bytes).
    pub fn from_vectors(vectors: &[f32], dim: usize) -> Self {
        Self {
            data: vectors.iter().map(|v| v.to_bits() as i32).collect(),
            dim,
        }
    }

    /// The rows as an `(N, dim)` view.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for values that are not whole rows (or no width).
    pub fn view(&self) -> Result<ArrayView2<'_, i32>> {
        let rows = self.data.len().checked_div(self.dim).unwrap_or(0);
        ArrayView2::from_shape((rows, self.dim), &self.data).map_err(|e| crate::Error::Invalid {
            what: "code rows".into(),
            problem: e.to_string(),
        })
    }

    /// Add every row to `counter` (created with the rows' width on first use).
    ///
    /// # Errors
    /// Rows of another width than the counter's.
    pub fn count_into(&self, counter: &mut Option<UniqueCodes>) -> Result<()> {
        if self.dim == 0 || self.data.is_empty() {
            return Ok(());
        }
        let counter = counter.get_or_insert_with(|| UniqueCodes::new(self.dim));
        let rows = ArrayView2::from_shape((self.data.len() / self.dim, self.dim), &self.data)
            .map_err(|e| crate::Error::Invalid {
                what: "code rows".into(),
                problem: e.to_string(),
            })?;
        counter.insert_rows(rows)?;
        Ok(())
    }
}
