//! Safetensors checkpoints of a `VarMap`: a quantizer alone or a whole model.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use candle_nn::VarMap;
use lattice_vq_core::checkpoint;

use crate::error::{Error, Result};

/// Load every variable of `varmap` from a safetensors file, strictly: every variable must be
/// present with exactly its shape, and the file may hold no other tensors (unlike
/// `VarMap::load`, which ignores extra tensors). Values are converted to each variable's
/// dtype and device. Nothing is changed unless the whole file matches. A `VarMap` with no
/// variables reads the file too, and reports every tensor in it as unexpected.
///
/// # Errors
/// The core's `Io` for a missing or unreadable file, `Checkpoint` for a truncated or corrupt
/// one (both naming the path); `MissingTensor`, `TensorShape` or `UnexpectedTensors` for a
/// file of another model; [`Error::Poisoned`].
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
    let variables = varmap.data().lock().map_err(|_| Error::Poisoned)?;
    let device = variables
        .values()
        .next()
        .map_or(candle_core::Device::Cpu, |v| v.device().clone());
    // candle's I/O errors do not say which file: ours do.
    checkpoint::check_readable(path)?;
    let stored = candle_core::safetensors::load(path, &device)
        .map_err(|e| checkpoint::unreadable(path, e))?;
    let model: Vec<_> = variables.iter().map(|(name, v)| (name, v.dims())).collect();
    let file: Vec<_> = stored.iter().map(|(name, t)| (name, t.dims())).collect();
    checkpoint::check_checkpoint(&model, &file).map_err(|mismatch| mismatch.at(path))?;
    let mut updates = Vec::with_capacity(variables.len());
    for (name, variable) in variables.iter() {
        let source = &stored[name];
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
        .map_err(|_| Error::Poisoned)?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();
    save_tensors(&tensors, path)
}

/// Write `tensors` to a safetensors file, atomically
/// (`lattice_vq_core::checkpoint::write_atomically`: a hidden temporary file beside `path`,
/// then one rename). The file gets the permissions of any new file (`0666` less the umask),
/// not the `0600` of a temporary file that `candle_core::safetensors::save` would give it.
///
/// # Errors
/// The core's `Checkpoint` if the tensors cannot be serialized; `Io` naming `path` if writing
/// or renaming fails (a full disk, say): `path` is then left as it was.
pub fn save_tensors(tensors: &HashMap<String, Tensor>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = safetensors::serialize(tensors, None)
        .map_err(|e| checkpoint::unreadable(path, format!("cannot serialize the tensors: {e}")))?;
    Ok(checkpoint::write_atomically(path, |temporary| {
        std::fs::write(temporary, &bytes).map_err(|e| checkpoint::io_error(path, &e))
    })?)
}
