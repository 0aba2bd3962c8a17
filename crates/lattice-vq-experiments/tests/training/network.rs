//! The network follows the checkpoint: `evaluate` infers it from the tensors (or takes
//! `--model`, which must agree), whatever the dataset; a few FFHQ or CelebA images in a
//! folder without the official layout's extra files evaluate with the official checkpoints.
//! Without the checkpoints the tests that need them fail when `CI` is set and are skipped
//! otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use lattice_vq_core::VqVaeConfig;
use lattice_vq_experiments::Error;
use lattice_vq_experiments::data::{celeba, ffhq};
use lattice_vq_experiments::train::checkpoint_eval::{EvalOptions, EvalSplit, evaluate_checkpoint};
use lattice_vq_experiments::train::network_choice::{ModelKind, choose_network, infer_network};
use lattice_vq_experiments::train::run::{model_configs, run};
use lattice_vq_experiments::train::{DatasetKind, QuantizerKind};

use crate::support::smoke_options;

/// An MSE below the test images' variance.
const BETTER_THAN_THE_MEAN: f64 = 0.05;

/// The official checkpoints' quantizer suffixes.
const QUANTIZERS: [&str; 4] = ["vq", "vq-ema", "sparse_lattice", "dense_lattice"];

/// `shared/reference-checkpoints/{prefix}_{quantizer}.safetensors`, if it is there.
fn official(prefix: &str, quantizer: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference-checkpoints")
        .join(format!("{prefix}_{quantizer}.safetensors"));
    if !path.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "official checkpoint {} is missing in CI",
            path.display()
        );
        eprintln!("skipped: {} not found", path.display());
    }
    path.is_file().then_some(path)
}

/// Smooth images (JPEG keeps them within a few levels), told apart by their blue. Their
/// pixels' variance is about 0.056 (red and green ramps, blue flat): an MSE below
/// [`BETTER_THAN_THE_MEAN`] is a network that reconstructs them, not one that blurs them
/// to grey. Not faces: the VQ checkpoints score 0.03 to 0.045 on them, the lattices less.
fn pattern(id: u32, width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            (40 + 30 * id) as u8,
        ])
    })
}

/// `count` aligned-CelebA-sized (178x218) JPEGs `000001.jpg`.. in `dir`.
fn celeba_images(dir: &Path, count: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for id in 1..=count {
        let mut bytes = Vec::new();
        let image = pattern(id, celeba::WIDTH as u32, celeba::HEIGHT as u32);
        JpegEncoder::new_with_quality(&mut bytes, 95)
            .encode_image(&image)
            .unwrap();
        std::fs::write(dir.join(format!("{id:06}.jpg")), bytes).unwrap();
    }
}

/// Two FFHQ-sized (1024x1024) RGB PNGs `00000.png`, `00001.png`: the loader reads PNG
/// (and JPEG) of exactly that size.
fn ffhq_images() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for id in 0..2 {
        let side = ffhq::SIDE as u32;
        pattern(id, side, side)
            .save(dir.path().join(format!("{id:05}.png")))
            .unwrap();
    }
    dir
}

#[test]
fn model_names_are_the_official_prefixes_and_the_cores_configs() {
    use clap::ValueEnum;
    for kind in ModelKind::ALL {
        assert_eq!(kind.to_possible_value().unwrap().get_name(), kind.name());
        assert_eq!(kind.to_string(), kind.name());
        assert_eq!(VqVaeConfig::for_dataset(kind.name()), Some(kind.config()));
        assert_eq!(ModelKind::of(&kind.config()), Some(kind));
    }
    assert_eq!(ModelKind::value_variants(), ModelKind::ALL);
}

#[test]
fn the_network_is_inferred_from_every_official_checkpoint() {
    for kind in ModelKind::ALL {
        for quantizer in QUANTIZERS {
            if let Some(path) = official(kind.name(), quantizer) {
                let network = infer_network(&path).unwrap();
                assert_eq!(network, kind.config(), "{kind} {quantizer}");
                assert_eq!(choose_network(&path, Some(kind)).unwrap(), network);
            }
        }
    }
}

#[test]
fn a_trained_run_holds_the_network_its_options_give_the_one_resuming_builds() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = smoke_options(
        dir.path(),
        QuantizerKind::Vq,
        crate::support::backends()[0],
        1,
    );
    options.max_eval_images = Some(4);
    let result = run(&options).unwrap();
    let (network, _) = model_configs(&options).unwrap();
    assert_eq!(infer_network(&result.model).unwrap(), network);
    assert_eq!(ModelKind::of(&network), Some(ModelKind::FashionMnist));
}

#[test]
fn official_ffhq_checkpoints_evaluate_two_images_of_a_folder_without_a_split() {
    let images = ffhq_images();
    for quantizer in QUANTIZERS {
        let Some(path) = official("ffhq1024", quantizer) else {
            continue;
        };
        let report = evaluate_checkpoint(
            &EvalOptions::new(&path)
                .with_dataset(DatasetKind::Ffhq1024, images.path())
                .with_batch_size(2)
                .with_threads(1),
        )
        .unwrap();
        eprintln!("ffhq1024_{quantizer} on 2 images: mse {:.6}", report.mse);
        assert_eq!(report.images, 2, "{quantizer}");
        assert_eq!(
            report.vectors,
            2 * 256 * 256,
            "{quantizer}: 256x256 latents"
        );
        assert!(
            report.mse.is_finite() && report.mse < BETTER_THAN_THE_MEAN,
            "{quantizer}: {report:?}"
        );
        let model = report.model.unwrap();
        assert!(model.contains("ffhq1024"), "{model}");
        let source = report.data_source.unwrap();
        assert!(
            source.contains("every image") && source.contains("2 images"),
            "{source}"
        );
    }
}

