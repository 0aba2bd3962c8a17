//! The strict checkpoint rule of the adapters' `load_checkpoint`, over `(name, shape)` lists
//! (no tensors): every model tensor present with exactly its shape, and no other tensor in
//! the file. An adapter lists its variables and the file's tensors, calls
//! [`check_checkpoint`], and copies the values only when it passes, so a file of another
//! model changes nothing. Also the file handling both adapters share: errors that name the
//! file ([`CheckpointMismatch::at`], [`io_error`], [`check_readable`]) and the atomic write
//! ([`write_atomically`]).

use std::path::Path;

use crate::error::{Error, Result};

/// How a checkpoint's tensors fail to match a model's, the first problem in the order
/// [`check_checkpoint`] looks: the model's names sorted, then the file's extra names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointMismatch {
    /// The file lacks the model tensor `name`.
    Missing {
        /// The model tensor's name.
        name: String,
    },
    /// The file's tensor `name` has another shape than the model's.
    Shape {
        /// The tensor's name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// The file holds tensors the model does not have (another quantizer or dataset).
    Unexpected {
        /// Their names, sorted.
        names: Vec<String>,
    },
}

/// Check a checkpoint's `(name, shape)` list against a model's: each model tensor, in name
/// order, must be in the file with its shape; then the file may hold no other name.
///
/// # Errors
/// The first [`CheckpointMismatch`].
///
/// # Example
/// ```
/// use lattice_vq_core::checkpoint::{CheckpointMismatch, check_checkpoint};
///
/// let model = [("b.weight", vec![2, 3]), ("a.bias", vec![3])];
/// let file = [("a.bias", vec![3]), ("b.weight", vec![2, 3]), ("c", vec![1])];
/// let err = check_checkpoint(&model, &file).unwrap_err();
/// assert_eq!(err, CheckpointMismatch::Unexpected { names: vec!["c".into()] });
/// assert!(check_checkpoint(&model, &file[..2]).is_ok());
/// ```
pub fn check_checkpoint<M, S, N, T>(
    model: &[(M, S)],
    stored: &[(N, T)],
) -> Result<(), CheckpointMismatch>
where
    M: AsRef<str>,
    S: AsRef<[usize]>,
    N: AsRef<str>,
    T: AsRef<[usize]>,
{
    let mut names: Vec<(&str, &[usize])> = model
        .iter()
        .map(|(name, shape)| (name.as_ref(), shape.as_ref()))
        .collect();
    names.sort_unstable_by_key(|&(name, _)| name);
    let find = |wanted: &str| {
        stored
            .iter()
            .find(|(name, _)| name.as_ref() == wanted)
            .map(|(_, shape)| shape.as_ref())
    };
    for (name, expected) in &names {
        match find(name) {
            None => {
                return Err(CheckpointMismatch::Missing {
                    name: (*name).to_owned(),
                });
            }
            Some(found) if found != *expected => {
                return Err(CheckpointMismatch::Shape {
                    name: (*name).to_owned(),
                    expected: expected.to_vec(),
                    found: found.to_vec(),
                });
            }
            Some(_) => {}
        }
    }
    let mut extra: Vec<String> = stored
        .iter()
        .map(|(name, _)| name.as_ref())
        .filter(|name| names.binary_search_by_key(name, |&(n, _)| n).is_err())
        .map(str::to_owned)
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    extra.sort();
    Err(CheckpointMismatch::Unexpected { names: extra })
}

impl CheckpointMismatch {
    /// The mismatch as the [`Error`] naming the checkpoint file `path`.
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::checkpoint::CheckpointMismatch;
    ///
    /// let error = CheckpointMismatch::Missing { name: "b".into() }.at("model.safetensors".as_ref());
    /// assert_eq!(
    ///     error.to_string(),
    ///     "checkpoint model.safetensors has no tensor b: every model tensor must be present"
    /// );
    /// ```
    pub fn at(self, path: &Path) -> Error {
        let path = path.display().to_string();
        match self {
            Self::Missing { name } => Error::MissingTensor { path, name },
            Self::Shape {
                name,
                expected,
                found,
            } => Error::TensorShape {
                path,
                name,
                expected,
                found,
            },
            Self::Unexpected { names } => Error::UnexpectedTensors {
                path,
                names: names.join(", "),
            },
        }
    }
}

