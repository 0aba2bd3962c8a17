//! Files of token indices: what `evaluate --tokens` writes (one token per latent position of
//! every evaluated image, the smallest unsigned integer type that holds K) and
//! `evaluate --from-tokens` decodes back into reconstructions.

use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use lattice_vq_core::VqVaeConfig;

use crate::atomic::write_bytes;
use crate::data::Batch;
use crate::error::{Error, Result};

/// The tensor's name in a tokens file.
pub const TOKENS: &str = "tokens";

/// The smallest safetensors integer type holding tokens `0..codebook_size`, and its bytes.
fn dtype_for(codebook_size: u64) -> (Dtype, usize) {
    match codebook_size {
        0..=256 => (Dtype::U8, 1),
        257..=65_536 => (Dtype::U16, 2),
        65_537..=4_294_967_296 => (Dtype::U32, 4),
        _ => (Dtype::U64, 8),
    }
}

/// Write `tokens` of `shape` (`(images, height, width)`) to `path` atomically, as the
/// smallest unsigned type that holds `codebook_size` tokens.
///
/// # Errors
/// A token outside `0..codebook_size` or a shape that does not hold them
/// ([`Error::Invalid`]); a file that cannot be written.
pub fn write_tokens(
    path: &Path,
    tokens: &[i64],
    shape: &[usize],
    codebook_size: u64,
) -> Result<()> {
    let invalid = |problem: String| Error::Invalid {
        what: "tokens".into(),
        problem,
    };
    if shape.iter().product::<usize>() != tokens.len() {
        return Err(invalid(format!(
            "{} tokens do not fill the shape {shape:?}",
            tokens.len()
        )));
    }
    if let Some(bad) = tokens
        .iter()
        .find(|&&t| u64::try_from(t).map_or(true, |t| t >= codebook_size))
    {
        return Err(invalid(format!(
            "token {bad} is outside the codebook 0..{codebook_size}"
        )));
    }
    let (dtype, width) = dtype_for(codebook_size);
    let bytes: Vec<u8> = tokens
        .iter()
        .flat_map(|&t| (t as u64).to_le_bytes()[..width].to_vec())
        .collect();
    let view =
        TensorView::new(dtype, shape.to_vec(), &bytes).map_err(|e| invalid(e.to_string()))?;
    let data =
        safetensors::serialize([(TOKENS, view)], None).map_err(|e| invalid(e.to_string()))?;
    write_bytes(path, &data)
}

/// The tokens and their shape from a file [`write_tokens`] wrote.
///
/// # Errors
/// A file that cannot be read or is not safetensors ([`Error::Io`], [`Error::Format`]), or
/// one without an unsigned integer tensor `tokens`.
pub fn read_tokens(path: &Path) -> Result<(Vec<i64>, Vec<usize>)> {
    let format = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
    let tensor = file
        .tensor(TOKENS)
        .map_err(|_| format(format!("no tensor {TOKENS}: not a tokens file")))?;
    let width = match tensor.dtype() {
        Dtype::U8 => 1,
        Dtype::U16 => 2,
        Dtype::U32 => 4,
        Dtype::U64 => 8,
        other => {
            return Err(format(format!(
                "tokens of dtype {other:?}, not an unsigned integer"
            )));
        }
    };
    let tokens = tensor
        .data()
        .chunks_exact(width)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..width].copy_from_slice(chunk);
            i64::try_from(u64::from_le_bytes(word)).map_err(|_| format("token beyond i64".into()))
        })
        .collect::<Result<Vec<i64>>>()?;
    Ok((tokens, tensor.shape().to_vec()))
}

/// The dtype of a tokens file's tensor (`U8`, `U16`, ...), as safetensors names it.
///
/// # Errors
/// As [`read_tokens`].
pub fn token_dtype(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let file = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
    let tensor = file
        .tensor(TOKENS)
        .map_err(|_| format(format!("no tensor {TOKENS}")))?;
    Ok(format!("{:?}", tensor.dtype()))
}

/// The `(images, height, width)` grid of a batch's latent positions (each stride-2 stage of
/// `model` halves the image), checked against the number of tokens given for it.
///
/// # Errors
/// [`Error::Invalid`] when `count` is not the batch's number of latent positions.
pub fn latent_grid(
    batch: &Batch,
    model: &VqVaeConfig,
    count: usize,
) -> Result<(usize, usize, usize)> {
    let stages = model.hidden_dims.len();
    let (height, width) = (batch.shape.height >> stages, batch.shape.width >> stages);
    if count != batch.len * height * width {
        return Err(Error::Invalid {
            what: "tokens".into(),
            problem: format!(
                "{count} tokens for {} images of {height}x{width} latents",
                batch.len
            ),
        });
    }
    Ok((batch.len, height, width))
}
