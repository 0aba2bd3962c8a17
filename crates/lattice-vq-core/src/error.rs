//! The one error type of `lattice-vq-core`.

use thiserror::Error;

/// Everything that can go wrong in `lattice-vq-core`, and the rules every adapter checks on
/// its tensors and checkpoint files (the `InputShape` to `Io` variants): the adapters' own
/// error types add only their host framework's error, so a message reads the same whichever
/// backend produced it.
///
/// Messages are lowercase and name the invariant that was broken, so that a user reading a
/// training log knows what to fix. Values are reported as `f64` whatever the float type.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A lattice needs at least one dimension (D >= 1).
    #[error("dimension must be at least 1 (got dim = 0)")]
    ZeroDim,
    /// Eq. 6 needs a codebook of at least two codes (K >= 2), or its range is infinite.
    #[error("codebook size must be at least 2 (got {codebook_size})")]
    CodebookTooSmall {
        /// The rejected codebook size K.
        codebook_size: usize,
    },
    /// A basis entry is NaN or infinite.
    #[error("basis entry {index} is {value}: basis entries must be finite")]
    NonFiniteBasis {
        /// Position of the entry in the basis diagonal.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A basis entry is zero, denormal, or so small or large that `b`, `1 / b` or the losses
    /// would leave the normal range of the float type.
    #[error("basis entry {index} is {value}: basis entries need {min:e} <= |b| <= {max:e}")]
    BasisOutOfRange {
        /// Position of the entry in the basis diagonal.
        index: usize,
        /// The offending value.
        value: f64,
        /// The documented minimum magnitude for this float type.
        min: f64,
        /// The documented maximum magnitude for this float type.
        max: f64,
    },
    /// A latent value is NaN or infinite.
    #[error("latent at row {row}, column {col} is {value}: latents must be finite")]
    NonFiniteLatent {
        /// Row (vector) index.
        row: usize,
        /// Column (dimension) index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A codeword of a VQ codebook holds a NaN or infinite value: its distance to every
    /// latent would be NaN or infinite, so it could be neither chosen nor skipped safely.
    #[error("codeword {index}, column {col} is {value}: codebook entries must be finite")]
    NonFiniteCodeword {
        /// Codeword (row of the codebook) index.
        index: usize,
        /// Column (dimension) index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// `z / b` rounds to an integer that does not fit in an `i32` code.
    #[error(
        "latent at row {row}, column {col} gives code {value}: codes must fit in i32 \
         (|z / b| <= 2147483647)"
    )]
    CodeOverflow {
        /// Row (vector) index.
        row: usize,
        /// Column (dimension) index.
        col: usize,
        /// The unrepresentable code, `z / b` before rounding.
        value: f64,
    },
    /// Two arrays that must agree in shape do not.
    #[error("{what} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Which argument had the wrong shape.
        what: &'static str,
        /// The shape that was required.
        expected: Vec<usize>,
        /// The shape that was passed.
        found: Vec<usize>,
    },
    /// An input had no rows where at least one is required (a mean over zero elements).
    #[error("{what} is empty: at least one row is required")]
    EmptyInput {
        /// Which argument was empty.
        what: &'static str,
    },
    /// A configuration value is out of its allowed range.
    #[error("invalid {field} = {value}: {requirement}")]
    InvalidConfig {
        /// The configuration field.
        field: &'static str,
        /// Its value, as text.
        value: String,
        /// What the field must satisfy.
        requirement: &'static str,
    },
    /// A HyperLogLog precision outside the supported range.
    #[error("sketch precision must be in {min}..={max} (got {precision})")]
    InvalidPrecision {
        /// The rejected precision.
        precision: u8,
        /// Smallest supported precision.
        min: u8,
        /// Largest supported precision.
        max: u8,
    },
    /// Two sketches or counters of different shapes cannot be merged.
    #[error("cannot merge {what}: {left} != {right}")]
    MergeMismatch {
        /// What differs between the two.
        what: &'static str,
        /// The left-hand value.
        left: usize,
        /// The right-hand value.
        right: usize,
    },
    /// A codeword index is not below the codebook size K.
    #[error(
        "index {index} at row {row} is out of range: indices must be below the codebook size \
         {codebook_size}"
    )]
    IndexOutOfRange {
        /// Row (vector) of the offending index.
        row: usize,
        /// The offending index.
        index: usize,
        /// The codebook size K.
        codebook_size: usize,
    },
    /// A code <-> index conversion was asked of a lattice with no finite codebook (the
    /// diagonal lattice, any unbounded lattice): there is no index to give.
    #[error("{what} needs a bounded lattice: this lattice has no finite codebook")]
    UnboundedLattice {
        /// The operation that needs a bounded lattice (`codes_to_indices`, ...).
        what: &'static str,
    },
    /// A product codebook has more codes than its index type can number.
    #[error(
        "a codebook of {levels} level counts has more codes than {index_type} can index: use \
         fewer or smaller levels"
    )]
    CodebookOverflow {
        /// How many level counts (dimensions) the codebook has.
        levels: usize,
        /// The index type (`u64` for token indices, `u128` for the size itself).
        index_type: &'static str,
    },
    /// A code's digit lies outside its dimension's levels `0..levels`.
    #[error(
        "code {code} at row {row}, column {col} is out of range: codes must lie in 0..{levels}"
    )]
    CodeOutOfRange {
        /// Row (vector) of the offending code.
        row: usize,
        /// Column (dimension) of the offending digit.
        col: usize,
        /// The digit.
        code: i64,
        /// The dimension's level count.
        levels: u32,
    },
    /// A token index is not below the codebook size K of a finite product codebook.
    #[error(
        "token {index} at row {row} is out of range: tokens must be below the codebook size \
         {codebook_size}"
    )]
    TokenOutOfRange {
        /// Row of the offending token.
        row: usize,
        /// The token.
        index: u64,
        /// The codebook size K.
        codebook_size: u128,
    },
    /// A bounded lattice's offset entry is NaN, infinite, or so large that its points
    /// would leave the float type's range.
    #[error("offset entry {index} is {value}: offsets must be finite with |c| <= {max:e}")]
    OffsetOutOfRange {
        /// Position of the entry in the offset vector.
        index: usize,
        /// The offending value.
        value: f64,
        /// The largest accepted magnitude for this float type.
        max: f64,
    },
    /// A vocabulary's unknown token was asked for its code: it stands for every code the
    /// vocabulary has not seen, so it has none.
    #[error(
        "token {index} at row {row} is the vocabulary's unknown token: it has no code \
         (known tokens are 0..{index})"
    )]
    UnknownToken {
        /// Row of the offending token.
        row: usize,
        /// The unknown token (the vocabulary's size).
        index: u64,
    },
    /// A count of code vectors would pass `u64::MAX`.
    #[error("code count overflow: counts must stay below 2^64")]
    CountOverflow,
    /// An adapter's input tensor has the wrong rank, last dimension or dtype for the layer,
    /// or codes of the wrong variant, dtype or range.
    #[error("{what} has shape {found:?}: {requirement}")]
    InputShape {
        /// Which input.
        what: &'static str,
        /// Its shape.
        found: Vec<usize>,
        /// What the input must satisfy.
        requirement: String,
    },
    /// A float input of another dtype than the layer's variables, for example `F64` latents
    /// for an `F32` layer.
    #[error("{what}: dtype {found} does not match the layer's {expected}")]
    DtypeMismatch {
        /// Which input.
        what: &'static str,
        /// Its dtype, as both adapters spell it (`F32`, `F64`, ...).
        found: String,
        /// The layer's dtype.
        expected: String,
    },
    /// A checkpoint file is not safetensors (truncated, corrupt, another format), or its
    /// tensors could not be written.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What the safetensors reader or writer said.
        message: String,
    },
    /// A checkpoint lacks a tensor the model needs ([`crate::checkpoint::check_checkpoint`]).
    #[error("checkpoint {path} has no tensor {name}: every model tensor must be present")]
    MissingTensor {
        /// The checkpoint file.
        path: String,
        /// The missing tensor's name.
        name: String,
    },
    /// A checkpoint tensor has another shape than the model's.
    #[error("checkpoint {path}: tensor {name} has shape {found:?}, the model needs {expected:?}")]
    TensorShape {
        /// The checkpoint file.
        path: String,
        /// The tensor's name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The checkpoint's shape.
        found: Vec<usize>,
    },
    /// A checkpoint holds tensors the model does not have (another quantizer or dataset).
    #[error(
        "checkpoint {path} has tensors the model lacks ({names}): it was saved from another \
         model configuration"
    )]
    UnexpectedTensors {
        /// The checkpoint file.
        path: String,
        /// The extra tensors' names, comma-separated.
        names: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What kind of I/O failure it was (`NotFound`, ...).
        kind: std::io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
