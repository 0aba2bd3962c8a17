//! The paper's VQ-VAE refuses images of the wrong shape, and checkpoints of other models
//! or corrupt files, with typed errors and without changing its variables. Replaces the
//! model tests of the adapters' `tests/bad_input.rs`.

use std::path::{Path, PathBuf};

use lattice_vq_core::{QuantizerConfig, VqVaeConfig};
use ndarray::{ArrayD, IxDyn};

use super::support::failure;
use crate::backend::ModelBackend;
use crate::failure::Failure;
use crate::types::{DType, Input};

/// The variable that differs between the paper's quantizers.
const CODEBOOK: &str = "_quantizer.embedding.weight";

/// Images with three channels, 27 rows, or none at all are `InputShape` errors naming
/// `images`; a quantizer of another width than the model's is refused.
pub fn images_of_the_wrong_shape_are_errors<B: ModelBackend>(backend: &B) {
    let name = backend.name();
    let quantizer = QuantizerConfig::by_name("vq", 64).unwrap();
    let mut model = backend
        .vqvae(&VqVaeConfig::fashion_mnist(), &quantizer, DType::F32)
        .unwrap();
    for bad in [[2, 3, 28, 28], [2, 1, 27, 28], [0, 1, 28, 28]] {
        let images = Input::new(ArrayD::zeros(IxDyn(&bad)), DType::F32);
        let err = failure(
            &format!("{name} {bad:?}"),
            backend.forward(&mut model, &images, false),
        );
        assert!(
            matches!(&err, Failure::InputShape { what, .. } if what == "images"),
            "{name} {bad:?}: {err:?}"
        );
    }
    let mismatched = QuantizerConfig::by_name("vq", 32).unwrap();
    let built = backend.vqvae(&VqVaeConfig::fashion_mnist(), &mismatched, DType::F32);
    assert!(
        built.is_err(),
        "{name}: a 32-wide quantizer in a 64-wide model"
    );
}

/// A temporary folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(backend: &str) -> Self {
        let tag: String = backend
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let dir =
            std::env::temp_dir().join(format!("lattice-vq-testkit-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loading another quantizer's or width's checkpoint is `TensorShape`, one lacking a
/// tensor `MissingTensor`, one with extra tensors `UnexpectedTensors`, and none of them
/// changes the model; truncated and garbage files are `Checkpoint` errors (or the host's, or
/// I/O errors), an
/// absent one an error naming the file; a round trip works and leaves no temporary file.
pub fn checkpoints_of_other_models_and_corrupt_files_are_errors<B: ModelBackend>(backend: &B) {
    let name = backend.name();
    let scratch = Scratch::new(&name);
    let build = |quantizer: &str, dim: usize| {
        let config = VqVaeConfig {
            embedding_dim: dim,
            ..VqVaeConfig::fashion_mnist()
        };
        let quantizer = QuantizerConfig::by_name(quantizer, dim).unwrap();
        backend.vqvae(&config, &quantizer, DType::F32).unwrap()
    };
    let save = |model: &B::Model, file: &str| {
        let path = scratch.path(file);
        backend.save_checkpoint(model, &path).unwrap();
        path
    };
    let vq_file = save(&build("vq", 64), "vq.safetensors");
    let lattice32 = save(&build("sparse_lattice", 32), "lattice32.safetensors");

    let load = |model: &mut B::Model, path: &Path| {
        failure(
            &format!("{name} loading {}", path.display()),
            backend.load_checkpoint(model, path),
        )
    };
    let mut lattice = build("sparse_lattice", 64);
    let before = backend.model_variable(&lattice, CODEBOOK).unwrap();
    // The VQ file has everything of the encoder but a (512, 64) codebook: the wrong shape.
    let err = load(&mut lattice, &vq_file);
    assert!(matches!(err, Failure::TensorShape(_)), "{name}: {err:?}");
    let err = load(&mut lattice, &lattice32);
    assert!(matches!(err, Failure::TensorShape(_)), "{name}: {err:?}");
    let mut ema = build("vq-ema", 64);
    let err = load(&mut ema, &vq_file);
    assert!(matches!(err, Failure::MissingTensor(_)), "{name}: {err:?}");
    let mut vq = build("vq", 64);
    let ema_file = save(&ema, "ema.safetensors");
    let err = load(&mut vq, &ema_file);
    assert!(
        matches!(err, Failure::UnexpectedTensors(_)),
        "{name}: {err:?}"
    );
    assert_eq!(
        backend.model_variable(&lattice, CODEBOOK).unwrap(),
        before,
        "{name}: a failed load changed the model"
    );

    let bytes = std::fs::read(&vq_file).unwrap();
    let truncated = scratch.path("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = scratch.path("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    for file in [&truncated, &garbage] {
        let err = load(&mut vq, file);
        assert!(
            matches!(
                err,
                Failure::Checkpoint(_) | Failure::Host(_) | Failure::Io(_)
            ),
            "{name}: {err:?}"
        );
    }
    let err = load(&mut vq, &scratch.path("absent.safetensors"));
    assert!(
        err.message().contains("absent.safetensors"),
        "{name}: {err}"
    );
    backend.load_checkpoint(&mut vq, &vq_file).unwrap();
    let leftovers = std::fs::read_dir(&scratch.0)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "{name}: temporary files left behind");
}
