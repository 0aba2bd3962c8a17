//! Target `fashion_mnist`: a split from the bytes of its two IDX files.

use std::path::Path;

use lattice_vq_experiments::data::LoadError as Error;
use lattice_vq_experiments::fashion_mnist::{FashionMnist, SIDE};

use crate::input::Input;

/// Input layout: one flag byte (bit 0: the images file is gzipped, bit 1: the labels
/// file), a little-endian `u16` length of the images file, its bytes, then the labels
/// file (the rest).
///
/// Asserts: [`FashionMnist::from_idx_bytes`] returns an I/O or format error, or as many
/// 28x28 images as labels, labels in 0..=9 and pixels in [-0.5, 0.5] (`x / 255 - 0.5`).
/// Never a panic.
pub fn fashion_mnist(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let images_len = usize::from(input.u16());
    let rest = input.rest();
    let (images, labels) = rest.split_at(images_len.min(rest.len()));
    let name = |stem: &str, gz: bool| {
        if gz {
            format!("{stem}.gz")
        } else {
            stem.to_owned()
        }
    };
    let images_name = name("t10k-images-idx3-ubyte", flags & 1 != 0);
    let labels_name = name("t10k-labels-idx1-ubyte", flags & 2 != 0);
    match FashionMnist::from_idx_bytes(
        Path::new(&images_name),
        images,
        Path::new(&labels_name),
        labels,
    ) {
        Ok(split) => {
            assert_eq!(
                split.pixels.len(),
                split.len() * SIDE * SIDE,
                "28x28 images"
            );
            assert!(split.labels.iter().all(|&l| l < 10), "labels 0..=9");
            assert!(
                split.pixels.iter().all(|p| (-0.5..=0.5).contains(p)),
                "pixels in [-0.5, 0.5]"
            );
        }
        Err(Error::Io { .. } | Error::Format { .. }) => {}
        Err(other) => panic!("unexpected error kind {other:?}"),
    }
}
