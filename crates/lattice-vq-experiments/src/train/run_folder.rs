//! What a training run writes into its output folder, and clearing a folder for a fresh run
//! without touching anything a run did not write there.

use std::path::Path;

use crate::error::{Error, Result};

/// The entries a run writes into its folder (`super::run::train`).
pub const RUN_OUTPUTS: [&str; 8] = [
    "options.json",
    "metrics.jsonl",
    "checkpoints",
    "model.safetensors",
    "result.json",
    "reconstructions.png",
    "loss.png",
    "codebook_usage.png",
];

/// Remove a run's outputs from `dir` so that a run there starts over. A folder that does
/// not exist is fine; a folder holding anything else is refused before anything is
/// removed (it is not a run folder: `--out .` must not delete a project).
///
/// # Errors
/// [`Error::Invalid`] naming the first entry no run writes (or `dir` itself when it is not
/// a folder); [`Error::Io`] when the folder cannot be listed or an output removed.
pub fn clear(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let refuse = |what: String| Error::Invalid {
        what: "output folder".into(),
        problem: format!(
            "{} {what}, which no training run writes: refusing to clear it (pass another --out)",
            dir.display()
        ),
    };
    if !dir.is_dir() {
        return Err(refuse("is a file".into()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut outputs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let temporary = name.starts_with('.') && name.ends_with(".tmp");
        if !(RUN_OUTPUTS.contains(&name.as_str()) || temporary) {
            return Err(refuse(format!("holds {name:?}")));
        }
        outputs.push(entry.path());
    }
    for path in outputs {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io(&path))?;
    }
    Ok(())
}
