//! Write the seed inputs of every fuzz target: small valid files (and a few near misses),
//! so that the fuzzer starts from the formats' structure rather than from nothing.
//!
//! ```text
//! cargo run -p lattice-vq-fuzz --example seeds            # into fuzz/corpus/<target>/
//! cargo run -p lattice-vq-fuzz --example seeds -- DIR     # into DIR/<target>/
//! ```
//!
//! Each file is named `seed-<what>`; running it again rewrites the same bytes. The
//! checkpoint seeds are written by the candle model and backend and serve the tch target
//! too: both save the same tensor names, shapes and dtypes in the same format.

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Device;
use lattice_vq_core::{UniqueCodes, code_key};
use lattice_vq_experiments::train::checkpoint::{EpochTally, LoopState, Position, write_json};
use lattice_vq_experiments::train::evaluate::EvalReport;
use lattice_vq_experiments::train::metrics::EpochRecord;
use lattice_vq_experiments::train::run::RunResult;
use lattice_vq_experiments::train::{
    Backend, BackendKind, CodeKind, DatasetKind, EpochMode, Protocol, QuantizerKind, StepStats,
    TrainOptions,
};
use lattice_vq_fuzz::model::{quantizer, tiny_batch, tiny_model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus"),
        PathBuf::from,
    );
    let seeds = Seeds { out };
    idx(&seeds)?;
    fashion_mnist(&seeds)?;
    image_folder(&seeds)?;
    celeba_partition(&seeds)?;
    run_state(&seeds)?;
    epoch_codes(&seeds)?;
    checkpoints(&seeds)?;
    core_lattice(&seeds)?;
    core_counting(&seeds)?;
    println!("seeds written under {}", seeds.out.display());
    Ok(())
}

struct Seeds {
    out: PathBuf,
}

impl Seeds {
    fn path(&self, target: &str, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("seed-{name}")))
    }

    fn write(&self, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(self.path(target, name)?, bytes)
    }
}

/// An unsigned-byte IDX file of `dims` holding `data`.
fn idx_file(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    bytes
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn idx(seeds: &Seeds) -> std::io::Result<()> {
    let images = idx_file(&[2, 3, 3], &(0..18).collect::<Vec<u8>>());
    seeds.write("idx", "images", &images)?;
    seeds.write("idx", "labels", &idx_file(&[4], &[0, 9, 3, 3]))?;
    seeds.write("idx", "scalar", &idx_file(&[], &[42]))?;
    seeds.write("idx", "empty", &idx_file(&[0, 28, 28], &[]))?;
    seeds.write("idx", "truncated", &images[..images.len() - 1])?;
    seeds.write("idx", "images-gz", &gzip(&images)?)
}

fn fashion_mnist(seeds: &Seeds) -> std::io::Result<()> {
    let pixels: Vec<u8> = (0..2 * 28 * 28).map(|i| (i * 7 % 256) as u8).collect();
    let images = idx_file(&[2, 28, 28], &pixels);
    let labels = idx_file(&[2], &[3, 9]);
    for (name, flags) in [("plain", 0u8), ("images-gz", 1), ("both-gz", 3)] {
        let images = if flags & 1 != 0 {
            gzip(&images)?
        } else {
            images.clone()
        };
        let labels = if flags & 2 != 0 {
            gzip(&labels)?
        } else {
            labels.clone()
        };
        let mut bytes = vec![flags];
        bytes.extend((images.len() as u16).to_le_bytes());
        bytes.extend(&images);
        bytes.extend(&labels);
        seeds.write("fashion_mnist", name, &bytes)?;
    }
    Ok(())
}

fn image_folder(seeds: &Seeds) -> Result<(), Box<dyn std::error::Error>> {
    use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
    let encode = |image: DynamicImage, format: ImageFormat| -> image::ImageResult<Vec<u8>> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, format)?;
        Ok(bytes.into_inner())
    };
    let gray = |w, h| {
        DynamicImage::ImageLuma8(ImageBuffer::from_fn(w, h, |x, y| {
            Luma([(x * 40 + y * 7) as u8])
        }))
    };
    let rgb = |w, h| {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
            Rgb([(x * 30) as u8, (y * 50) as u8, 200])
        }))
    };
    let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(3, 3, |x, y| {
        Rgba([(x * 80) as u8, (y * 80) as u8, 10, 128])
    }));
    let gray16 = DynamicImage::ImageLuma16(ImageBuffer::from_fn(2, 2, |x, y| {
        Luma([(x * 30000 + y * 1000) as u16])
    }));
    // Header: name index (image_folder's NAMES), channels (0: one, 1: three), width, height.
    let cases: Vec<(&str, [u8; 4], Vec<u8>)> = vec![
        (
            "png-gray",
            [0, 0, 4, 3],
            encode(gray(4, 3), ImageFormat::Png)?,
        ),
        (
            "png-rgb",
            [0, 1, 5, 2],
            encode(rgb(5, 2), ImageFormat::Png)?,
        ),
        (
            "png-rgba-upper",
            [3, 1, 3, 3],
            encode(rgba, ImageFormat::Png)?,
        ),
        (
            "png-gray16-as-rgb",
            [0, 1, 2, 2],
            encode(gray16, ImageFormat::Png)?,
        ),
        (
            "jpg-rgb",
            [1, 1, 8, 8],
            encode(rgb(8, 8), ImageFormat::Jpeg)?,
        ),
        (
            "jpeg-gray",
            [2, 0, 16, 8],
            encode(gray(16, 8), ImageFormat::Jpeg)?,
        ),
        (
            "png-wrong-size",
            [0, 0, 3, 4],
            encode(gray(4, 3), ImageFormat::Png)?,
        ),
        ("text", [6, 0, 1, 1], b"not an image".to_vec()),
    ];
    for (name, header, file) in &cases {
        let mut bytes = header.to_vec();
        bytes.extend(file);
        seeds.write("image_folder", name, &bytes)?;
    }
    let (_, header, jpeg) = &cases[4];
    let mut truncated = header.to_vec();
    truncated.extend(&jpeg[..jpeg.len() / 2]);
    seeds.write("image_folder", "jpg-truncated", &truncated)?;
    Ok(())
}

