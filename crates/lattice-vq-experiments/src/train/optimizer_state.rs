//! The rules an optimizer state file must satisfy before a run resumes with it, shared by
//! both backends: a file with missing moments would silently restart Adam (other final
//! weights), one with moments of the wrong shape would fail at the first step with an error
//! naming no file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Check the tensors of optimizer state file `path` (`m.NAME`, `v.NAME` and `steps`, with
/// their shapes) against the model's variables that Adam updates (`trained`, with shapes),
/// and return the step count.
///
/// Every moment must belong to a trained variable and have its shape, `m` and `v` come in
/// pairs, the step count is one non-negative integer, and after the first step every
/// trained variable has its moments.
///
/// # Errors
/// [`Error::Format`] naming `path` and the rule broken.
pub fn check(
    path: &Path,
    stored: &BTreeMap<String, Vec<usize>>,
    steps: Option<i64>,
    trained: &BTreeMap<String, Vec<usize>>,
) -> Result<u64> {
    let broken = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let steps = match steps {
        Some(s) if s >= 0 => s as u64,
        Some(s) => return Err(broken(format!("step count {s}: must be >= 0"))),
        None => {
            return Err(broken(
                "no step count (one int64 tensor `steps`): not an optimizer state file".into(),
            ));
        }
    };
    for (name, shape) in stored {
        if name == "steps" {
            continue;
        }
        let variable = name
            .strip_prefix("m.")
            .or_else(|| name.strip_prefix("v."))
            .ok_or_else(|| broken(format!("tensor {name}: expected m.NAME, v.NAME or steps")))?;
        let expected = trained
            .get(variable)
            .ok_or_else(|| broken(format!("tensor {name}: the model trains no {variable}")))?;
        if shape != expected {
            return Err(broken(format!(
                "tensor {name} has shape {shape:?}, the variable has {expected:?}"
            )));
        }
    }
    for variable in trained.keys() {
        let m = stored.contains_key(&format!("m.{variable}"));
        let v = stored.contains_key(&format!("v.{variable}"));
        if m != v {
            return Err(broken(format!(
                "{variable} has only one of its two moments m and v"
            )));
        }
        if steps > 0 && !m {
            return Err(broken(format!(
                "{steps} steps taken but no moments for {variable}: Adam would restart"
            )));
        }
    }
    Ok(steps)
}

/// Whether Adam updates variable `name` (official tensor names): all do but a VQ-EMA
/// quantizer's, which move by their moving averages (the codebook is set from them) and get
/// no gradient.
pub fn trained_by_adam(name: &str, has_ema: bool) -> bool {
    !(has_ema && name.starts_with("_quantizer."))
}
