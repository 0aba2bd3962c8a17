//! The LL-VQ layer inside your own candle model: a small convolutional autoencoder on
//! Fashion-MNIST, written with plain `candle_nn` layers, with `lattice_vq::candle`'s LL-VQ
//! layer between encoder and decoder. Only the paths a user of
//! `cargo add lattice-vq --features candle` (plus `candle-core` and `candle-nn`) has.
//!
//! ```text
//! cargo run --release -p lattice-vq --example candle_autoencoder --features candle -- --steps 300
//! ```
//!
//! It trains for `--steps` batches, then on 1,000 test images prints the reconstruction
//! error and the distinct lattice codes, turns the codes into tokens (a `Vocabulary` built
//! from training images: the unbounded lattice has no finite codebook of its own), decodes
//! the codes back into the decoder's input, and saves the variables to a safetensors file and
//! loads them into a fresh model. `--quantizer finite` swaps in the finite codebook layer
//! (`finite_quantizer`, a bounded lattice of 8 x 8 x 8 = 512 points), whose codes are token
//! indices already. Data: Fashion-MNIST from `--data` (default
//! `/usr/share/datasets/fashion-mnist`, Debian's `dataset-fashion-mnist`), else a small
//! synthetic set of shapes, which the output says.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Display;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{
    AdamW, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Optimizer, ParamsAdamW,
    VarBuilder, VarMap,
};
use lattice_vq::candle::{
    Codes, Quantizer, QuantizerOutput, finite_quantizer, kernels, lattice_quantizer,
    seeded_var_builder,
};
use lattice_vq::{FiniteQuantizerConfig, LatticeQuantizerConfig, UniqueCodes, Vocabulary};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const USAGE: &str = "\
usage: candle_autoencoder [--steps N] [--batch N] [--quantizer lattice|finite] [--data DIR]
                          [--checkpoint FILE] [--seed N] [--candle-convs]

  --steps N           training steps (default 300)
  --batch N           images per step (default 64)
  --quantizer KIND    lattice: the LL-VQ layer, K = 512, D = 8 (default); finite: the
                      bounded-lattice codebook layer, levels 8,8,8 (512 tokens)
  --data DIR          Fashion-MNIST's gzip IDX files (default /usr/share/datasets/fashion-mnist);
                      without them a synthetic set is used
  --checkpoint FILE   where to save the trained variables (default: a temporary file, removed)
  --seed N            seed of the initial weights and of the batches (default 0)
  --candle-convs      run the convolutions with candle's kernels (Module::forward) instead of
                      lattice_vq::candle::kernels (the same layers, slower to train on the CPU)
";

/// Latent channels: the dimension D of the lattice.
const DIM: usize = 8;
/// Channels of the hidden convolutions.
const HIDDEN: usize = 16;
/// Test images the final figures are measured on.
const TEST_IMAGES: usize = 1_000;
/// Training images whose codes make the token vocabulary.
const VOCABULARY_IMAGES: usize = 2_000;
/// Images per forward pass when evaluating (bounds memory, not the result).
const EVAL_BATCH: usize = 250;
const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Lattice,
    Finite,
}

#[derive(Debug)]
struct Args {
    steps: usize,
    batch: usize,
    quantizer: Kind,
    data: PathBuf,
    checkpoint: Option<PathBuf>,
    seed: u64,
    convs: Convs,
}

fn parse_args() -> Result<Args> {
    let mut parsed = Args {
        steps: 300,
        batch: 64,
        quantizer: Kind::Lattice,
        data: PathBuf::from("/usr/share/datasets/fashion-mnist"),
        checkpoint: None,
        seed: 0,
        convs: Convs::LatticeVq,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--steps" => parsed.steps = number(&flag, value()?)?,
            "--batch" => parsed.batch = number(&flag, value()?)?,
            "--quantizer" => {
                parsed.quantizer = match value()?.as_str() {
                    "lattice" => Kind::Lattice,
                    "finite" => Kind::Finite,
                    other => return Err(format!("unknown quantizer {other:?}\n{USAGE}").into()),
                }
            }
            "--data" => parsed.data = value()?.into(),
            "--checkpoint" => parsed.checkpoint = Some(value()?.into()),
            "--seed" => parsed.seed = number(&flag, value()?)?,
            "--candle-convs" => parsed.convs = Convs::Candle,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}").into()),
        }
    }
    if parsed.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    Ok(parsed)
}

