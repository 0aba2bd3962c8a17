//! Safetensors checkpoints of any var store: a quantizer alone or a whole model.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lattice_vq_core::checkpoint::{CheckpointMismatch, check_checkpoint};
use tch::{Tensor, nn};

use crate::error::{Error, Result};

/// Load every variable of `vs` from a safetensors file, strictly.
///
/// Unlike `VarStore::load`, which copies with broadcasting (a `(1,)` tensor would silently
/// fill a `(64,)` basis), the file must pass `lattice_vq_core::checkpoint::check_checkpoint`
/// (every variable present with exactly its shape, no other tensors). Values are converted
/// to each variable's kind and device. Nothing is changed unless the whole file matches.
///
/// # Errors
/// [`Error::Io`] for a missing or unreadable file, [`Error::Checkpoint`] for a truncated or
/// corrupt one (both naming the path); [`Error::MissingTensor`],
/// [`Error::TensorShape`] or [`Error::UnexpectedTensors`] for a file of another model.
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
    let display = path.display().to_string();
    // Open it first so that a missing or unreadable file is an I/O error naming the path.
    if let Err(source) = std::fs::File::open(path) {
        return Err(Error::Io {
            path: display,
            source,
        });
    }
    let stored: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| checkpoint_error(&display, e))?
        .into_iter()
        .collect();
    let variables = vs.variables();
    let dims = |t: &Tensor| t.size().iter().map(|&s| s as usize).collect::<Vec<_>>();
    let model: Vec<_> = variables.iter().map(|(n, v)| (n, dims(v))).collect();
    let file: Vec<_> = stored.iter().map(|(n, t)| (n, dims(t))).collect();
    check_checkpoint(&model, &file).map_err(|mismatch| mismatch_error(display, mismatch))?;
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

/// Save every variable of `vs` to a safetensors file, atomically: the tensors are written
/// to a temporary file beside `path`, which then replaces `path` in one rename, so a crash
/// never leaves a half-written checkpoint.
///
/// # Errors
/// [`Error::Checkpoint`] if writing fails, [`Error::Io`] if the rename fails.
pub fn save_checkpoint(vs: &nn::VarStore, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let variables = vs.variables();
    let named: Vec<(&String, &Tensor)> = sorted(&variables).collect();
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    if let Err(error) = Tensor::write_safetensors(&named, &temporary) {
        let _ = std::fs::remove_file(&temporary);
        return Err(checkpoint_error(&path.display().to_string(), error));
    }
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    })
}

/// A safetensors read or write failure as [`Error::Checkpoint`], naming the file once (tch's
/// safetensors errors name the path they were given: the message keeps what follows it).
fn checkpoint_error(path: &str, error: tch::TchError) -> Error {
    let message = match error {
        tch::TchError::SafeTensorError { err, .. } => err.to_string(),
        other => other.to_string(),
    };
    Error::Checkpoint {
        path: path.to_string(),
        message,
    }
}

/// The core's checkpoint mismatch as this crate's error naming the file.
fn mismatch_error(path: String, mismatch: CheckpointMismatch) -> Error {
    let shape = |s: Vec<usize>| s.into_iter().map(|d| d as i64).collect();
    match mismatch {
        CheckpointMismatch::Missing { name } => Error::MissingTensor { path, name },
        CheckpointMismatch::Shape {
            name,
            expected,
            found,
        } => Error::TensorShape {
            path,
            name,
            expected: shape(expected),
            found: shape(found),
        },
        CheckpointMismatch::Unexpected { names } => Error::UnexpectedTensors {
            path,
            names: names.join(", "),
        },
    }
}

fn sorted(variables: &HashMap<String, Tensor>) -> impl Iterator<Item = (&String, &Tensor)> {
    variables.iter().collect::<BTreeMap<_, _>>().into_iter()
}
