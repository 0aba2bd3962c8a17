//! Safetensors checkpoints of any var store: a quantizer alone or a whole model.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lattice_vq_core::checkpoint;
use tch::{Tensor, nn};

use crate::error::Result;

/// Load every variable of `vs` from a safetensors file, strictly.
///
/// Unlike `VarStore::load`, which copies with broadcasting (a `(1,)` tensor would silently
/// fill a `(64,)` basis), the file must pass `lattice_vq_core::checkpoint::check_checkpoint`
/// (every variable present with exactly its shape, no other tensors). Values are converted
/// to each variable's kind and device. Nothing is changed unless the whole file matches.
///
/// # Errors
/// The core's `Io` for a missing or unreadable file, `Checkpoint` for a truncated or corrupt
/// one (both naming the path); `MissingTensor`, `TensorShape` or `UnexpectedTensors` for a
/// file of another model.
///
/// # Example
/// ```no_run
/// use lattice_vq_core::LatticeQuantizerConfig;
/// use lattice_vq_tch::{load_checkpoint, save_checkpoint, LatticeQuantizer};
/// use tch::{nn, Device};
///
/// let mut vs = nn::VarStore::new(Device::Cpu);
/// let quantizer = LatticeQuantizer::new(&vs.root(), &LatticeQuantizerConfig::new(512, 64))?;
/// save_checkpoint(&vs, "quantizer.safetensors")?;
/// load_checkpoint(&mut vs, "quantizer.safetensors")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_checkpoint(vs: &mut nn::VarStore, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    checkpoint::check_readable(path)?;
    let stored: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| unreadable(path, e))?
        .into_iter()
        .collect();
    let variables = vs.variables();
    let dims = |t: &Tensor| t.size().iter().map(|&s| s as usize).collect::<Vec<_>>();
    let model: Vec<_> = variables.iter().map(|(n, v)| (n, dims(v))).collect();
    let file: Vec<_> = stored.iter().map(|(n, t)| (n, dims(t))).collect();
    checkpoint::check_checkpoint(&model, &file).map_err(|mismatch| mismatch.at(path))?;
    let mut updates = Vec::with_capacity(variables.len());
    for (name, variable) in &variables {
        let source = &stored[name];
        updates.push((
            variable,
            source
                .f_to_kind(variable.kind())?
                .f_to_device(variable.device())?,
        ));
    }
    tch::no_grad(|| {
        for (variable, source) in updates {
            variable.shallow_clone().f_copy_(&source)?;
        }
        Ok(())
    })
}

/// Save every variable of `vs` to a safetensors file, atomically
/// (`lattice_vq_core::checkpoint::write_atomically`: a temporary file beside `path`, then one
/// rename), so a crash never leaves a half-written checkpoint.
///
/// # Errors
/// `Checkpoint` if writing fails, `Io` if the rename fails (both naming the path).
pub fn save_checkpoint(vs: &nn::VarStore, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let variables = vs.variables();
    let named: Vec<(&String, &Tensor)> = sorted(&variables).collect();
    Ok(checkpoint::write_atomically(path, |temporary| {
        Tensor::write_safetensors(&named, temporary).map_err(|e| unreadable(path, e))
    })?)
}

/// A safetensors read or write failure naming the file once (tch's safetensors errors name
/// the path they were given: the message keeps what follows it).
fn unreadable(path: &Path, error: tch::TchError) -> lattice_vq_core::Error {
    match error {
        tch::TchError::SafeTensorError { err, .. } => checkpoint::unreadable(path, err),
        other => checkpoint::unreadable(path, other),
    }
}

fn sorted(variables: &HashMap<String, Tensor>) -> impl Iterator<Item = (&String, &Tensor)> {
    variables.iter().collect::<BTreeMap<_, _>>().into_iter()
}