/// `value` of `flag` as a number.
fn number<T: FromStr>(flag: &str, value: String) -> Result<T>
where
    T::Err: Display,
{
    Ok(value
        .parse()
        .map_err(|e| format!("{flag} {value:?}: {e}"))?)
}

/// The user's own model: candle_nn convolutions around a quantizer layer. The layer is a
/// `Box<dyn Quantizer>`, so LL-VQ and the finite codebook are interchangeable.
struct Autoencoder {
    encoder: [Conv2d; 3],
    quantizer: Box<dyn Quantizer>,
    decoder_in: Conv2d,
    decoder: [ConvTranspose2d; 2],
    convs: Convs,
}

/// Which kernels run the convolutions (the layers and their variables are candle_nn's
/// either way).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Convs {
    /// `lattice_vq::candle::kernels`: on the CPU about 2.5x faster to train here than
    /// candle's, whose backward passes are loops (on other devices they call candle's).
    LatticeVq,
    /// candle's own, through `Module::forward`.
    Candle,
}

impl Autoencoder {
    fn new(kind: Kind, convs: Convs, vb: VarBuilder) -> Result<Self> {
        let down = Conv2dConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let same = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let up = ConvTranspose2dConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let encoder = [
            candle_nn::conv2d(1, HIDDEN, 4, down, vb.pp("encoder.0"))?, // 28 -> 14
            candle_nn::conv2d(HIDDEN, HIDDEN, 4, down, vb.pp("encoder.1"))?, // 14 -> 7
            candle_nn::conv2d(HIDDEN, DIM, 1, Default::default(), vb.pp("encoder.2"))?,
        ];
        // The quantizer's variables go under their own prefix, as any sub-layer's would.
        let quantizer: Box<dyn Quantizer> = match kind {
            // The paper's sparse LL-VQ: a basis of D learnable numbers, initialised for K codes.
            Kind::Lattice => Box::new(lattice_quantizer(
                &LatticeQuantizerConfig::new(512, DIM),
                vb.pp("quantizer"),
            )?),
            // A finite codebook with token indices: the latents are projected to 3 dimensions
            // and rounded to a learnable 8 x 8 x 8 box.
            Kind::Finite => Box::new(finite_quantizer(
                &FiniteQuantizerConfig::bounded("8,8,8".parse()?, DIM),
                vb.pp("quantizer"),
            )?),
        };
        Ok(Self {
            encoder,
            quantizer,
            decoder_in: candle_nn::conv2d(DIM, HIDDEN, 3, same, vb.pp("decoder.0"))?,
            decoder: [
                candle_nn::conv_transpose2d(HIDDEN, HIDDEN, 4, up, vb.pp("decoder.1"))?, // 7 -> 14
                candle_nn::conv_transpose2d(HIDDEN, 1, 4, up, vb.pp("decoder.2"))?,      // 14 -> 28
            ],
            convs,
        })
    }

    /// `(N, 1, 28, 28)` images to `(N, D, 7, 7)` latents.
    fn encode(&self, images: &Tensor) -> Result<Tensor> {
        let x = self.conv(&self.encoder[0], images)?.relu()?;
        let x = self.conv(&self.encoder[1], &x)?.relu()?;
        self.conv(&self.encoder[2], &x)
    }

    /// `(N, D, 7, 7)` quantized latents (or points decoded from codes) to images.
    fn decode(&self, quantized: &Tensor) -> Result<Tensor> {
        let x = self.conv(&self.decoder_in, quantized)?.relu()?;
        let x = self.up(&self.decoder[0], &x)?.relu()?;
        self.up(&self.decoder[1], &x)
    }

    /// `layer` applied to `x`: by candle's `Module::forward`, or by the same convolution in
    /// `lattice_vq::candle::kernels` (the kernels the crate's VQ-VAE trains with), which takes
    /// the layer's own weight and bias.
    fn conv(&self, layer: &Conv2d, x: &Tensor) -> Result<Tensor> {
        let config = layer.config();
        Ok(match self.convs {
            Convs::Candle => layer.forward(x)?,
            Convs::LatticeVq => kernels::conv2d(
                x,
                layer.weight(),
                layer.bias(),
                config.stride,
                config.padding,
            )?,
        })
    }

    /// A transposed convolution, as [`Autoencoder::conv`].
    fn up(&self, layer: &ConvTranspose2d, x: &Tensor) -> Result<Tensor> {
        let config = layer.config();
        Ok(match self.convs {
            Convs::Candle => layer.forward(x)?,
            Convs::LatticeVq => kernels::conv_transpose2d(
                x,
                layer.weight(),
                layer.bias(),
                config.stride,
                config.padding,
            )?,
        })
    }

