//! `evaluate` on the official Fashion-MNIST checkpoints gives the reference numbers of
//! `shared/design/paper-notes.md`. Without the data or checkpoints the test fails when `CI`
//! is set and is skipped otherwise.

use std::path::PathBuf;

use lattice_vq_experiments::fashion_mnist;
use lattice_vq_experiments::train::checkpoint_eval::{
    EvalOptions, EvalSplit, evaluate_checkpoint, infer_quantizer,
};
use lattice_vq_experiments::train::{DatasetKind, Device, QuantizerKind};

fn checkpoint(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference-checkpoints")
        .join(format!("fashion-mnist_{name}.safetensors"));
    let found = path.is_file() && fashion_mnist::locate(None).is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "official checkpoint {} or the Fashion-MNIST test set is missing in CI",
            path.display()
        );
        eprintln!("skipped: {} or Fashion-MNIST not found", path.display());
    }
    found.then_some(path)
}

#[test]
fn the_quantizer_is_inferred_from_the_checkpoint() {
    for (name, quantizer, codebook_size) in [
        ("vq", QuantizerKind::Vq, Some(512)),
        ("vq-ema", QuantizerKind::VqEma, Some(512)),
        ("sparse_lattice", QuantizerKind::Lattice, None),
        ("dense_lattice", QuantizerKind::Lattice, None),
    ] {
        if let Some(path) = checkpoint(name) {
            let (kind, codebook) = infer_quantizer(&path).unwrap();
            assert_eq!((kind, codebook.codebook_size), (quantizer, codebook_size));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let error = infer_quantizer(&bad).unwrap_err();
    assert!(
        matches!(error, lattice_vq_experiments::Error::Safetensors { .. }),
        "{error:?}"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "{error:?}: keeps candle's error"
    );
    let message = error.to_string();
    assert!(message.contains("bad.safetensors"), "{message}");
}

#[test]
fn evaluate_reproduces_the_official_sparse_lattice_checkpoint() {
    let Some(path) = checkpoint("sparse_lattice") else {
        return;
    };
    // tch where the build has it (faster), else candle: both match (docs/parity.md).
    let backend = *crate::support::backends().last().unwrap();
    let report = evaluate_checkpoint(&EvalOptions {
        checkpoint: path,
        model: None,
        quantizer: None,
        codebook: Default::default(),
        tokens: None,
        from_tokens: None,
        vocabulary_from: None,
        dataset: DatasetKind::FashionMnist,
        data_dir: None,
        split: EvalSplit::Test,
        backend,
        device: Device::Cpu,
        batch_size: 500,
        max_images: None,
        sketch_precision: Some(14),
        threads: Some(1),
        progress: false,
    })
    .unwrap();
    assert_eq!(report.images, 10_000);
    assert_eq!(report.vectors, 1_960_000);
    assert!(
        (report.mse - 0.0094180).abs() < 1e-6,
        "{backend:?}: mse {}",
        report.mse
    );
    assert_eq!(report.unique_codes, 399, "{backend:?}");
    let estimate = report.unique_codes_sketch.unwrap();
    assert!((estimate - 399.0).abs() < 0.05 * 399.0, "sketch {estimate}");
}