fn celeba_partition(seeds: &Seeds) -> std::io::Result<()> {
    let target = "celeba_partition";
    seeds.write(
        target,
        "valid",
        b"000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n000004.jpg 0\n",
    )?;
    seeds.write(
        target,
        "crlf-blank",
        b"000001.jpg 0\r\n\r\n  000002.jpg\t2  \r\n",
    )?;
    seeds.write(target, "bad-code", b"000001.jpg 0\n000002.jpg 3\n")?;
    seeds.write(target, "escape", b"../000001.jpg 0\n")
}

fn options() -> TrainOptions {
    TrainOptions {
        dataset: DatasetKind::FashionMnist,
        data_dir: None,
        quantizer: QuantizerKind::Lattice,
        codebook: Default::default(),
        backend: BackendKind::Candle,
        device: lattice_vq_experiments::train::Device::Cpu,
        epochs: 5,
        batch_size: 64,
        lr: 1e-3,
        seed: 0,
        protocol: Protocol::Paper,
        max_steps_per_epoch: Some(100),
        max_eval_images: None,
        checkpoint_every: 500,
        threads: Some(2),
        count_train_codes: false,
        out_dir: "runs/fashion-mnist".into(),
        progress: true,
    }
}

fn run_state(seeds: &Seeds) -> Result<(), Box<dyn std::error::Error>> {
    let epoch = EpochRecord {
        kind: "epoch".into(),
        epoch: 0,
        lr: 1e-3,
        steps: 100,
        batches: 100,
        mean: StepStats {
            loss: 0.125,
            reconstruction: 0.0625,
            embedding: 0.01,
            commitment: 0.01,
            size: -2.5,
        },
        train_unique_codes: 61,
        validation_mse: Some(0.05),
        mode: EpochMode::Trained,
        seconds: 12.5,
    };
    let state = LoopState {
        epoch: 1,
        batch_in_epoch: 3,
        global_step: 103,
        elapsed_seconds: 13.25,
        metrics_bytes: 64,
        epochs: vec![epoch.clone()],
        epoch_so_far: EpochTally {
            steps: 3,
            batches: 3,
            ..EpochTally::default()
        },
    };
    write_json(&seeds.path("run_state", "state")?, &state)?;
    seeds.write(
        "run_state",
        "folder-name",
        Position::of(&state).name().as_bytes(),
    )?;
    write_json(&seeds.path("run_state", "options")?, &options())?;
    let result = RunResult {
        options: options(),
        data_source: "embedded fashion-mnist sample (4000 train, 1000 test)".into(),
        epochs: vec![epoch],
        test: EvalReport {
            images: 1000,
            vectors: 196_000,
            mse: 0.0508,
            unique_codes: 61,
            perplexity: 12.5,
            unique_codes_sketch: Some(60.7),
            overload_rate: None,
            vocabulary_size: None,
            out_of_vocabulary_rate: None,
            tokens_mse: None,
            model: None,
            data_source: None,
            seconds: 1.5,
        },
        train_unique_codes_eval: None,
        train_unique_vectors_paper: None,
        train_seconds: 60.0,
        model: "runs/fashion-mnist/model.safetensors".into(),
    };
    write_json(&seeds.path("run_state", "result")?, &result)?;
    Ok(())
}