    /// Reconstructions and the quantizer's output (codes, loss).
    fn forward(&self, images: &Tensor, train: bool) -> Result<(Tensor, QuantizerOutput)> {
        let out = self.quantizer.quantize(&self.encode(images)?, train)?;
        Ok((self.decode(&out.quantized)?, out))
    }
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("candle_autoencoder: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let device = Device::Cpu;
    let data = Dataset::load(&args.data)?;
    println!("data: {}", data.source);

    let varmap = VarMap::new();
    // candle cannot seed its CPU generator; this VarBuilder draws new variables from `seed`.
    let vb = seeded_var_builder(&varmap, args.seed, DType::F32, &device);
    let model = Autoencoder::new(args.quantizer, args.convs, vb)?;
    let parameters: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let layer = match args.quantizer {
        Kind::Lattice => format!("LL-VQ layer (sparse, K = 512, D = {DIM})"),
        Kind::Finite => format!("finite layer (bounded lattice 8,8,8, D = {DIM})"),
    };
    let convs = match args.convs {
        Convs::LatticeVq => "lattice_vq::candle::kernels",
        Convs::Candle => "candle's",
    };
    println!(
        "model: conv encoder, {layer}, conv decoder ({convs} convolutions): {parameters} \
         parameters"
    );

    let params = ParamsAdamW {
        lr: 2e-3,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut adam = AdamW::new(varmap.all_vars(), params)?;
    let mut rng = XorShift::new(args.seed);
    let start = Instant::now();
    for step in 1..=args.steps {
        let picks: Vec<usize> = (0..args.batch)
            .map(|_| rng.below(data.train_len()))
            .collect();
        let images = data.train_batch(&picks, &device)?;
        let (reconstruction, out) = model.forward(&images, true)?;
        let mse = candle_nn::loss::mse(&reconstruction, &images)?;
        // The quantizer's loss joins the model's own. It is negative and falls as training
        // goes on: its size term `-||b||_1` widens the lattice (the paper's sparse LL-VQ).
        adam.backward_step(&(&mse + &out.loss)?)?;
        if step % (args.steps / 10).max(1) == 0 || step == args.steps {
            println!(
                "step {step:>5}: reconstruction MSE {:.5}, quantizer loss {:+.5}",
                mse.to_scalar::<f32>()?,
                out.loss.to_scalar::<f32>()?
            );
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "trained {} steps of {} images in {seconds:.1} s ({:.3} s per step)",
        args.steps,
        args.batch,
        seconds / args.steps.max(1) as f64
    );

    // Tokens. The unbounded lattice has no codebook to index: a Vocabulary numbers the codes
    // seen in training images, and every other code gets its unknown token. The finite layer
    // gives token indices itself (`Codes::Indices`).
    let mut vocabulary = Vocabulary::new(DIM)?;
    if args.quantizer == Kind::Lattice {
        let seen = VOCABULARY_IMAGES.min(data.train_len());
        for first in (0..seen).step_by(EVAL_BATCH) {
            let picks: Vec<usize> = (first..(first + EVAL_BATCH).min(seen)).collect();
            let out = model
                .quantizer
                .quantize(&model.encode(&data.train_batch(&picks, &device)?)?, false)?;
            for code in lattice_rows(&out.codes)?.chunks_exact(DIM) {
                vocabulary.insert(code)?;
            }
        }
    }

    let test = TEST_IMAGES.min(data.test_len());
    let mut squared_error = 0.0;
    let mut distinct_lattice = UniqueCodes::new(DIM);
    let mut distinct_indices = HashSet::new();
    let (mut vectors, mut unknown) = (0usize, 0usize);
    let mut first_tokens = Vec::new();
    let mut decode_gap = 0f32;
    for first in (0..test).step_by(EVAL_BATCH) {
        let picks: Vec<usize> = (first..(first + EVAL_BATCH).min(test)).collect();
        let images = data.test_batch(&picks, &device)?;
        let (reconstruction, out) = model.forward(&images, false)?;
        squared_error +=
            f64::from(candle_nn::loss::mse(&reconstruction, &images)?.to_scalar::<f32>()?)
                * picks.len() as f64;
        // Codes back to the decoder's input: `decode` gives the points `quantize` used.
        let decoded = model.decode(&model.quantizer.decode(&out.codes)?)?;
        decode_gap = decode_gap.max(max_gap(&decoded, &reconstruction)?);
        let tokens: Vec<u64> = match &out.codes {
            Codes::Lattice(_) => {
                let rows = lattice_rows(&out.codes)?;
                let mut tokens = Vec::with_capacity(rows.len() / DIM);
                for code in rows.chunks_exact(DIM) {
                    distinct_lattice.insert(code)?;
                    tokens.push(vocabulary.token(code).unwrap_or(vocabulary.unknown_token()));
                }
                tokens
            }
            Codes::Indices(indices) => {
                let indices = indices.flatten_all()?.to_vec1::<i64>()?;
                distinct_indices.extend(indices.iter().copied());
                indices.iter().map(|&i| i as u64).collect()
            }
        };
        vectors += tokens.len();
        if args.quantizer == Kind::Lattice {
            unknown += tokens
                .iter()
                .filter(|&&t| t == vocabulary.unknown_token())
                .count();
        }
        if first_tokens.is_empty() {
            // The top row of the first image's grid of codes, `(N, H, W, ...)`.
            let width = out.codes.tensor().dims()[2];
            first_tokens = tokens[..width].to_vec();
        }
    }
    let mse = squared_error / test as f64;
    let distinct = match args.quantizer {
        Kind::Lattice => distinct_lattice.len(),
        Kind::Finite => distinct_indices.len(),
    };
    println!(
        "test: {test} images, reconstruction MSE {mse:.5}, {distinct} distinct codes among \
         {vectors} latent vectors"
    );
    match args.quantizer {
        Kind::Lattice => println!(
            "tokens: a vocabulary of {} codes from {} training images (+1 unknown token); test \
             image 0, top row: {first_tokens:?}; {unknown} of {vectors} test vectors unknown",
            vocabulary.len(),
            VOCABULARY_IMAGES.min(data.train_len())
        ),
        Kind::Finite => println!(
            "tokens: the layer's indices in 0..512; test image 0, top row: {first_tokens:?}"
        ),
    }
    // The decoder saw the straight-through `z + sg(e - z)` in the forward pass: the value of
    // `e` up to rounding.
    if decode_gap > 1e-4 {
        return Err(
            format!("decoding the codes changed the reconstruction by {decode_gap}").into(),
        );
    }
    println!(
        "decode: codes -> quantizer.decode -> decoder: the same reconstructions (largest gap \
         {decode_gap:.1e})"
    );

    // Save the trained variables (safetensors), load them into a fresh model drawn from
    // another seed, and check that it reconstructs as the trained one did.
    let temporary = args.checkpoint.is_none();
    let path = args.checkpoint.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "candle_autoencoder-{}.safetensors",
            std::process::id()
        ))
    });
    varmap.save(&path)?;
    let mut fresh_varmap = VarMap::new();
    let fresh = Autoencoder::new(
        args.quantizer,
        args.convs,
        seeded_var_builder(&fresh_varmap, args.seed + 1, DType::F32, &device),
    )?;
    // `VarMap::load` overwrites every variable the model created (and ignores extra tensors);
    // `lattice_vq::candle::load_checkpoint` is the strict version: same names and shapes
    // only. The layers share their tensors with the map, so they see the loaded values.
    fresh_varmap.load(&path)?;
    let picks: Vec<usize> = (0..EVAL_BATCH.min(test)).collect();
    let images = data.test_batch(&picks, &device)?;
    let gap = max_gap(
        &fresh.forward(&images, false)?.0,
        &model.forward(&images, false)?.0,
    )?;
    if gap > 1e-6 {
        return Err(format!("the loaded model reconstructs differently (by {gap})").into());
    }
    println!(
        "checkpoint: {} variables saved to {} and loaded into a fresh model: same \
         reconstructions",
        varmap.all_vars().len(),
        path.display()
    );
    if temporary {
        std::fs::remove_file(&path)?;
    }
    Ok(())
}

