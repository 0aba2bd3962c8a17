//! Every tensor of the reference model: name, shape and initialisation, in creation order.

use super::conv::ConvSpec;
use super::stages::StageSpec;
use crate::error::Result;
use crate::finite_config::FiniteKind;
use crate::model::{QuantizerConfig, VqVaeConfig};

/// The name prefix of the quantizer's tensors in the official checkpoints.
pub const QUANTIZER_PREFIX: &str = "_quantizer";

/// How a tensor is initialised when a backend creates it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TensorInit {
    /// `U(-half_width, half_width)`: convolutions ([`ConvSpec::init_bound`]) and the VQ
    /// codebook (`1 / K`).
    Uniform {
        /// The half-width of the range.
        half_width: f64,
    },
    /// The lattice basis: `U(-half_width, half_width)` (Eq. 6), the whole basis drawn again
    /// while it breaks the basis rule ([`crate::init::redraw_until_valid`]).
    LatticeBasis {
        /// The half-width `r` ([`crate::LatticeQuantizerConfig::init_half_width`]).
        half_width: f64,
    },
    /// `N(mean, std^2)`: the VQ-EMA codebook and `ema_w`.
    Normal {
        /// The mean.
        mean: f64,
        /// The standard deviation.
        std: f64,
    },
    /// All zeros: the VQ-EMA cluster sizes.
    Zeros,
    /// Every element `value` (the bounded lattice's initial steps).
    Constant {
        /// The value.
        value: f64,
    },
}

/// One tensor of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// The official name (`_encoder.0.0.weight`, `_quantizer.ema_w`, ...).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How it is initialised.
    pub init: TensorInit,
    /// Whether an optimiser trains it (the VQ-EMA state is updated by
    /// [`crate::ema::EmaCodebook::step`] instead).
    pub trainable: bool,
}

impl TensorSpec {
    fn trained(name: String, shape: Vec<usize>, init: TensorInit) -> Self {
        Self {
            name,
            shape,
            init,
            trainable: true,
        }
    }

    fn buffer(name: String, shape: Vec<usize>, init: TensorInit) -> Self {
        Self {
            name,
            shape,
            init,
            trainable: false,
        }
    }
}