#[test]
fn official_celeba_checkpoints_evaluate_six_images_without_the_partition_file() {
    // The official layout without its partition file, then a bare folder of the images.
    let root = tempfile::tempdir().unwrap();
    celeba_images(&root.path().join(celeba::IMAGE_DIR), 6);
    let flat = tempfile::tempdir().unwrap();
    celeba_images(flat.path(), 6);
    for (i, quantizer) in QUANTIZERS.into_iter().enumerate() {
        let Some(path) = official("celeba", quantizer) else {
            continue;
        };
        let folder = if i == 0 { flat.path() } else { root.path() };
        let report = evaluate_checkpoint(
            &EvalOptions::new(&path)
                .with_dataset(DatasetKind::Celeba, folder)
                // The split asked for does not matter: there is none.
                .with_split(EvalSplit::Validation)
                .with_threads(1),
        )
        .unwrap();
        eprintln!("celeba_{quantizer} on 6 images: mse {:.6}", report.mse);
        assert_eq!(report.images, 6, "{quantizer}");
        assert_eq!(report.vectors, 6 * 74 * 74, "{quantizer}: 74x74 latents");
        assert!(
            report.mse.is_finite() && report.mse < BETTER_THAN_THE_MEAN,
            "{quantizer}: {report:?}"
        );
        assert!(report.model.unwrap().contains("celeba"));
        let source = report.data_source.unwrap();
        assert!(
            source.contains("6 images") && source.contains(celeba::PARTITION_FILE),
            "{source}"
        );
    }
}

#[test]
fn a_celeba_folder_with_its_partition_file_still_evaluates_one_partition() {
    let Some(path) = official("celeba", "vq") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    celeba_images(&root.path().join(celeba::IMAGE_DIR), 3);
    std::fs::write(
        root.path().join(celeba::PARTITION_FILE),
        "000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n",
    )
    .unwrap();
    let report = evaluate_checkpoint(
        &EvalOptions::new(&path)
            .with_dataset(DatasetKind::Celeba, root.path())
            .with_threads(1),
    )
    .unwrap();
    assert_eq!(report.images, 1, "the test partition");
    assert!(!report.data_source.unwrap().contains("every image"));
}

#[test]
fn a_model_that_contradicts_the_checkpoint_is_a_typed_error_naming_both() {
    let folder = tempfile::tempdir().unwrap();
    celeba_images(folder.path(), 1);
    for (prefix, asked, found) in [
        ("celeba", ModelKind::Ffhq1024, "celeba"),
        ("ffhq1024", ModelKind::Celeba, "ffhq1024"),
        // The same hidden dims, one channel instead of three.
        ("fashion-mnist", ModelKind::Celeba, "fashion-mnist"),
        ("celeba", ModelKind::FashionMnist, "celeba"),
    ] {
        let Some(path) = official(prefix, "vq") else {
            continue;
        };
        let error = evaluate_checkpoint(
            &EvalOptions::new(&path)
                .with_model(asked)
                .with_dataset(DatasetKind::Celeba, folder.path()),
        )
        .unwrap_err();
        assert!(
            matches!(&error, Error::ModelMismatch { checkpoint, .. } if *checkpoint == path),
            "{prefix} as {asked}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("the {asked} network"))
                && message.contains(&format!("the {found} network")),
            "{message}"
        );
    }
}

#[test]
fn images_the_checkpoints_network_cannot_take_are_refused_naming_both() {
    let Some(path) = official("fashion-mnist", "vq") else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    celeba_images(folder.path(), 1);
    let error = evaluate_checkpoint(
        &EvalOptions::new(&path).with_dataset(DatasetKind::Celeba, folder.path()),
    )
    .unwrap_err();
    assert!(matches!(error, Error::Invalid { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("3x148x148") && message.contains("the fashion-mnist network"),
        "{message}"
    );
}

#[test]
fn a_checkpoint_whose_network_is_not_the_papers_is_a_format_error_naming_the_tensor() {
    let Some(path) = official("celeba", "sparse_lattice") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let edited = |name: &str, edit: &dyn Fn(&mut HashMap<String, Tensor>)| {
        let mut tensors = tensors.clone();
        edit(&mut tensors);
        let file = dir.path().join(format!("{name}.safetensors"));
        candle_core::safetensors::save(&tensors, &file).unwrap();
        file
    };
    let wrong_bias = edited("bias", &|t| {
        let bias = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
        t.insert("_decoder.4.0.bias".to_owned(), bias);
    });
    let no_decoder = edited("decoder", &|t| {
        t.remove("_decoder.4.0.weight");
    });
    let no_encoder = edited("encoder", &|t| {
        t.remove("_encoder.0.0.weight");
    });
    for (file, says) in [
        (wrong_bias, "_decoder.4.0.bias has shape [5], not [3]"),
        (no_decoder, "no _decoder.4.0.weight"),
        (no_encoder, "no _encoder.0.0.weight"),
    ] {
        let error = infer_network(&file).unwrap_err();
        assert!(matches!(error, Error::Format { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(says), "{message}");
    }
}