/// An I/O failure on `path` as [`Error::Io`] naming it.
pub fn io_error(path: &Path, error: &std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        kind: error.kind(),
        message: error.to_string(),
    }
}

/// A safetensors reader's or writer's failure on `path` as [`Error::Checkpoint`].
pub fn unreadable(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// `Ok` when `path` opens for reading, else [`Error::Io`] naming it: the adapters call this
/// before their host's safetensors reader, whose I/O errors do not say which file failed.
///
/// # Errors
/// [`Error::Io`] for a missing or unreadable file.
pub fn check_readable(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|error| io_error(path, &error))
}

/// Write `path` atomically: `write` puts the whole file at a hidden temporary path beside it
/// (`.NAME.PID.tmp`, same folder, so same file system), which then replaces `path` in one
/// rename, so a crash never leaves a half-written checkpoint. On any failure the temporary
/// file is removed and `path` is left as it was.
///
/// # Errors
/// What `write` returns; [`Error::Io`] naming `path` if it has no file name or the rename
/// fails.
///
/// # Example
/// ```
/// use lattice_vq_core::checkpoint::{io_error, write_atomically};
///
/// let path = std::env::temp_dir().join(format!("atomic-{}.txt", std::process::id()));
/// write_atomically(&path, |temporary| {
///     std::fs::write(temporary, "whole").map_err(|e| io_error(temporary, &e))
/// })?;
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), lattice_vq_core::Error>(())
/// ```
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io_error(path, &std::io::Error::other("not a file path")));
    };
    let temporary = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = write(&temporary)
        .and_then(|()| std::fs::rename(&temporary, path).map_err(|error| io_error(path, &error)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::{CheckpointMismatch, check_checkpoint, check_readable, write_atomically};
    use crate::Error;

    #[test]
    fn a_failed_atomic_write_leaves_the_old_file_and_no_temporary() {
        let folder = std::env::temp_dir().join(format!("lvq-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("model.safetensors");
        std::fs::write(&path, "old").unwrap();
        let result = write_atomically(&path, |temporary| {
            std::fs::write(temporary, "half").unwrap();
            Err(super::unreadable(temporary, "disk full"))
        });
        assert!(
            matches!(result, Err(Error::Checkpoint { .. })),
            "{result:?}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
        write_atomically(&path, |t| {
            std::fs::write(t, "new").map_err(|e| super::io_error(t, &e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let error = check_readable("/nonexistent/model.safetensors".as_ref()).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Io {
                    kind: std::io::ErrorKind::NotFound,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("/nonexistent/model.safetensors: ")
        );
    }

    #[test]
    fn the_first_problem_in_name_order_is_reported() {
        let model = [("z", vec![1]), ("b", vec![2]), ("a", vec![3])];
        let file = [
            ("z", vec![9]),
            ("a", vec![3]),
            ("y", vec![1]),
            ("x", vec![1]),
        ];
        assert_eq!(
            check_checkpoint(&model, &file),
            Err(CheckpointMismatch::Missing { name: "b".into() })
        );
        let file = [
            ("z", vec![9]),
            ("a", vec![3]),
            ("b", vec![2]),
            ("x", vec![1]),
        ];
        assert_eq!(
            check_checkpoint(&model, &file),
            Err(CheckpointMismatch::Shape {
                name: "z".into(),
                expected: vec![1],
                found: vec![9],
            })
        );
        let file = [
            ("z", vec![1]),
            ("y", vec![]),
            ("a", vec![3]),
            ("b", vec![2]),
            ("x", vec![]),
        ];
        assert_eq!(
            check_checkpoint(&model, &file),
            Err(CheckpointMismatch::Unexpected {
                names: vec!["x".into(), "y".into()]
            })
        );
        let empty: [(&str, Vec<usize>); 0] = [];
        assert_eq!(
            check_checkpoint(&empty, &file[..1]),
            Err(CheckpointMismatch::Unexpected {
                names: vec!["z".into()]
            })
        );
        let matching = [("a", vec![3]), ("z", vec![1]), ("b", vec![2])];
        assert_eq!(check_checkpoint(&model, &matching), Ok(()));
    }
}
