//! Fashion-MNIST: the embedded sample and the fallback to it.

use std::path::PathBuf;

use lattice_vq_experiments::data::embedded::{
    Source, TEST_LEN, TRAIN_LEN, embedded_sample, load_or_embedded_in,
};
use lattice_vq_experiments::data::{Dataset, Split};
use lattice_vq_experiments::fashion_mnist::{FashionMnist, locate_in};

use crate::support::{error_path, gzip, idx_bytes, write};

/// Write a tiny Fashion-MNIST split (`n` images) into `dir`.
fn write_split(dir: &std::path::Path, prefix: &str, n: u32) {
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    write(
        dir,
        &format!("{prefix}-images-idx3-ubyte.gz"),
        &gzip(&idx_bytes(&[n, 28, 28], &pixels)),
    );
    write(
        dir,
        &format!("{prefix}-labels-idx1-ubyte"),
        &idx_bytes(&[n], &labels),
    );
}

#[test]
fn embedded_sample_has_both_splits_preprocessed() {
    for (split, len) in [(Split::Train, TRAIN_LEN), (Split::Test, TEST_LEN)] {
        let data = embedded_sample(split).unwrap();
        assert_eq!(data.len(), len);
        assert_eq!(data.pixels.len(), len * 28 * 28);
        assert!(data.pixels.iter().all(|p| (-0.5..=0.5).contains(p)));
        assert!(data.labels.iter().all(|&l| l < 10));
        // Real images: both ends of the range occur, and all ten classes.
        assert!(data.pixels.contains(&-0.5) && data.pixels.contains(&0.5));
        assert!((0..10).all(|c| data.labels.contains(&c)));
    }
}

#[test]
fn embedded_sample_is_the_start_of_the_full_set_when_installed() {
    let dir = std::path::Path::new(lattice_vq_experiments::fashion_mnist::SYSTEM_DIR);
    let Ok(full) = FashionMnist::load(dir, Split::Test) else {
        return; // the full dataset is optional
    };
    let sample = embedded_sample(Split::Test).unwrap();
    assert_eq!(sample.labels[..], full.labels[..TEST_LEN]);
    assert_eq!(sample.pixels[..], full.pixels[..TEST_LEN * 784]);
}

#[test]
fn falls_back_to_the_sample_only_when_nothing_is_found() {
    let empty = tempfile::tempdir().unwrap();
    let candidates = [
        empty.path().to_path_buf(),
        PathBuf::from("/nonexistent/fmnist"),
    ];
    let (data, source) = load_or_embedded_in(&candidates, Split::Test).unwrap();
    assert_eq!(source, Source::Embedded);
    assert_eq!(data.len(), TEST_LEN);
    assert!(source.to_string().contains("embedded"));

    let full = tempfile::tempdir().unwrap();
    write_split(full.path(), "t10k", 3);
    let candidates = [empty.path().to_path_buf(), full.path().to_path_buf()];
    let (data, source) = load_or_embedded_in(&candidates, Split::Test).unwrap();
    assert_eq!(source, Source::Files(full.path().to_path_buf()));
    assert_eq!(data.labels, vec![0, 1, 2]);
    assert_eq!(data.shape().len(), 784);
}

#[test]
fn corrupt_or_incomplete_found_directory_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "t10k", 3);
    let candidates = [dir.path().to_path_buf()];
    // Found (it holds the test images) but the training files are missing.
    let err = load_or_embedded_in(&candidates, Split::Train).unwrap_err();
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    // Found, but the labels are truncated.
    let labels = write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_bytes(&[3], &[1, 2]),
    );
    let err = load_or_embedded_in(&candidates, Split::Test).unwrap_err();
    assert_eq!(error_path(&err), Some(labels.as_path()), "{err}");
}

#[test]
fn labels_out_of_range_and_wrong_image_size_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "t10k", 2);
    let labels = write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_bytes(&[2], &[1, 10]),
    );
    let err = FashionMnist::load(dir.path(), Split::Test).unwrap_err();
    assert_eq!(error_path(&err), Some(labels.as_path()), "{err}");
    let images = write(
        dir.path(),
        "t10k-images-idx3-ubyte.gz",
        &gzip(&idx_bytes(&[2, 27, 29], &[0; 2 * 27 * 29])),
    );
    let err = FashionMnist::load(dir.path(), Split::Test).unwrap_err();
    assert_eq!(error_path(&err), Some(images.as_path()), "{err}");
}

#[test]
fn locate_in_reports_every_place_searched() {
    let err = locate_in(&[PathBuf::from("/nowhere/a"), PathBuf::from("/nowhere/b")]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("/nowhere/a") && message.contains("/nowhere/b"),
        "{message}"
    );
}

#[test]
fn sample_directory_loads_as_a_plain_dataset_directory() {
    let dir = std::path::Path::new(lattice_vq_experiments::data::embedded::SOURCE_DIR);
    let from_files = FashionMnist::load(dir, Split::Train).unwrap();
    let embedded = embedded_sample(Split::Train).unwrap();
    assert_eq!(from_files.labels, embedded.labels);
    assert_eq!(from_files.pixels, embedded.pixels);
}
