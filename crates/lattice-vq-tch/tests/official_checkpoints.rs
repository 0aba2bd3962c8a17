//! Parity with the authors' own trained models on the real Fashion-MNIST test set.
//!
//! Reference numbers (paper-notes.md): per-pixel test MSE and unique codes of the official
//! checkpoints, evaluated in eval mode on 10,000 images with inputs `x / 255 - 0.5`. These
//! tests need the data (`apt-get install dataset-fashion-mnist`, which scripts/test does) and
//! `../shared/reference-checkpoints`; without them they fail when `CI` is set and skip with a
//! message otherwise.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::support::*;
use lattice_core::UniqueCodes;
use lattice_vq_experiments::fashion_mnist::{self, FashionMnist, Split};
use lattice_vq_tch::{QuantizerConfig, VqVae, VqVaeConfig, load_checkpoint};
use tch::{Kind, Tensor, nn};

const BATCH: usize = 500;

fn checkpoint_dir() -> PathBuf {
    std::env::var_os("LATTICE_VQ_CHECKPOINTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference-checkpoints")
        })
}

/// The test set and checkpoint, or `None` (skip) when absent outside CI.
fn inputs(name: &str) -> Option<(FashionMnist, PathBuf)> {
    let checkpoint = checkpoint_dir().join(format!("fashion-mnist_{name}.safetensors"));
    let data = fashion_mnist::locate(None);
    let in_ci = std::env::var_os("CI").is_some();
    match (data, checkpoint.is_file()) {
        (Ok(dir), true) => Some((FashionMnist::load(&dir, Split::Test).unwrap(), checkpoint)),
        (data, found) => {
            let why = format!(
                "data: {:?}, checkpoint {} present: {found}",
                data.err(),
                checkpoint.display()
            );
            assert!(!in_ci, "official checkpoint parity cannot run in CI: {why}");
            eprintln!("skipping official checkpoint parity for {name}: {why}");
            None
        }
    }
}

/// Per-pixel MSE and unique codes of an official checkpoint on the test set, eval mode.
fn evaluate(name: &str) -> Option<(f64, usize)> {
    single_thread();
    let (data, checkpoint) = inputs(name)?;
    let mut vs = nn::VarStore::new(CPU);
    let quantizer = QuantizerConfig::by_name(name, 64).unwrap();
    let model = VqVae::new(&vs.root(), &VqVaeConfig::fashion_mnist(), &quantizer).unwrap();
    load_checkpoint(&mut vs, &checkpoint).unwrap();
    let pixels_per_image = 28 * 28;
    let mut squared_error = 0.0f64;
    let mut lattice_codes = UniqueCodes::new(64);
    let mut indices = HashSet::new();
    tch::no_grad(|| {
        for chunk in data.pixels.chunks(BATCH * pixels_per_image) {
            let n = (chunk.len() / pixels_per_image) as i64;
            let images = Tensor::from_slice(chunk).view([n, 1, 28, 28]);
            let out = model.forward_t(&images, false).unwrap();
            let diff = (&out.reconstruction - &images).to_kind(Kind::Double);
            squared_error += diff.square().sum(Kind::Double).double_value(&[]);
            let codes = &out.quantizer.codes;
            if codes.dim() == 4 {
                lattice_codes
                    .insert_rows(to_array_i32(&codes.view([-1, 64])).view())
                    .unwrap();
            } else {
                indices.extend(Vec::<i64>::try_from(codes.view([-1])).unwrap());
            }
        }
    });
    let mse = squared_error / data.pixels.len() as f64;
    let unique = if lattice_codes.is_empty() {
        indices.len()
    } else {
        lattice_codes.len()
    };
    eprintln!("fashion-mnist_{name}: test MSE {mse:.9}, unique codes {unique}");
    Some((mse, unique))
}

fn check(name: &str, reference_mse: f64, reference_codes: usize) {
    let Some((mse, unique)) = evaluate(name) else {
        return;
    };
    assert!(
        (mse - reference_mse).abs() <= 1e-6,
        "{name}: MSE {mse} vs reference {reference_mse}"
    );
    assert_eq!(unique, reference_codes, "{name}: unique codes");
}

#[test]
fn vq_matches_the_official_checkpoint() {
    check("vq", 0.0122602, 17);
}

#[test]
fn vq_ema_matches_the_official_checkpoint() {
    check("vq-ema", 0.0296100, 201);
}

#[test]
fn sparse_lattice_matches_the_official_checkpoint() {
    check("sparse_lattice", 0.0094180, 399);
}

#[test]
fn dense_lattice_matches_the_official_checkpoint() {
    check("dense_lattice", 0.0070142, 1_913_257);
}
