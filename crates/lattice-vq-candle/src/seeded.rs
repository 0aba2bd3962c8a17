//! Seeded initialisation: candle cannot seed its CPU random generator (`Device::set_seed`
//! fails on the CPU), so a model built through `VarBuilder::from_varmap` starts from other
//! weights on every run. [`seeded_var_builder`] draws each new variable from a ChaCha
//! generator instead, in the order the model asks for them; this crate's CPU ops sum in a
//! fixed order, so a CPU training run then repeats to the last bit on one machine.

use std::sync::Mutex;

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A `VarBuilder` over `varmap` whose new variables are drawn from `seed`: the same draws,
/// in the same order of requests, give the same weights. Variables already in `varmap` are
/// returned as they are (as with `VarBuilder::from_varmap`).
///
/// Every [`Init`] is supported with candle's meaning (`Kaiming` included). The LL-VQ
/// layer redraws a basis entry that falls below the core's minimum magnitude with candle's
/// own generator; for `U(-r, r)` that has a probability of about `1e-19 / r` per entry
/// (`2^-63 / r` in f32, the core's minimum).
///
/// # Example
/// ```
/// use candle_core::{DType, Device};
/// use candle_nn::VarMap;
/// use lattice_vq_candle::{QuantizerConfig, VqVae, VqVaeConfig, seeded_var_builder};
///
/// let weights = |seed| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
///     let varmap = VarMap::new();
///     let vb = seeded_var_builder(&varmap, seed, DType::F32, &Device::Cpu);
///     let quantizer = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
///     VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb)?;
///     let data = varmap.data().lock().unwrap();
///     Ok(data["_encoder.0.0.weight"].as_tensor().flatten_all()?.to_vec1::<f32>()?)
/// };
/// assert_eq!(weights(7)?, weights(7)?);
/// assert_ne!(weights(7)?, weights(8)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seeded_var_builder(
    varmap: &VarMap,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> VarBuilder<'static> {
    let backend = Seeded {
        varmap: varmap.clone(),
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
    };
    VarBuilder::from_backend(Box::new(backend), dtype, device.clone())
}

struct Seeded {
    /// Shares its variables with the caller's map.
    varmap: VarMap,
    rng: Mutex<ChaCha8Rng>,
}

/// `count` draws of `init` (for a variable of `shape`), as f64.
fn draw(rng: &mut ChaCha8Rng, init: Init, shape: &Shape) -> Vec<f64> {
    let count = shape.elem_count();
    let mut uniform = |lo: f64, up: f64| -> Vec<f64> {
        (0..count)
            .map(|_| lo + (up - lo) * rng.random::<f64>())
            .collect()
    };
    let normal = |rng: &mut ChaCha8Rng, mean: f64, stdev: f64| -> Vec<f64> {
        // Box-Muller; 1 - u lies in (0, 1], so the logarithm is finite.
        (0..count)
            .map(|_| {
                let (u, v) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
                mean + stdev * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            })
            .collect()
    };
    match init {
        Init::Const(value) => vec![value; count],
        Init::Uniform { lo, up } => uniform(lo, up),
        Init::Randn { mean, stdev } => normal(rng, mean, stdev),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(-bound, bound)
                }
                NormalOrUniform::Normal => normal(rng, 0.0, std),
            }
        }
    }
}

impl SimpleBackend for Seeded {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let mut variables =
            self.varmap.data().lock().map_err(|_| {
                candle_core::Error::Msg("seeded_var_builder: var map poisoned".into())
            })?;
        if let Some(existing) = variables.get(name) {
            if existing.shape() != &shape {
                candle_core::bail!(
                    "shape mismatch on {name}: {shape:?} <> {:?}",
                    existing.shape()
                );
            }
            return Ok(existing.as_tensor().clone());
        }
        let values = {
            let mut rng = self.rng.lock().map_err(|_| {
                candle_core::Error::Msg("seeded_var_builder: generator poisoned".into())
            })?;
            draw(&mut rng, init, &shape)
        };
        let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?;
        let var = Var::from_tensor(&tensor)?;
        let tensor = var.as_tensor().clone();
        variables.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _device: &Device) -> Result<Tensor> {
        candle_core::bail!("seeded_var_builder: `get_unchecked` needs a shape ({name})")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .is_ok_and(|variables| variables.contains_key(name))
    }
}
