//! Target `image_folder`: listing a folder of images and decoding one file of it.

use lattice_vq_experiments::Error;
use lattice_vq_experiments::data::folder::list_images;
use lattice_vq_experiments::data::{Dataset, ImageFolder, ImageShape};

use crate::input::Input;
use crate::scratch::Scratch;

/// File names the first header byte picks from: the three image extensions in both cases
/// and one that is not an image.
const NAMES: [&str; 7] = [
    "image.png",
    "image.jpg",
    "image.jpeg",
    "IMAGE.PNG",
    "Image.JPG",
    "image.JpEg",
    "notes.txt",
];

/// Input layout: a byte choosing the file name (`image.png`, `.jpg`, `.jpeg` in mixed cases,
/// or `notes.txt`); a byte choosing the channels (1 when it is 0 mod 4, 3 when it is 1 mod
/// 4, else the byte itself); the expected width and height (one byte each, 0 allowed); then
/// the file's bytes. The folder also holds a subfolder named like an image, which must be
/// ignored.
///
/// Asserts: [`list_images`] lists exactly the file when its extension is an image's;
/// [`ImageFolder::open`] fails (format error) exactly when nothing is listed, the shape
/// has other than 1 or 3 channels or it is empty; a load returns an I/O or format error,
/// or values `k / 255` in [0, 1]; a flipped load mirrors every row of the plain one. Never
/// a panic.
pub fn image_folder(data: &[u8]) {
    let mut input = Input::new(data);
    let name = NAMES[usize::from(input.u8()) % NAMES.len()];
    let channels = match input.u8() {
        c if c % 4 == 0 => 1,
        c if c % 4 == 1 => 3,
        c => usize::from(c),
    };
    let shape = ImageShape {
        channels,
        width: usize::from(input.u8()),
        height: usize::from(input.u8()),
    };
    let scratch = Scratch::new();
    let file = scratch.write(name, input.rest());
    scratch.mkdir("subfolder.png");

    let listed = list_images(scratch.path()).expect("a readable folder");
    let is_image = !name.ends_with(".txt");
    assert_eq!(
        listed,
        is_image
            .then(|| file.clone())
            .into_iter()
            .collect::<Vec<_>>()
    );

    let folder = match ImageFolder::open(scratch.path(), shape, false) {
        Ok(folder) => folder,
        Err(Error::Format { .. })
            if !is_image || !matches!(channels, 1 | 3) || shape.is_empty() =>
        {
            return;
        }
        Err(other) => panic!("open of {listed:?} as {shape:?}: {other:?}"),
    };
    assert!(is_image && matches!(channels, 1 | 3) && !shape.is_empty());
    assert_eq!(folder.files(), [file]);
    assert_eq!((folder.len(), folder.shape()), (1, shape));

    let mut plain = vec![f32::NAN; shape.len()];
    let mut flipped = vec![f32::NAN; shape.len()];
    let loaded = folder.load(0, false, &mut plain);
    let loaded_flipped = folder.load(0, true, &mut flipped);
    match (loaded, loaded_flipped) {
        (Ok(()), Ok(())) => {}
        (Err(Error::Io { .. } | Error::Format { .. }), Err(_)) => return,
        (a, b) => panic!("plain load {a:?}, flipped load {b:?}"),
    }
    for &value in &plain {
        let level = value * 255.0;
        assert!(
            (0.0..=1.0).contains(&value) && (level - level.round()).abs() < 1e-3,
            "value {value} is not k / 255"
        );
    }
    for (row, mirrored) in plain
        .chunks_exact(shape.width)
        .zip(flipped.chunks_exact(shape.width))
    {
        assert!(
            row.iter().eq(mirrored.iter().rev()),
            "flip mirrors each row"
        );
    }
}
