//! Which encoder/decoder a checkpoint holds: `evaluate --model`, or inferred from the
//! checkpoint's tensors, so that the network follows the checkpoint and not the dataset's
//! name (a small folder of FFHQ images evaluates with the FFHQ network).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use clap::ValueEnum;
use lattice_vq_core::VqVaeConfig;
use lattice_vq_core::network::StageSpec;

use crate::error::{Error, Result};

/// One of the paper's three networks, by the official checkpoints' prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum ModelKind {
    /// 1-channel images, hidden dims `[64]` (28x28 images, 14x14 latents).
    #[value(name = "fashion-mnist")]
    FashionMnist,
    /// RGB images, hidden dims `[64]` (148x148 crops, 74x74 latents).
    #[value(name = "celeba")]
    Celeba,
    /// RGB images, hidden dims `[16, 32]` (1024x1024 images, 256x256 latents).
    #[value(name = "ffhq1024")]
    Ffhq1024,
}

impl ModelKind {
    /// Every network, in the order `--help` lists them.
    pub const ALL: [Self; 3] = [Self::FashionMnist, Self::Celeba, Self::Ffhq1024];

    /// The name on the command line, `VqVaeConfig::for_dataset`'s.
    pub fn name(self) -> &'static str {
        match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Celeba => "celeba",
            Self::Ffhq1024 => "ffhq1024",
        }
    }

    /// The network's config.
    pub fn config(self) -> VqVaeConfig {
        match self {
            Self::FashionMnist => VqVaeConfig::fashion_mnist(),
            Self::Celeba => VqVaeConfig::celeba(),
            Self::Ffhq1024 => VqVaeConfig::ffhq1024(),
        }
    }

    /// The named network `config` is, if it is one of the three.
    pub fn of(config: &VqVaeConfig) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.config() == *config)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `config` in words: its name when it is one of the paper's networks, its shape always
/// (`the ffhq1024 network (3 channels, hidden dims [16, 32], D = 64)`).
pub fn describe(config: &VqVaeConfig) -> String {
    let shape = format!(
        "{} channel{}, hidden dims {:?}, D = {}",
        config.image_channels,
        if config.image_channels == 1 { "" } else { "s" },
        config.hidden_dims,
        config.embedding_dim
    );
    match ModelKind::of(config) {
        Some(kind) => format!("the {kind} network ({shape})"),
        None => format!("a network of {shape}"),
    }
}

/// The name and shape of every tensor in a safetensors file.
///
/// # Errors
/// [`Error::Safetensors`] for a file candle cannot read.
pub fn tensor_shapes(checkpoint: &Path) -> Result<BTreeMap<String, Vec<usize>>> {
    let tensors =
        candle_core::safetensors::load(checkpoint, &candle_core::Device::Cpu).map_err(|e| {
            Error::Safetensors {
                path: checkpoint.to_path_buf(),
                source: Box::new(e),
            }
        })?;
    Ok(tensors
        .into_iter()
        .map(|(name, tensor)| (name, tensor.dims().to_vec()))
        .collect())
}

/// The network of a checkpoint, from its tensors (see `lattice_vq_core::network`): the
/// image channels are the input channels of `_encoder.0.0.weight`, the hidden dims the
/// output channels of the stride-2 4x4 convs `_encoder.{i}.0.weight` from `i = 0`, D the
/// output channels of the encoder's last conv (a 1x1, `_encoder.{L + 4}.0.weight`). Every
/// encoder and decoder tensor of that network must then be in the file with its shape,
/// and no other: a checkpoint whose decoder disagrees with its encoder is refused here,
/// naming the tensor, instead of by a backend's loader.
///
/// # Errors
/// As [`tensor_shapes`]; [`Error::Format`] naming the file for a checkpoint without the
/// paper's encoder, or with a network tensor missing, of another shape, or extra.
pub fn infer_network(checkpoint: &Path) -> Result<VqVaeConfig> {
    network_of(checkpoint, &tensor_shapes(checkpoint)?)
}