impl QuantizerConfig {
    /// The quantizer's tensors under [`QUANTIZER_PREFIX`], in creation order: the lattice
    /// basis `embedding.weight` `(1, D)`; the VQ codebook `embedding.weight` `(K, D)`; for
    /// VQ-EMA `embedding.weight` `(K, D)`, `ema_w` `(K, D)` and `ema_cluster_size` `(K,)`.
    ///
    /// # Errors
    /// An invalid config (its `validate`).
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::QuantizerConfig;
    ///
    /// let tensors = QuantizerConfig::by_name("vq-ema", 64).unwrap().tensors()?;
    /// let names: Vec<_> = tensors.iter().map(|t| t.name.as_str()).collect();
    /// assert_eq!(names, ["_quantizer.embedding.weight", "_quantizer.ema_w",
    ///     "_quantizer.ema_cluster_size"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tensors(&self) -> Result<Vec<TensorSpec>> {
        let name = |suffix: &str| format!("{QUANTIZER_PREFIX}.{suffix}");
        Ok(match self {
            QuantizerConfig::Lattice(c) => {
                c.validate()?;
                let half_width = c.init_half_width()?;
                vec![TensorSpec::trained(
                    name("embedding.weight"),
                    vec![1, c.dim],
                    TensorInit::LatticeBasis { half_width },
                )]
            }
            QuantizerConfig::Vq(c) => {
                c.validate()?;
                let half_width = c.init_half_width();
                vec![TensorSpec::trained(
                    name("embedding.weight"),
                    vec![c.codebook_size, c.dim],
                    TensorInit::Uniform { half_width },
                )]
            }
            QuantizerConfig::Finite(c) => {
                c.validate()?;
                let (big, small) = (c.dim, c.codebook_dim());
                let mut tensors = Vec::new();
                if c.has_projections() {
                    // PyTorch's `nn.Linear` default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
                    for (layer, fan_in, fan_out) in
                        [("project_in", big, small), ("project_out", small, big)]
                    {
                        let init = TensorInit::Uniform {
                            half_width: 1.0 / (fan_in as f64).sqrt(),
                        };
                        let weight = name(&format!("{layer}.weight"));
                        tensors.push(TensorSpec::trained(weight, vec![fan_out, fan_in], init));
                        let bias = name(&format!("{layer}.bias"));
                        tensors.push(TensorSpec::trained(bias, vec![fan_out], init));
                    }
                }
                if c.is_bounded() {
                    let value = c.initial_step;
                    let step = TensorInit::Constant { value };
                    tensors.push(TensorSpec::trained(name("step"), vec![1, small], step));
                }
                if c.kind == FiniteKind::BoundedWithOffset {
                    let offset = TensorInit::Zeros;
                    tensors.push(TensorSpec::trained(name("offset"), vec![1, small], offset));
                }
                // One zero buffer of shape `(l_i,)` per dimension: its values are unused; its
                // shape makes the strict `(name, shape)` checkpoint check
                // (`crate::checkpoint::check_checkpoint`) refuse a checkpoint of other levels.
                for (i, &l) in c.levels.as_slice().iter().enumerate() {
                    let levels = name(&format!("levels.{i}"));
                    tensors.push(TensorSpec::buffer(
                        levels,
                        vec![l as usize],
                        TensorInit::Zeros,
                    ));
                }
                tensors
            }
            QuantizerConfig::VqEma(c) => {
                c.validate()?;
                let (k, d) = (c.codebook_size, c.dim);
                let normal = TensorInit::Normal {
                    mean: 0.0,
                    std: 1.0,
                };
                vec![
                    TensorSpec::buffer(name("embedding.weight"), vec![k, d], normal),
                    TensorSpec::buffer(name("ema_w"), vec![k, d], normal),
                    TensorSpec::buffer(name("ema_cluster_size"), vec![k], TensorInit::Zeros),
                ]
            }
        })
    }
}

/// A convolution's tensors: weight, then bias.
fn conv_tensors(conv: &ConvSpec) -> Vec<TensorSpec> {
    let init = TensorInit::Uniform {
        half_width: conv.init_bound(),
    };
    let mut tensors = vec![TensorSpec::trained(
        conv.weight_name(),
        conv.weight_shape().to_vec(),
        init,
    )];
    if let (Some(name), Some(shape)) = (conv.bias_name(), conv.bias_shape()) {
        tensors.push(TensorSpec::trained(name, shape.to_vec(), init));
    }
    tensors
}

/// The tensors of a list of stages, in order.
fn stage_tensors(stages: &[StageSpec]) -> Vec<TensorSpec> {
    stages
        .iter()
        .flat_map(StageSpec::convs)
        .flat_map(conv_tensors)
        .collect()
}

impl VqVaeConfig {
    /// Every tensor of the model with `quantizer`, in the order the backends create them
    /// (which fixes which random numbers each draws): the encoder's convolutions (weight,
    /// then bias), the quantizer's tensors, the decoder's convolutions.
    ///
    /// # Errors
    /// As [`VqVaeConfig::validate_with`] and [`QuantizerConfig::tensors`].
    ///
    /// # Example
    /// ```
    /// use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
    ///
    /// let quantizer = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
    /// let tensors = VqVaeConfig::fashion_mnist().tensors(&quantizer)?;
    /// assert_eq!(tensors[0].name, "_encoder.0.0.weight");
    /// assert_eq!(tensors[0].shape, vec![64, 1, 4, 4]);
    /// assert_eq!(tensors.len(), 19);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tensors(&self, quantizer: &QuantizerConfig) -> Result<Vec<TensorSpec>> {
        self.validate_with(quantizer)?;
        let mut tensors = stage_tensors(&self.encoder()?);
        tensors.extend(quantizer.tensors()?);
        tensors.extend(stage_tensors(&self.decoder()?));
        Ok(tensors)
    }
}