/// Lattice codes (`I32`, `(N, H, W, D)`: channels last) on the host, D integers per latent
/// vector.
fn lattice_rows(codes: &Codes) -> Result<Vec<i32>> {
    let codes = codes.lattice().ok_or("not lattice codes")?;
    Ok(codes.flatten_all()?.to_vec1::<i32>()?)
}

/// The largest absolute difference between two tensors of one shape.
fn max_gap(a: &Tensor, b: &Tensor) -> Result<f32> {
    Ok((a - b)?.abs()?.max_all()?.to_scalar::<f32>()?)
}

/// 28 x 28 grey images, bytes in 0..=255, row-major, image after image.
struct Dataset {
    train: Vec<u8>,
    test: Vec<u8>,
    source: String,
}

impl Dataset {
    /// Fashion-MNIST from `dir` if its files are there, else the synthetic set.
    fn load(dir: &Path) -> Result<Self> {
        let train = dir.join("train-images-idx3-ubyte.gz");
        let test = dir.join("t10k-images-idx3-ubyte.gz");
        if !train.exists() || !test.exists() {
            let (train, test) = (synthetic(4_000, 1), synthetic(1_000, 2));
            let source = format!(
                "SYNTHETIC shapes ({} train, {} test images): Fashion-MNIST not found in {} \
                 (install Debian's dataset-fashion-mnist or pass --data DIR); the figures \
                 below are not Fashion-MNIST's",
                train.len() / PIXELS,
                test.len() / PIXELS,
                dir.display()
            );
            return Ok(Self {
                train,
                test,
                source,
            });
        }
        let (train, test) = (read_idx_images(&train)?, read_idx_images(&test)?);
        let source = format!(
            "Fashion-MNIST from {} ({} train, {} test images)",
            dir.display(),
            train.len() / PIXELS,
            test.len() / PIXELS
        );
        Ok(Self {
            train,
            test,
            source,
        })
    }

