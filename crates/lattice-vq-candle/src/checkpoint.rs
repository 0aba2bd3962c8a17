//! Safetensors checkpoints of a `VarMap`: a quantizer alone or a whole model.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use candle_nn::VarMap;
use lattice_vq_core::checkpoint::{CheckpointMismatch, check_checkpoint};

use crate::error::{Error, Result};

/// Load every variable of `varmap` from a safetensors file, strictly: every variable must be
/// present with exactly its shape, and the file may hold no other tensors (unlike
/// `VarMap::load`, which ignores extra tensors). Values are converted to each variable's
/// dtype and device. Nothing is changed unless the whole file matches. A `VarMap` with no
/// variables reads the file too, and reports every tensor in it as unexpected.
///
/// # Errors
/// [`Error::Io`] for a missing or unreadable file, [`Error::Checkpoint`] for a truncated or
/// corrupt one (both naming the path); [`Error::MissingTensor`], [`Error::TensorShape`] or
/// [`Error::UnexpectedTensors`] for a file of another model.
///
/// # Example
/// ```no_run
/// use candle_core::{DType, Device};
/// use candle_nn::{VarBuilder, VarMap};
/// use lattice_vq_candle::{load_checkpoint, QuantizerConfig, VqVae, VqVaeConfig};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let quantizer = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
/// let model = VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb)?;
/// load_checkpoint(&varmap, "fashion-mnist_sparse_lattice.safetensors")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_checkpoint(varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let display = path.display().to_string();
    let variables = varmap.data().lock().map_err(|_| poisoned())?;
    let device = variables
        .values()
        .next()
        .map_or(candle_core::Device::Cpu, |v| v.device().clone());
    let stored = candle_core::safetensors::load(path, &device).map_err(|e| match e {
        // candle's errors do not say which file: ours do.
        candle_core::Error::Io(source) => Error::Io {
            path: display.clone(),
            source,
        },
        other => Error::Checkpoint {
            path: display.clone(),
            message: other.to_string(),
        },
    })?;
    let model: Vec<_> = variables.iter().map(|(name, v)| (name, v.dims())).collect();
    let file: Vec<_> = stored.iter().map(|(name, t)| (name, t.dims())).collect();
    check_checkpoint(&model, &file).map_err(|mismatch| mismatch_error(&display, mismatch))?;
    let mut updates = Vec::with_capacity(variables.len());
    for (name, variable) in variables.iter() {
        let missing = || Error::MissingTensor {
            path: display.clone(),
            name: name.clone(),
        };
        let source = stored.get(name).ok_or_else(missing)?;
        updates.push((
            variable,
            source
                .to_dtype(variable.dtype())?
                .to_device(variable.device())?,
        ));
    }
    for (variable, source) in updates {
        variable.set(&source)?;
    }
    Ok(())
}

/// Save every variable of `varmap` to a safetensors file, atomically (a hidden temporary
/// file beside `path`, then one rename), so a crash never leaves a half-written checkpoint.
///
/// # Errors
/// As [`save_tensors`].
pub fn save_checkpoint(varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| poisoned())?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();
    save_tensors(&tensors, path)
}

/// Write `tensors` to a safetensors file, atomically: the bytes go to a hidden temporary
/// file beside `path` (`.NAME.PID.tmp`), which then replaces `path` in one rename. The file
/// gets the permissions of any new file (`0666` less the umask), not the `0600` of a
/// temporary file that `candle_core::safetensors::save` would give it.
///
/// # Errors
/// [`Error::Checkpoint`] if the tensors cannot be serialized; [`Error::Io`] naming `path` if
/// writing or renaming fails (a full disk, say); the temporary file is removed then and
/// `path` is left as it was.
pub fn save_tensors(tensors: &HashMap<String, Tensor>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = safetensors::serialize(tensors, None).map_err(|e| Error::Checkpoint {
        path: path.display().to_string(),
        message: format!("cannot serialize the tensors: {e}"),
    })?;
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let temporary = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written =
        std::fs::write(&temporary, &bytes).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io(source));
    }
    Ok(())
}

/// The core's checkpoint mismatch as this crate's error naming the file.
fn mismatch_error(path: &str, mismatch: CheckpointMismatch) -> Error {
    let path = path.to_owned();
    match mismatch {
        CheckpointMismatch::Missing { name } => Error::MissingTensor { path, name },
        CheckpointMismatch::Shape {
            name,
            expected,
            found,
        } => Error::TensorShape {
            path,
            name,
            expected,
            found,
        },
        CheckpointMismatch::Unexpected { names } => Error::UnexpectedTensors {
            path,
            names: names.join(", "),
        },
    }
}

fn poisoned() -> Error {
    Error::Poisoned
}
