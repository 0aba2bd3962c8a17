//! The strict checkpoint rule of the adapters' `load_checkpoint`, over `(name, shape)` lists
//! (no I/O, no tensors): every model tensor present with exactly its shape, and no other
//! tensor in the file. An adapter lists its variables and the file's tensors, calls
//! [`check_checkpoint`], and copies the values only when it passes, so a file of another
//! model changes nothing.

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

#[cfg(test)]
mod tests {
    use super::{CheckpointMismatch, check_checkpoint};

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