fn epoch_codes(seeds: &Seeds) -> Result<(), Box<dyn std::error::Error>> {
    use lattice_vq_experiments::train::epoch_codes::encode;
    let target = "epoch_codes";
    seeds.write(target, "nothing-counted", &encode(None))?;
    let mut codes = UniqueCodes::new(2);
    codes.insert_rows(ndarray::array![[0, 1], [1, 0], [0, 1], [-7, 3]].view())?;
    seeds.write(target, "two-dims", &encode(Some(&codes)))?;
    let mut empty_rows = UniqueCodes::new(0);
    empty_rows.insert(&[])?;
    empty_rows.insert(&[])?;
    seeds.write(target, "zero-dims", &encode(Some(&empty_rows)))?;
    let mut huge = UniqueCodes::new(3);
    huge.add_key_count(code_key(&[0, 0, 0]), u64::MAX - 1)?;
    seeds.write(target, "huge-count", &encode(Some(&huge)))?;
    Ok(())
}

fn checkpoints(seeds: &Seeds) -> Result<(), Box<dyn std::error::Error>> {
    use lattice_vq_experiments::train::candle_backend::CandleBackend;
    let scratch = lattice_vq_fuzz::scratch::Scratch::new();
    for (selector, name) in ["sparse-lattice", "dense-lattice", "vq", "vq-ema"]
        .into_iter()
        .enumerate()
    {
        let selector = selector as u8;
        let mut backend = CandleBackend::new(&tiny_model(), &quantizer(selector), Device::Cpu, 1)?;
        backend.train_step(&tiny_batch(), 1e-3, CodeKind::None)?;
        let (model, optimizer) = (scratch.path().join("m"), scratch.path().join("o"));
        backend.save(&model, Some(&optimizer))?;
        for target in ["checkpoint_candle", "checkpoint_tch"] {
            let mut bytes = vec![selector];
            bytes.extend(std::fs::read(&model)?);
            seeds.write(target, &format!("{name}-model"), &bytes)?;
            let mut bytes = vec![selector | 4];
            bytes.extend(std::fs::read(&optimizer)?);
            seeds.write(target, &format!("{name}-optimizer"), &bytes)?;
        }
    }
    Ok(())
}

/// The config part of a `core_lattice` input: K, D, beta, gamma, init, half-width, seed.
fn lattice_config(k: u64, d: u16, init_byte: u8, half_width: f64) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(k.to_le_bytes());
    bytes.extend(d.to_le_bytes());
    bytes.extend(0.25f64.to_le_bytes());
    bytes.extend(1.0f64.to_le_bytes());
    bytes.push(init_byte);
    bytes.extend(half_width.to_le_bytes());
    bytes.extend(7u64.to_le_bytes());
    bytes
}

fn core_lattice(seeds: &Seeds) -> std::io::Result<()> {
    let target = "core_lattice";
    let f32s = |values: &[f32]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>()
    };
    let f64s = |values: &[f64]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>()
    };

    let mut bytes = vec![0];
    bytes.extend(lattice_config(512, 64, 0, 1.0));
    bytes.push(2);
    bytes.extend(f32s(&[1.0, 0.5, 0.5, 0.8, 1.5, -0.2, 2.5, 1e7, -3.25, 0.0]));
    seeds.write(target, "f32", &bytes)?;

    let mut bytes = vec![1];
    bytes.extend(lattice_config(16, 3, 1, 1.0));
    bytes.push(3);
    bytes.extend(f64s(&[
        2.0, -0.25, 9.77, 2.9, -5.0, 0.125, 1e-3, 7.0, -40.0,
    ]));
    seeds.write(target, "f64", &bytes)?;

    let mut bytes = vec![2];
    bytes.extend(lattice_config(4, 2, 1, 2.5));
    bytes.push(2);
    bytes.extend(f32s(&[0.3, -2.0]));
    for k in [1i16, -1, 3, 2, -5, 0, 32767, -32768] {
        bytes.extend(k.to_le_bytes());
    }
    seeds.write(target, "f32-ties", &bytes)?;

    let mut bytes = vec![1];
    bytes.extend(lattice_config(2, 1, 0, 0.0));
    bytes.push(4);
    bytes.extend(f64s(&[1.5e-154, 6.7e153, 1.0, 1e-300]));
    bytes.extend(f64s(&[f64::NAN, 1.0, 2.0, 3.0]));
    seeds.write(target, "f64-edges", &bytes)?;
    Ok(())
}

fn core_counting(seeds: &Seeds) -> std::io::Result<()> {
    let target = "core_counting";
    // flags, dimension byte, precision, split, then codes.
    let mut small = vec![1, 2, 12, 128];
    small.extend((0..40u32).map(|i| (i * 7 % 5) as u8));
    seeds.write(target, "small-codes", &small)?;
    let mut raw = vec![0, 3, 4, 85];
    for code in [1i32, -2, 3, 1, -2, 3, i32::MIN, i32::MAX, 0, 1, -2, 3] {
        raw.extend(code.to_le_bytes());
    }
    seeds.write(target, "raw-codes", &raw)?;
    // D = 258 (dimension byte 244): longer than the 256 codes code_key hashes in one shot.
    let mut long = vec![1, 244, 18, 128];
    long.extend((0..2 * 258).map(|i| (i % 258 % 3) as u8));
    seeds.write(target, "long-rows", &long)?;
    seeds.write(target, "empty-rows", &[0, 0, 3, 100, 5])
}
