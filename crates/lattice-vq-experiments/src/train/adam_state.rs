//! Adam's state as both backends keep it, whatever their tensors: the moments `m` and `v` of
//! each trained variable by official name, and the step count; and its file
//! (`optimizer.safetensors`: `m.NAME`, `v.NAME` and `steps`), checked by
//! [`super::optimizer_state::check`] before a run resumes with it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{adam, optimizer_state};
use crate::error::Result;

/// The name of the step count in the file.
const STEPS: &str = "steps";

/// The file's names of variable `name`'s moments `m` and `v`.
fn moment_names(name: &str) -> [String; 2] {
    [format!("m.{name}"), format!("v.{name}")]
}

/// What the state file needs from a framework's tensors.
pub(crate) trait StateTensor: Sized {
    /// The shape.
    fn stored_shape(&self) -> Vec<usize>;

    /// The value of a one-element `(1,)` int64 tensor; `None` for any other tensor.
    fn step_count(&self) -> Option<i64>;

    /// The `(1,)` int64 tensor holding `steps`, on the CPU.
    ///
    /// # Errors
    /// Framework failures.
    fn from_step_count(steps: i64) -> Result<Self>;
}

/// The moments of every variable that has had a gradient, and the steps taken.
#[derive(Debug)]
pub(crate) struct AdamState<T> {
    moments: BTreeMap<String, (T, T)>,
    steps: u64,
}

impl<T> Default for AdamState<T> {
    fn default() -> Self {
        Self {
            moments: BTreeMap::new(),
            steps: 0,
        }
    }
}

impl<T> AdamState<T> {
    /// The steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Count one more step and return its scalars ([`adam::step_scalars`]).
    pub fn next_step(&mut self, lr: f64) -> (f64, f64) {
        self.steps += 1;
        adam::step_scalars(lr, self.steps)
    }

    /// Variable `name`'s moments, taken out for its update (give them back with
    /// [`AdamState::put`]); at its first step two tensors of `zeros`.
    ///
    /// # Errors
    /// What `zeros` returns.
    pub fn take(&mut self, name: &str, zeros: impl Fn() -> Result<T>) -> Result<(T, T)> {
        match self.moments.remove(name) {
            Some(mv) => Ok(mv),
            None => Ok((zeros()?, zeros()?)),
        }
    }

    /// Variable `name`'s updated moments.
    pub fn put(&mut self, name: String, m: T, v: T) {
        self.moments.insert(name, (m, v));
    }
}

impl<T: StateTensor> AdamState<T> {
    /// The file's tensors: each moment as `to_host` gives it (on the CPU), and the step
    /// count.
    ///
    /// # Errors
    /// What `to_host` returns; framework failures.
    pub fn file_tensors(
        &self,
        mut to_host: impl FnMut(&T) -> Result<T>,
    ) -> Result<Vec<(String, T)>> {
        let mut tensors = Vec::with_capacity(2 * self.moments.len() + 1);
        for (name, (m, v)) in &self.moments {
            let [m_name, v_name] = moment_names(name);
            tensors.push((m_name, to_host(m)?));
            tensors.push((v_name, to_host(v)?));
        }
        tensors.push((STEPS.into(), T::from_step_count(self.steps as i64)?));
        Ok(tensors)
    }

    /// The state in the tensors of file `path`, checked against the variables Adam trains
    /// (official names, with shapes), each moment as `to_device` gives it (on the model's
    /// device).
    ///
    /// # Errors
    /// [`crate::Error::Format`] naming `path` and the rule the file breaks
    /// ([`optimizer_state::check`]); what `to_device` returns.
    pub fn restore(
        path: &Path,
        mut tensors: HashMap<String, T>,
        trained: &BTreeMap<String, Vec<usize>>,
        mut to_device: impl FnMut(T) -> Result<T>,
    ) -> Result<Self> {
        let stored: BTreeMap<String, Vec<usize>> = tensors
            .iter()
            .map(|(name, t)| (name.clone(), t.stored_shape()))
            .collect();
        let steps = tensors.get(STEPS).and_then(StateTensor::step_count);
        let steps = optimizer_state::check(path, &stored, steps, trained)?;
        let mut moments = BTreeMap::new();
        for name in trained.keys() {
            let [m_name, v_name] = moment_names(name);
            if let (Some(m), Some(v)) = (tensors.remove(&m_name), tensors.remove(&v_name)) {
                moments.insert(name.clone(), (to_device(m)?, to_device(v)?));
            }
        }
        Ok(Self { moments, steps })
    }
}
