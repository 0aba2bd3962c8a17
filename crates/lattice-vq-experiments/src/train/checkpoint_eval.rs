//! Evaluating a saved model (ours or an official checkpoint) on a dataset split.

use std::path::{Path, PathBuf};

use lattice_vq_core::{HyperLogLog, Levels, QuantizerConfig, Vocabulary};

use super::eval_splits::{EvalSplits, open_for_evaluation};
use super::evaluate::{EvalReport, evaluate};
use super::network_choice::{ModelKind, choose_network, describe, tensor_shapes};
use super::progress_bar::progress_bar;
use super::run::{make_backend_for, model_configs_for};
use super::tokens::{latent_grid, read_tokens, write_tokens};
use super::{
    BackendKind, CodebookChoice, DatasetKind, Device, Protocol, QuantizerKind, TrainOptions,
};
use crate::data::{BatchOptions, Batches};
use crate::error::{Error, Result};

/// Which images to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    /// The test set.
    Test,
    /// The training split (55k of Fashion-MNIST's 60k).
    Train,
    /// The held-out validation split.
    Validation,
}

/// What to evaluate, and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// A safetensors file with the model's variables (official names).
    pub checkpoint: PathBuf,
    /// The network (`--model`); `None` infers it from the file's tensors. Given, it must be
    /// the file's.
    pub model: Option<ModelKind>,
    /// The quantizer; `None` infers it from the file's tensors.
    pub quantizer: Option<QuantizerKind>,
    /// Its codebook size (a finite codebook's levels are inferred from the file when absent).
    pub codebook: CodebookChoice,
    /// Write the evaluated images' token indices here (safetensors, `tokens`
    /// `(images, height, width)`, the smallest unsigned type that holds K).
    pub tokens: Option<PathBuf>,
    /// Decode the tokens of this file (as `tokens` wrote them) and report the MSE of those
    /// reconstructions as `tokens_mse`.
    pub from_tokens: Option<PathBuf>,
    /// Build a vocabulary of the codes the model gives this split (eval mode, at most
    /// `max_images` images), then report its size and the evaluated split's rate of codes
    /// outside it: how far an unbounded lattice's codes are from being tokens.
    pub vocabulary_from: Option<EvalSplit>,
    /// The dataset (its loader and preprocessing; the network is the checkpoint's). A
    /// CelebA folder without its partition file, or an FFHQ folder of no more than 60,000
    /// images, evaluates every image in it, whatever `split` says.
    pub dataset: DatasetKind,
    /// Where the dataset is.
    pub data_dir: Option<PathBuf>,
    /// Which split.
    pub split: EvalSplit,
    /// The framework.
    pub backend: BackendKind,
    /// The device.
    pub device: Device,
    /// Images per batch (results do not depend on it).
    pub batch_size: usize,
    /// At most this many images.
    pub max_images: Option<usize>,
    /// Also estimate the distinct codes with a HyperLogLog of this precision.
    pub sketch_precision: Option<u8>,
    /// Intra-op threads of libtorch.
    pub threads: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
}

impl EvalOptions {
    /// Evaluate `checkpoint` as `evaluate` does without flags: network and quantizer from
    /// the file, the Fashion-MNIST test split, candle on the CPU, batches of 500, no
    /// progress bar.
    pub fn new(checkpoint: impl Into<PathBuf>) -> Self {
        Self {
            checkpoint: checkpoint.into(),
            model: None,
            quantizer: None,
            codebook: CodebookChoice::default(),
            tokens: None,
            from_tokens: None,
            vocabulary_from: None,
            dataset: DatasetKind::FashionMnist,
            data_dir: None,
            split: EvalSplit::Test,
            backend: BackendKind::Candle,
            device: Device::Cpu,
            batch_size: 500,
            max_images: None,
            sketch_precision: None,
            threads: None,
            progress: false,
        }
    }

    /// With the network `model` (which must be the checkpoint's).
    pub fn with_model(mut self, model: ModelKind) -> Self {
        self.model = Some(model);
        self
    }

