//! Image folders and FFHQ's split on generated small PNGs.

use std::path::Path;

use image::{Luma, Rgb, RgbImage};
use lattice_vq_experiments::data::{Dataset, ImageFolder, ImageShape, Split, ffhq};

use crate::support::{error_path, load, load_all, mirrored};

const SIDE: u32 = 8;

fn rgb(side: usize) -> ImageShape {
    ImageShape {
        channels: 3,
        height: side,
        width: side,
    }
}

/// Image `id`: red = 10 * x, green = 10 * y, blue = id (PNG is lossless, so exact).
fn write_png(dir: &Path, name: &str, id: u8, side: u32) {
    RgbImage::from_fn(side, side, |x, y| Rgb([10 * x as u8, 10 * y as u8, id]))
        .save(dir.join(name))
        .unwrap();
}

/// `n` images `00000.png`.. written in reverse order, plus files that are not images.
fn folder(n: u8) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for id in (0..n).rev() {
        write_png(dir.path(), &format!("{id:05}.png"), id, SIDE);
    }
    std::fs::write(dir.path().join("LICENSE.txt"), "not an image").unwrap();
    std::fs::create_dir(dir.path().join("thumbs.png")).unwrap();
    dir
}

fn blue(image: &[f32]) -> u8 {
    (image[2 * (SIDE * SIDE) as usize] * 255.0).round() as u8
}

#[test]
fn folder_reads_images_sorted_by_name_in_unit_range() {
    let dir = folder(4);
    let data = ImageFolder::open(dir.path(), rgb(8), true).unwrap();
    assert_eq!(data.len(), 4);
    assert!(data.flips_in_training());
    let images = load_all(&data);
    assert_eq!(
        images.iter().map(|i| blue(i)).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let first = &images[0];
    assert!(first.iter().all(|v| (0.0..=1.0).contains(v)));
    // CHW: red plane then green; pixel (y=2, x=3).
    assert_eq!(first[2 * 8 + 3], 30.0 / 255.0);
    assert_eq!(first[64 + 2 * 8 + 3], 20.0 / 255.0);
    assert_eq!(load(&data, 1, true), mirrored(&images[1], data.shape()));
}

#[test]
fn folder_reads_grayscale_and_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    image::GrayImage::from_pixel(4, 2, Luma([51]))
        .save(dir.path().join("a.JPG"))
        .unwrap();
    let shape = ImageShape {
        channels: 1,
        height: 2,
        width: 4,
    };
    let data = ImageFolder::open(dir.path(), shape, false).unwrap();
    assert!(!data.flips_in_training());
    let image = load(&data, 0, false);
    assert!(
        image.iter().all(|v| (v - 0.2).abs() < 3.0 / 255.0),
        "{image:?}"
    );
}

#[test]
fn wrong_size_or_corrupt_image_is_an_error_naming_the_file() {
    let dir = folder(3);
    write_png(dir.path(), "00001.png", 1, SIDE + 1);
    let corrupt = dir.path().join("00002.png");
    let bytes = std::fs::read(&corrupt).unwrap();
    std::fs::write(&corrupt, &bytes[..bytes.len() - 20]).unwrap();
    let data = ImageFolder::open(dir.path(), rgb(8), false).unwrap();
    let mut out = vec![0.0; data.shape().len()];
    let err = data.load(1, false, &mut out).unwrap_err();
    assert_eq!(
        error_path(&err),
        Some(dir.path().join("00001.png").as_path())
    );
    assert!(err.to_string().contains("9x9"), "{err}");
    let err = data.load(2, false, &mut out).unwrap_err();
    assert_eq!(error_path(&err), Some(corrupt.as_path()), "{err}");
}

#[test]
fn empty_folder_and_bad_shape_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = ImageFolder::open(dir.path(), rgb(8), false).unwrap_err();
    assert!(err.to_string().contains("no png or jpg"), "{err}");
    let dir = folder(1);
    let shape = ImageShape {
        channels: 4,
        ..rgb(8)
    };
    assert!(ImageFolder::open(dir.path(), shape, false).is_err());
    assert!(ImageFolder::open(&dir.path().join("absent"), rgb(8), false).is_err());
}

#[test]
fn ffhq_splits_sorted_files_into_train_then_test() {
    let dir = folder(5);
    let train = ffhq::open_with(dir.path(), Split::Train, SIDE as usize, 3).unwrap();
    let test = ffhq::open_with(dir.path(), Split::Test, SIDE as usize, 3).unwrap();
    assert_eq!(
        load_all(&train).iter().map(|i| blue(i)).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        load_all(&test).iter().map(|i| blue(i)).collect::<Vec<_>>(),
        [3, 4]
    );
    assert!(train.flips_in_training() && test.flips_in_training());
    assert_eq!(train.shape(), rgb(8));
    // Too few files for a test split.
    let err = ffhq::open_with(dir.path(), Split::Test, SIDE as usize, 5).unwrap_err();
    assert!(err.to_string().contains("5 png or jpg images"), "{err}");
}

#[test]
fn ffhq_checks_for_1024_pixel_images() {
    let dir = folder(2);
    // A small folder is not FFHQ: too few images to split 60k/10k.
    assert!(ffhq::open(dir.path(), Split::Train).is_err());
    // The 1024 side is enforced when loading.
    let data = ffhq::open_with(dir.path(), Split::Train, ffhq::SIDE, 1).unwrap();
    let mut out = vec![0.0; data.shape().len()];
    let err = data.load(0, false, &mut out).unwrap_err();
    assert!(err.to_string().contains("expected 1024x1024"), "{err}");
}

/// Found by fuzzing (fuzz/artifacts/image_folder/): a small file whose header announces
/// another size is refused by that size, before its pixels are decoded.
#[test]
fn an_image_announcing_another_size_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::GrayImage::from_pixel(8, 8, Luma([128]))
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let mut jpeg = jpeg.into_inner();
    // The start-of-frame segment: FF C0, length, precision, height, width.
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    std::fs::write(dir.path().join("huge.jpg"), &jpeg).unwrap();
    let shape = ImageShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let data = ImageFolder::open(dir.path(), shape, false).unwrap();
    let err = data.load(0, false, &mut [0.0; 64]).unwrap_err();
    assert!(err.to_string().contains("image is 60000x60000"), "{err}");
}

/// Found by fuzzing (fuzz/artifacts/image_folder/, the input's first 4 bytes are the fuzz
/// target's header): zune-jpeg 0.5.15 multiplies its DC prediction by the quantization
/// table in `i32`, which overflows on this file, a panic in builds with overflow checks
/// (tests, debug builds). The load is an error naming the file, or garbage pixels where the
/// multiplication wraps; never a panic.
#[test]
fn a_jpeg_that_panics_its_decoder_is_not_a_panic() {
    let input = include_bytes!(
        "../../../../fuzz/artifacts/image_folder/minimized-from-1ed50673e4cc667d04c5bc489a1426e0b48b933e"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("corrupt.jpeg"), &input[4..]).unwrap();
    // The size its header announces, so that it is decoded.
    let shape = ImageShape {
        channels: 1,
        height: 8,
        width: 63760,
    };
    let data = ImageFolder::open(dir.path(), shape, false).unwrap();
    match data.load(0, false, &mut vec![0.0; shape.len()]) {
        Ok(()) => {}
        Err(err) => assert_eq!(
            error_path(&err),
            Some(dir.path().join("corrupt.jpeg").as_path()),
            "{err}"
        ),
    }
}
