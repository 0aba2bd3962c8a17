//! One convolution of the reference model, as data, with PyTorch's default initialisation.

/// PyTorch's default initialisation bound of a `Conv2d` or `ConvTranspose2d` weight and
/// bias: both are drawn `U(-bound, bound)` with `bound = 1 / sqrt(fan_in)`, where
/// `fan_in = weight_shape[1] * weight_shape[2] * weight_shape[3]`.
///
/// A `Conv2d` weight is `(out, in, k, k)`, so `fan_in` counts the input channels; a
/// `ConvTranspose2d` weight is `(in, out, k, k)`, so it counts the *output* channels. The
/// bias uses the weight's bound (PyTorch's `reset_parameters`), as the tch and candle
/// models do.
///
/// # Example
/// ```
/// use lattice_vq_core::network::pytorch_default_init_bound;
///
/// assert_eq!(pytorch_default_init_bound([64, 1, 4, 4]), 0.25);
/// assert_eq!(pytorch_default_init_bound([64, 64, 1, 1]), 0.125);
/// ```
pub fn pytorch_default_init_bound(weight_shape: [usize; 4]) -> f64 {
    let fan_in = weight_shape[1] * weight_shape[2] * weight_shape[3];
    1.0 / (fan_in as f64).sqrt()
}

/// A square convolution (or transposed convolution) of the reference model with its
/// official tensor-name prefix.
///
/// # Example
/// ```
/// use lattice_vq_core::network::ConvSpec;
///
/// let up = ConvSpec::down_up("_decoder.4.0", 64, 1, true);
/// assert_eq!(up.weight_shape(), [64, 1, 4, 4]); // ConvTranspose2d: (in, out, k, k)
/// assert_eq!(up.weight_name(), "_decoder.4.0.weight");
/// assert_eq!(up.init_bound(), 1.0 / 16f64.sqrt()); // fan_in = out * k * k
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    /// The official name prefix (`_encoder.0.0`, `_encoder.2.resblock.0`, ...): the
    /// tensors are `{name}.weight` and `{name}.bias`.
    pub name: String,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// The kernel's side (square kernels only).
    pub kernel: usize,
    /// Stride, both directions.
    pub stride: usize,
    /// Zero padding, both directions (transposed: the `padding` of `ConvTranspose2d`, no
    /// output padding).
    pub padding: usize,
    /// A `ConvTranspose2d` (weight `(in, out, k, k)`) rather than a `Conv2d`.
    pub transposed: bool,
    /// Whether it has a bias.
    pub bias: bool,
}

impl ConvSpec {
    /// A stride-2 4x4 convolution with padding 1, with bias: halves the grid (or,
    /// transposed, doubles it).
    pub fn down_up(name: &str, in_channels: usize, out_channels: usize, transposed: bool) -> Self {
        Self {
            name: name.to_string(),
            in_channels,
            out_channels,
            kernel: 4,
            stride: 2,
            padding: 1,
            transposed,
            bias: true,
        }
    }

    /// A "same" convolution, stride 1 with padding `kernel / 2` (3x3 with padding 1, 1x1
    /// with padding 0), not transposed.
    pub fn same(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        bias: bool,
    ) -> Self {
        Self {
            name: name.to_string(),
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: kernel / 2,
            transposed: false,
            bias,
        }
    }

    /// The weight's shape: `(out, in, k, k)`, or `(in, out, k, k)` when transposed.
    pub fn weight_shape(&self) -> [usize; 4] {
        let k = self.kernel;
        if self.transposed {
            [self.in_channels, self.out_channels, k, k]
        } else {
            [self.out_channels, self.in_channels, k, k]
        }
    }

    /// The bias's shape `(out,)`, if it has one.
    pub fn bias_shape(&self) -> Option<[usize; 1]> {
        self.bias.then_some([self.out_channels])
    }

    /// `{name}.weight`.
    pub fn weight_name(&self) -> String {
        format!("{}.weight", self.name)
    }

    /// `{name}.bias`, if it has one.
    pub fn bias_name(&self) -> Option<String> {
        self.bias.then(|| format!("{}.bias", self.name))
    }

    /// The half-width of the weight's and bias's `U(-bound, bound)` initialisation:
    /// [`pytorch_default_init_bound`] of [`ConvSpec::weight_shape`].
    pub fn init_bound(&self) -> f64 {
        pytorch_default_init_bound(self.weight_shape())
    }
}
