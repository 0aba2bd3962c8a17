//! The stages of the reference model's encoder and decoder, as data.

use super::conv::ConvSpec;

/// The slope of the official model's `nn.LeakyReLU()` (PyTorch's default).
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

/// The official residual layer `x + Conv1x1(ReLU(Conv3x3(x)))`, both convolutions without
/// bias, channels unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidualSpec {
    /// The layer's name prefix (`_encoder.2`); its convolutions are `{name}.resblock.0`
    /// and `{name}.resblock.2` (index 1 is the ReLU).
    pub name: String,
    /// The 3x3 convolution, padding 1, no bias.
    pub conv3: ConvSpec,
    /// The 1x1 convolution, no bias.
    pub conv1: ConvSpec,
}

impl ResidualSpec {
    /// The residual layer named `name` on `channels` channels.
    pub fn new(name: &str, channels: usize) -> Self {
        Self {
            name: name.to_string(),
            conv3: ConvSpec::same(&format!("{name}.resblock.0"), channels, channels, 3, false),
            conv1: ConvSpec::same(&format!("{name}.resblock.2"), channels, channels, 1, false),
        }
    }
}

/// One stage of the encoder or decoder, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageSpec {
    /// A convolution, then LeakyReLU with slope [`LEAKY_RELU_SLOPE`].
    ConvLeaky(ConvSpec),
    /// A [`ResidualSpec`] layer (no activation after the skip).
    Residual(ResidualSpec),
    /// A bare LeakyReLU with slope [`LEAKY_RELU_SLOPE`] (an index of its own in the
    /// official names, so the next stage's index skips one).
    Leaky,
}

impl StageSpec {
    /// The stage's convolutions in creation order (none for [`StageSpec::Leaky`]).
    pub fn convs(&self) -> Vec<&ConvSpec> {
        match self {
            StageSpec::ConvLeaky(conv) => vec![conv],
            StageSpec::Residual(residual) => vec![&residual.conv3, &residual.conv1],
            StageSpec::Leaky => Vec::new(),
        }
    }
}
