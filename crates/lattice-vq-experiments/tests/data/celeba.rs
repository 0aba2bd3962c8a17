//! CelebA on a generated miniature: a few 178x218 JPEGs and a partition file.

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use lattice_vq_experiments::data::celeba::{CROP, HEIGHT, Partition, WIDTH};
use lattice_vq_experiments::data::{CelebA, Dataset};

use crate::support::{error_path, load, mirrored, write};

/// Red runs with the column, green with the row, blue tells images apart: smooth, so JPEG
/// keeps it within a few levels.
fn pattern(id: u8, width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 20 + 40 * id]))
}

fn write_jpeg(path: &Path, image: &RgbImage) {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 100)
        .encode_image(image)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Five images: 000001 and 000004 train, 000002 and 000005 valid, 000003 test.
fn miniature() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let images = root.path().join("img_align_celeba");
    std::fs::create_dir(&images).unwrap();
    let mut list = String::new();
    for (id, partition) in [(1u8, 0), (2, 1), (3, 2), (4, 0), (5, 1)] {
        let name = format!("{id:06}.jpg");
        write_jpeg(
            &images.join(&name),
            &pattern(id, WIDTH as u32, HEIGHT as u32),
        );
        list.push_str(&format!("{name} {partition}\r\n"));
    }
    write(root.path(), "list_eval_partition.txt", list.as_bytes());
    root
}

#[test]
fn partitions_select_their_images_in_file_order() {
    let root = miniature();
    let train = CelebA::open(root.path(), Partition::Train).unwrap();
    let valid = CelebA::open(root.path(), Partition::Valid).unwrap();
    let test = CelebA::open(root.path(), Partition::Test).unwrap();
    assert_eq!((train.len(), valid.len(), test.len()), (2, 2, 1));
    let name = |d: &CelebA, i| {
        d.path(i)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(name(&train, 0), "000001.jpg");
    assert_eq!(name(&train, 1), "000004.jpg");
    assert_eq!(name(&valid, 1), "000005.jpg");
    assert_eq!(name(&test, 0), "000003.jpg");
    assert!(train.flips_in_training());
}

#[test]
fn images_are_center_cropped_chw_in_unit_range() {
    let root = miniature();
    let train = CelebA::open(root.path(), Partition::Train).unwrap();
    let shape = train.shape();
    assert_eq!((shape.channels, shape.height, shape.width), (3, CROP, CROP));
    let image = load(&train, 1, false); // 000004.jpg
    assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
    let plane = CROP * CROP;
    // torchvision CenterCrop(148) on 178x218: rows from 35, columns from 15.
    let tolerance = 4.0 / 255.0;
    for (y, x) in [(0, 0), (0, 147), (147, 0), (74, 74), (147, 147)] {
        let at = |c: usize| image[c * plane + y * CROP + x];
        assert!(
            (at(0) - (x + 15) as f32 / 255.0).abs() < tolerance,
            "red at {y},{x}"
        );
        assert!(
            (at(1) - (y + 35) as f32 / 255.0).abs() < tolerance,
            "green at {y},{x}"
        );
        assert!((at(2) - 180.0 / 255.0).abs() < tolerance, "blue at {y},{x}");
    }
}

#[test]
fn flip_mirrors_the_crop() {
    let root = miniature();
    let valid = CelebA::open(root.path(), Partition::Valid).unwrap();
    let plain = load(&valid, 0, false);
    let flipped = load(&valid, 0, true);
    assert_eq!(flipped, mirrored(&plain, valid.shape()));
}

#[test]
fn wrong_size_image_is_an_error_naming_the_file() {
    let root = miniature();
    let bad = root.path().join("img_align_celeba/000003.jpg");
    write_jpeg(&bad, &pattern(3, 178, 200));
    let test = CelebA::open(root.path(), Partition::Test).unwrap();
    let mut out = vec![0.0; test.shape().len()];
    let err = test.load(0, false, &mut out).unwrap_err();
    assert_eq!(error_path(&err), Some(bad.as_path()), "{err}");
    assert!(err.to_string().contains("178x200"), "{err}");
}

#[test]
fn truncated_or_missing_image_is_an_error_naming_the_file() {
    let root = miniature();
    let truncated = root.path().join("img_align_celeba/000001.jpg");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let missing = root.path().join("img_align_celeba/000004.jpg");
    std::fs::remove_file(&missing).unwrap();
    let train = CelebA::open(root.path(), Partition::Train).unwrap();
    let mut out = vec![0.0; train.shape().len()];
    for (i, path) in [(0, truncated), (1, missing)] {
        let err = train.load(i, false, &mut out).unwrap_err();
        assert_eq!(error_path(&err), Some(path.as_path()), "{err}");
    }
}

#[test]
fn malformed_partition_file_is_an_error_naming_the_line() {
    let root = miniature();
    for (text, needle) in [
        ("000001.jpg 0\n000002.jpg 3\n", "line 2"),
        ("000001.jpg\n", "line 1"),
        ("../secret.jpg 0\n", "line 1"),
    ] {
        write(root.path(), "list_eval_partition.txt", text.as_bytes());
        let err = CelebA::open(root.path(), Partition::Train).unwrap_err();
        assert!(err.to_string().contains("list_eval_partition.txt"), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let err = CelebA::open(&root.path().join("nope"), Partition::Train).unwrap_err();
    assert!(err.to_string().contains("list_eval_partition.txt"), "{err}");
}

#[test]
fn every_image_reads_the_folder_without_a_partition_file() {
    // The official layout without its partition file: the image folder's images, by name.
    let root = miniature();
    std::fs::remove_file(root.path().join("list_eval_partition.txt")).unwrap();
    let all = CelebA::every_image(root.path()).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all.image_dir(), root.path().join("img_align_celeba"));
    let shape = all.shape();
    assert_eq!((shape.channels, shape.height, shape.width), (3, CROP, CROP));
    // Cropped as the partitions' images are.
    let other = miniature();
    let test = CelebA::open(other.path(), Partition::Test).unwrap();
    assert_eq!(load(&all, 2, false), load(&test, 0, false)); // 000003.jpg
    // A bare folder of the images, and one without any.
    let flat = root.path().join("img_align_celeba");
    assert_eq!(CelebA::every_image(&flat).unwrap().len(), 5);
    let empty = tempfile::tempdir().unwrap();
    let err = CelebA::every_image(empty.path()).unwrap_err();
    assert_eq!(error_path(&err), Some(empty.path()), "{err}");
    assert!(err.to_string().contains("no png or jpg images"), "{err}");
}