/// [`infer_network`] on shapes already read (`checkpoint` names the file in errors).
///
/// # Errors
/// As [`infer_network`].
pub fn network_of(checkpoint: &Path, shapes: &BTreeMap<String, Vec<usize>>) -> Result<VqVaeConfig> {
    let format = |problem: String| Error::Format {
        path: checkpoint.to_path_buf(),
        problem,
    };
    let conv = |i: usize| shapes.get(&format!("_encoder.{i}.0.weight"));
    let first = conv(0).ok_or_else(|| {
        format("no _encoder.0.0.weight: not a checkpoint of the paper's VQ-VAE".into())
    })?;
    let image_channels = match first.as_slice() {
        [_, channels, 4, 4] => *channels,
        other => {
            return Err(format(format!(
                "_encoder.0.0.weight has shape {other:?}: the paper's VQ-VAE starts with a \
                 stride-2 4x4 conv (out, in, 4, 4)"
            )));
        }
    };
    // The stride-2 stages are the encoder's only 4x4 convs; the 3x3 conv after them ends
    // the list.
    let hidden_dims: Vec<usize> = (0..)
        .map_while(|i| match conv(i).map(Vec::as_slice) {
            Some(&[out, _, 4, 4]) => Some(out),
            _ => None,
        })
        .collect();
    let last = hidden_dims.len() + 4;
    let embedding_dim = match conv(last).map(Vec::as_slice) {
        Some(&[d, _, 1, 1]) => d,
        _ => {
            return Err(format(format!(
                "no 1x1 conv _encoder.{last}.0.weight after {} stride-2 stage(s): not the \
                 paper's encoder",
                hidden_dims.len()
            )));
        }
    };
    let config = VqVaeConfig {
        image_channels,
        hidden_dims,
        embedding_dim,
    };
    check_network_tensors(&config, shapes).map_err(|problem| {
        format(format!(
            "{problem}: its encoder is that of {}, its other tensors are not",
            describe(&config)
        ))
    })?;
    Ok(config)
}

/// Whether `shapes` holds exactly `config`'s encoder and decoder tensors (other tensors,
/// the quantizer's, are not looked at); the first difference otherwise.
fn check_network_tensors(
    config: &VqVaeConfig,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> std::result::Result<(), String> {
    let stages =
        |list: Result<Vec<StageSpec>, lattice_vq_core::Error>| list.map_err(|e| e.to_string());
    let mut expected = BTreeMap::new();
    for stage in stages(config.encoder())?
        .iter()
        .chain(&stages(config.decoder())?)
    {
        for conv in stage.convs() {
            expected.insert(conv.weight_name(), conv.weight_shape().to_vec());
            if let (Some(name), Some(shape)) = (conv.bias_name(), conv.bias_shape()) {
                expected.insert(name, shape.to_vec());
            }
        }
    }
    for (name, shape) in &expected {
        match shapes.get(name) {
            None => return Err(format!("no {name}")),
            Some(found) if found != shape => {
                return Err(format!("{name} has shape {found:?}, not {shape:?}"));
            }
            Some(_) => {}
        }
    }
    let network = |name: &&String| name.starts_with("_encoder.") || name.starts_with("_decoder.");
    match shapes
        .keys()
        .filter(network)
        .find(|name| !expected.contains_key(*name))
    {
        Some(extra) => Err(format!("an extra tensor {extra}")),
        None => Ok(()),
    }
}

/// The network to evaluate a checkpoint with: `asked` (`--model`) when given, which must be
/// the checkpoint's, else the one inferred from its tensors.
///
/// # Errors
/// As [`infer_network`]; [`Error::ModelMismatch`] naming both networks when `asked` is not
/// the checkpoint's.
pub fn choose_network(checkpoint: &Path, asked: Option<ModelKind>) -> Result<VqVaeConfig> {
    let found = infer_network(checkpoint)?;
    match asked {
        Some(kind) if kind.config() != found => Err(Error::ModelMismatch {
            checkpoint: checkpoint.to_path_buf(),
            asked: describe(&kind.config()),
            found: describe(&found),
        }),
        _ => Ok(found),
    }
}