    fn train_len(&self) -> usize {
        self.train.len() / PIXELS
    }

    fn test_len(&self) -> usize {
        self.test.len() / PIXELS
    }

    fn train_batch(&self, picks: &[usize], device: &Device) -> Result<Tensor> {
        batch(&self.train, picks, device)
    }

    fn test_batch(&self, picks: &[usize], device: &Device) -> Result<Tensor> {
        batch(&self.test, picks, device)
    }
}

/// The images `picks` of `images` as an `(N, 1, 28, 28)` tensor in `[0, 1]`.
fn batch(images: &[u8], picks: &[usize], device: &Device) -> Result<Tensor> {
    let mut values = Vec::with_capacity(picks.len() * PIXELS);
    for &i in picks {
        values.extend(
            images[i * PIXELS..(i + 1) * PIXELS]
                .iter()
                .map(|&p| f32::from(p) / 255.0),
        );
    }
    Ok(Tensor::from_vec(
        values,
        (picks.len(), 1, SIDE, SIDE),
        device,
    )?)
}

/// The pixels of a gzip-compressed IDX image file (magic `0x00000803`, then the count, 28 and
/// 28 as big-endian `u32`).
fn read_idx_images(path: &Path) -> Result<Vec<u8>> {
    // Fashion-MNIST's training images inflate to 47 MB: a larger stream is not the dataset,
    // and is not read into memory.
    const MAX_BYTES: u64 = 64 << 20;
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |i: usize| -> Option<usize> {
        let b = bytes.get(4 * i..4 * i + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    match (field(0), field(1), field(2), field(3)) {
        (Some(0x0803), Some(count), Some(SIDE), Some(SIDE))
            if bytes.len() == 16 + count * PIXELS && count > 0 =>
        {
            bytes.drain(..16);
            Ok(bytes)
        }
        _ => Err(format!("{}: not an IDX file of 28 x 28 images", path.display()).into()),
    }
}

/// `count` images of one to three filled rectangles and discs of random grey levels: enough
/// structure for an autoencoder to learn, for machines without Fashion-MNIST.
fn synthetic(count: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let mut images = vec![0u8; count * PIXELS];
    for image in images.chunks_exact_mut(PIXELS) {
        for _ in 0..1 + rng.below(3) {
            let (cx, cy) = (4 + rng.below(20), 4 + rng.below(20));
            let (rx, ry) = (2 + rng.below(8), 2 + rng.below(8));
            let (disc, grey) = (rng.below(2) == 0, 80 + rng.below(176) as u8);
            for (i, pixel) in image.iter_mut().enumerate() {
                let (dx, dy) = ((i % SIDE).abs_diff(cx), (i / SIDE).abs_diff(cy));
                let inside = if disc {
                    dx * dx * ry * ry + dy * dy * rx * rx <= rx * rx * ry * ry
                } else {
                    dx <= rx && dy <= ry
                };
                if inside {
                    *pixel = grey;
                }
            }
        }
    }
    images
}

/// xorshift64*: batches and synthetic images without another dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Any non-zero state works; mixing the seed keeps seeds 0, 1, 2 apart.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform-enough in `0..n` for picking images (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}
