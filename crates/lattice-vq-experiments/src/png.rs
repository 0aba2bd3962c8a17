//! PNG figures for the examples: image grids (inputs over reconstructions) and line plots
//! (loss curves), drawn without a plotting library.
//!
//! Every write is atomic: the PNG is encoded in memory, written to a hidden temporary
//! sibling of the target and renamed over it, so a reader never sees half a file and a
//! failed write leaves neither a temporary file nor a damaged target.

mod atomic;
mod canvas;
mod font;
mod grid;
mod plot;

pub use grid::{GAP, write_comparison, write_grid};
pub use plot::write_line_plot;
