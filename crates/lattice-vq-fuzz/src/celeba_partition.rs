//! Target `celeba_partition`: CelebA's `list_eval_partition.txt`.

use lattice_vq_experiments::Error;
use lattice_vq_experiments::data::Dataset;
use lattice_vq_experiments::data::celeba::{CelebA, IMAGE_DIR, PARTITION_FILE, Partition};

use crate::scratch::Scratch;

/// The bytes are the partition file of a CelebA root whose image folder exists (empty).
///
/// Asserts: the three partitions open alike (all or none, with the same error, an I/O
/// error for text that is not UTF-8, else a format error); when they open, every non-blank
/// line is `name code` with code 0, 1 or 2, each partition holds as many images as lines
/// with its code, and every image path is a file directly in the image folder. Never a
/// panic.
pub fn celeba_partition(data: &[u8]) {
    let scratch = Scratch::new();
    scratch.write(PARTITION_FILE, data);
    let image_dir = scratch.mkdir(IMAGE_DIR);
    let opened = [Partition::Train, Partition::Valid, Partition::Test]
        .map(|partition| CelebA::open(scratch.path(), partition));
    let text = std::str::from_utf8(data);
    match &opened {
        [Ok(_), Ok(_), Ok(_)] => {}
        [Err(a), Err(b), Err(c)] => {
            let (a, b, c) = (format!("{a:?}"), format!("{b:?}"), format!("{c:?}"));
            assert!(a == b && b == c, "partitions fail alike: {a} / {b} / {c}");
            match (&opened[0], text) {
                (Err(Error::Io { .. }), Err(_)) | (Err(Error::Format { .. }), Ok(_)) => {}
                (error, _) => panic!("error kind {error:?} for this text"),
            }
            return;
        }
        _ => panic!("partitions open differently: {opened:?}"),
    }
    let text = text.expect("an opened partition file is UTF-8");
    let mut per_code = [0usize; 3];
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [] => {}
            [_, code] => {
                let index = ["0", "1", "2"].iter().position(|&c| c == code);
                per_code[index.unwrap_or_else(|| panic!("accepted code {code:?}"))] += 1;
            }
            _ => panic!("accepted line {line:?}"),
        }
    }
    for (celeba, expected) in opened.iter().zip(per_code) {
        let celeba = celeba.as_ref().expect("checked above");
        assert_eq!(celeba.len(), expected, "images per partition");
        for index in 0..celeba.len() {
            let path = celeba.path(index);
            assert_eq!(
                path.parent(),
                Some(image_dir.as_path()),
                "{path:?} leaves the folder"
            );
        }
    }
}