    /// With `dataset`, read from `data_dir`.
    pub fn with_dataset(mut self, dataset: DatasetKind, data_dir: impl Into<PathBuf>) -> Self {
        self.dataset = dataset;
        self.data_dir = Some(data_dir.into());
        self
    }

    /// On `split`.
    pub fn with_split(mut self, split: EvalSplit) -> Self {
        self.split = split;
        self
    }

    /// On `backend`.
    pub fn with_backend(mut self, backend: BackendKind) -> Self {
        self.backend = backend;
        self
    }

    /// In batches of `batch_size` images.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// With `threads` intra-op threads of libtorch.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Check what the evaluation cannot work with.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a batch size, a number of images or of threads of 0.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| Error::Invalid {
            what: what.into(),
            problem: "must be at least 1".into(),
        };
        if self.batch_size == 0 {
            return Err(invalid("batch size"));
        }
        if self.max_images == Some(0) {
            return Err(invalid("max images"));
        }
        if self.threads == Some(0) {
            return Err(invalid("threads"));
        }
        Ok(())
    }
}

/// The quantizer a checkpoint holds, from its tensor names and shapes: a finite codebook
/// (its `levels.i` buffers give the levels; `offset` and `step` tell the kind), VQ-EMA (an
/// `ema_w`), VQ (a `K x D` codebook, K given back) or the sparse lattice (a `(1, D)` basis;
/// sparse and dense lattices evaluate alike).
///
/// # Errors
/// [`Error::Safetensors`] for an unreadable file, [`Error::Format`] for one without a
/// quantizer.
pub fn infer_quantizer(checkpoint: &Path) -> Result<(QuantizerKind, CodebookChoice)> {
    let tensors = tensor_shapes(checkpoint)?;
    let format = |problem: String| Error::Format {
        path: checkpoint.to_path_buf(),
        problem,
    };
    let counts: Vec<u32> = (0..)
        .map_while(|i| tensors.get(&format!("_quantizer.levels.{i}")))
        .map(|dims| dims.first().map_or(0, |&l| l as u32))
        .collect();
    if !counts.is_empty() {
        let levels = Levels::new(&counts).map_err(|e| format(e.to_string()))?;
        let kind = if tensors.contains_key("_quantizer.offset") {
            QuantizerKind::BoundedLatticeOffset
        } else if tensors.contains_key("_quantizer.step") {
            QuantizerKind::BoundedLattice
        } else {
            QuantizerKind::Fsq
        };
        let codebook = CodebookChoice {
            levels: Some(levels),
            codebook_size: None,
        };
        return Ok((kind, codebook));
    }
    if let Some(codebook) = tensors.get("_quantizer.ema_w") {
        let codebook_size = codebook.first().copied();
        return Ok((
            QuantizerKind::VqEma,
            CodebookChoice {
                levels: None,
                codebook_size,
            },
        ));
    }
    match tensors.get("_quantizer.embedding.weight") {
        Some(dims) if dims.first() == Some(&1) => {
            Ok((QuantizerKind::Lattice, CodebookChoice::default()))
        }
        Some(dims) => Ok((
            QuantizerKind::Vq,
            CodebookChoice {
                levels: None,
                codebook_size: dims.first().copied(),
            },
        )),
        None => Err(format(
            "no _quantizer.embedding.weight or levels: not a VQ-VAE checkpoint".into(),
        )),
    }
}

/// The number of token indices of a quantizer that has them (the finite codebooks, VQ,
/// VQ-EMA); `None` for the lattices, whose codes are integer vectors.
pub fn token_count(quantizer: &QuantizerConfig) -> Option<u64> {
    match quantizer {
        QuantizerConfig::Finite(c) => Some(c.codebook_size()),
        QuantizerConfig::Vq(c) => Some(c.codebook_size as u64),
        QuantizerConfig::VqEma(c) => Some(c.codebook_size as u64),
        QuantizerConfig::Lattice(_) => None,
    }
}

/// Load the checkpoint into the network it holds ([`choose_network`]) and evaluate it in
/// eval mode on the split; the report names the network and the images.
///
/// # Errors
/// As [`EvalOptions::validate`]; a missing dataset; [`Error::ModelMismatch`] for a
/// `--model` that is not the checkpoint's; [`Error::Invalid`] for images the network cannot
/// take (other channels, sides not a multiple of its downsampling); framework failures.
pub fn evaluate_checkpoint(options: &EvalOptions) -> Result<EvalReport> {
    options.validate()?;
    let network = choose_network(&options.checkpoint, options.model)?;
    let (quantizer, codebook) = match options.quantizer {
        Some(q) if q.is_finite() && options.codebook.levels.is_none() => {
            let (_, inferred) = infer_quantizer(&options.checkpoint)?;
            (q, inferred)
        }
        Some(q) => (q, options.codebook),
        None => infer_quantizer(&options.checkpoint)?,
    };
    let EvalSplits { splits, unsplit } =
        open_for_evaluation(options.dataset, options.data_dir.as_deref())?;
    if let Some(why) = &unsplit {
        eprintln!("note: evaluating {why}");
    }
    check_images_fit(&network, splits.test.shape(), &splits.source)?;
    let split = |which| match which {
        EvalSplit::Test => splits.test.clone(),
        EvalSplit::Train => splits.train.clone(),
        EvalSplit::Validation => splits.validation.clone(),
    };
    let dataset = split(options.split);
    let vocabulary_source = options.vocabulary_from.map(split);
    let train_options = TrainOptions {
        dataset: options.dataset,
        data_dir: options.data_dir.clone(),
        quantizer,
        codebook,
        backend: options.backend,
        device: options.device,
        epochs: 0,
        batch_size: options.batch_size,
        lr: 0.0,
        seed: 0,
        protocol: Protocol::Fixed,
        max_steps_per_epoch: None,
        max_eval_images: options.max_images,
        checkpoint_every: 0,
        threads: options.threads,
        count_train_codes: false,
        out_dir: PathBuf::new(),
        progress: options.progress,
    };
    let (model_config, quantizer_config) = model_configs_for(&train_options, network)?;
    let mut backend = make_backend_for(&train_options, &model_config, &quantizer_config)?;
    backend.load(&options.checkpoint, None)?;
    let mut sketch = options.sketch_precision.map(HyperLogLog::new).transpose()?;
    let images = options
        .max_images
        .map_or(dataset.len(), |m| m.min(dataset.len()));
    let bar = progress_bar(options.progress, images as u64, "evaluate".into());
    let tokens_of = token_count(&quantizer_config);
    if options.tokens.is_some() && tokens_of.is_none() {
        return Err(Error::Invalid {
            what: "tokens".into(),
            problem: "the lattices' codes are integer vectors, not token indices: --tokens \
                      needs fsq, a bounded lattice, vq or vq-ema"
                .into(),
        });
    }
    let vocabulary = match vocabulary_source {
        Some(source) => Some(build_vocabulary(backend.as_mut(), source, options)?),
        None => None,
    };
    let (mut outside_vocabulary, mut failure) = (0u64, None);
    let mut tokens: Vec<i64> = Vec::new();
    let mut grid = None;
    let mut report = evaluate(
        backend.as_mut(),
        dataset.clone(),
        options.batch_size,
        options.max_images,
        sketch.as_mut(),
        |batch, rows, _| {
            if let Some(vocabulary) = &vocabulary {
                match rows
                    .view()
                    .and_then(|rows| Ok(vocabulary.out_of_vocabulary(rows)?))
                {
                    Ok(outside) => outside_vocabulary += outside,
                    Err(e) => drop(failure.get_or_insert(e)),
                }
            }
            if options.tokens.is_some() {
                tokens.extend(rows.data.iter().map(|&t| i64::from(t)));
                grid.get_or_insert((batch.shape, model_config.clone()));
            }
        },
        &bar,
    )?;
    bar.finish_and_clear();
    if let (Some(path), Some(codebook_size), Some((shape, model))) =
        (&options.tokens, tokens_of, grid)
    {
        let probe = crate::data::Batch {
            images: Vec::new(),
            len: report.images,
            shape,
        };
        let (images, height, width) = latent_grid(&probe, &model, tokens.len())?;
        write_tokens(path, &tokens, &[images, height, width], codebook_size)?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(vocabulary) = &vocabulary {
        report.vocabulary_size = Some(vocabulary.len());
        report.out_of_vocabulary_rate =
            Some(outside_vocabulary as f64 / report.vectors.max(1) as f64);
    }
    if let Some(path) = &options.from_tokens {
        report.tokens_mse = Some(decoded_mse(backend.as_mut(), dataset, options, path)?);
    }
    report.model = Some(describe(&model_config));
    report.data_source = Some(splits.source.clone());
    Ok(report)
}

/// Refuse images the network cannot take before loading any, naming both: the core's own
/// check would only say so at the first batch, without the network.
fn check_images_fit(
    network: &lattice_vq_core::VqVaeConfig,
    shape: crate::data::ImageShape,
    source: &str,
) -> Result<()> {
    network
        .check_image_shape(&[1, shape.channels, shape.height, shape.width])
        .map_err(|_| Error::Invalid {
            what: "images".into(),
            problem: format!(
                "{source} holds {}x{}x{} images (channels x height x width); the \
                 checkpoint's network, {}, takes {} channel(s) and sides that are multiples \
                 of {}",
                shape.channels,
                shape.height,
                shape.width,
                describe(network),
                network.image_channels,
                network.downsampling_factor()
            ),
        })
}

/// The per-pixel MSE of the reconstructions decoded from the tokens in `path`, over the same
/// images in the same order as the evaluation.
fn decoded_mse(
    backend: &mut dyn super::Backend,
    dataset: std::sync::Arc<dyn crate::data::Dataset>,
    options: &EvalOptions,
    path: &Path,
) -> Result<f64> {
    let (tokens, shape) = read_tokens(path)?;
    let per_image: usize = shape.iter().skip(1).product();
    let images = options
        .max_images
        .map_or(dataset.len(), |m| m.min(dataset.len()));
    if shape.first() != Some(&images) {
        return Err(Error::Invalid {
            what: "tokens".into(),
            problem: format!("{path:?} holds tokens of {shape:?}, not of {images} images"),
        });
    }
    let mut batch_options = BatchOptions::sequential(options.batch_size);
    batch_options.max_batches = Some(images.div_ceil(options.batch_size));
    let (mut sse, mut pixels, mut seen) = (0.0, 0usize, 0usize);
    for batch in Batches::new(dataset, &batch_options) {
        let mut batch = batch?;
        if seen + batch.len > images {
            batch.len = images - seen;
            batch.images.truncate(batch.len * batch.shape.len());
        }
        let own = &tokens[seen * per_image..(seen + batch.len) * per_image];
        sse += backend.decode_tokens(&batch, own)?;
        pixels += batch.images.len();
        seen += batch.len;
    }
    Ok(sse / pixels.max(1) as f64)
}

/// The vocabulary of the codes the model gives `dataset` in eval mode.
fn build_vocabulary(
    backend: &mut dyn super::Backend,
    dataset: std::sync::Arc<dyn crate::data::Dataset>,
    options: &EvalOptions,
) -> Result<Vocabulary> {
    let mut vocabulary: Option<Vocabulary> = None;
    let mut failure = None;
    let bar = progress_bar(options.progress, dataset.len() as u64, "vocabulary".into());
    evaluate(
        backend,
        dataset,
        options.batch_size,
        options.max_images,
        None,
        |_, rows, _| {
            let inserted = rows.view().and_then(|view| {
                let vocabulary = match &mut vocabulary {
                    Some(v) => v,
                    None => vocabulary.insert(Vocabulary::new(rows.dim)?),
                };
                Ok(vocabulary.insert_rows(view)?)
            });
            if let Err(e) = inserted {
                failure.get_or_insert(e);
            }
        },
        &bar,
    )?;
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }
    vocabulary.ok_or_else(|| Error::Invalid {
        what: "vocabulary".into(),
        problem: "no codes to build a vocabulary from".into(),
    })
}
