//! Bad input is a typed error, never a panic.

use crate::support::*;
use lattice_core::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};
use lattice_vq_tch::{
    Error, LatticeQuantizer, Quantizer, QuantizerConfig, VectorQuantizer, VectorQuantizerEma,
    VqVae, VqVaeConfig, load_checkpoint, save_checkpoint,
};
use tch::{Kind, Tensor, nn};

fn quantizers(vs: &nn::VarStore) -> Vec<Box<dyn Quantizer>> {
    let root = vs.root();
    vec![
        Box::new(
            LatticeQuantizer::new(&root.sub("lattice"), &LatticeQuantizerConfig::new(512, 4))
                .unwrap(),
        ),
        Box::new(
            VectorQuantizer::new(&root.sub("vq"), &VectorQuantizerConfig::new(16, 4)).unwrap(),
        ),
        Box::new(
            VectorQuantizerEma::new(&root.sub("ema"), &VectorQuantizerEmaConfig::new(16, 4))
                .unwrap(),
        ),
    ]
}

#[test]
fn wrong_shapes_and_kinds_are_errors() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let float = (Kind::Float, CPU);
    for q in quantizers(&vs) {
        for bad in [
            Tensor::zeros([2, 3, 5, 5], float),
            Tensor::zeros([2, 4, 5], float),
            Tensor::zeros([2, 4, 5, 5, 1], float),
            Tensor::zeros([7, 5], float),
            Tensor::zeros([4], float),
            Tensor::zeros([2, 4], (Kind::Int, CPU)),
        ] {
            let err = q.forward_t(&bad, true).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InputShape {
                        what: "latents",
                        ..
                    }
                ),
                "{q:?} {bad:?}: {err}"
            );
        }
        let empty = q
            .forward_t(&Tensor::zeros([0, 4], float), true)
            .unwrap_err();
        assert!(
            matches!(empty, Error::Core(lattice_core::Error::EmptyInput { .. })),
            "{empty}"
        );
    }
}

#[test]
fn non_finite_latents_are_named_by_row_and_column() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    for q in quantizers(&vs) {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut values = vec![0.5f32; 12];
            values[6] = bad; // row 1, column 2
            let err = q.forward_t(&tensor(&values, &[3, 4]), true).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Core(lattice_core::Error::NonFiniteLatent { row: 1, col: 2, .. })
                ),
                "{q:?} {bad}: {err}"
            );
        }
    }
}

#[test]
fn lattice_rules_of_the_core_are_enforced() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let q = LatticeQuantizer::new(&vs.root(), &LatticeQuantizerConfig::new(512, 2)).unwrap();
    set_basis(&q, &[1e-3, 1.0]);
    let err = q
        .forward_t(&tensor(&[1.0, 1.0, 1e7, 1.0], &[2, 2]), true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_core::Error::CodeOverflow { row: 1, col: 0, .. })
        ),
        "{err}"
    );
    set_basis(&q, &[0.0, 1.0]);
    let err = q
        .forward_t(&tensor(&[1.0, 1.0], &[1, 2]), true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_core::Error::BasisOutOfRange { index: 0, .. })
        ),
        "{err}"
    );
    set_basis(&q, &[1.0, f32::NAN]);
    let err = q
        .forward_t(&tensor(&[1.0, 1.0], &[1, 2]), true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_core::Error::NonFiniteBasis { index: 1, .. })
        ),
        "{err}"
    );
    let err = LatticeQuantizer::new(&vs.root().sub("k1"), &LatticeQuantizerConfig::new(1, 2))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_core::Error::CodebookTooSmall { .. })
        ),
        "{err}"
    );
}

#[test]
fn images_of_the_wrong_shape_are_errors() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let quantizer = QuantizerConfig::by_name("vq", 64).unwrap();
    let model = VqVae::new(&vs.root(), &VqVaeConfig::fashion_mnist(), &quantizer).unwrap();
    for bad in [[2, 3, 28, 28], [2, 1, 27, 28], [0, 1, 28, 28]] {
        let err = model
            .forward_t(&Tensor::zeros(bad, (Kind::Float, CPU)), false)
            .unwrap_err();
        assert!(
            matches!(err, Error::InputShape { what: "images", .. }),
            "{bad:?}: {err}"
        );
    }
    let mismatched = QuantizerConfig::by_name("vq", 32).unwrap();
    assert!(
        VqVae::new(
            &vs.root().sub("other"),
            &VqVaeConfig::fashion_mnist(),
            &mismatched
        )
        .is_err()
    );
}

#[test]
fn checkpoints_of_other_models_and_corrupt_files_are_errors() {
    single_thread();
    let dir = std::env::temp_dir().join(format!("lattice-vq-tch-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let build = |name: &str, dim: usize| {
        let vs = nn::VarStore::new(CPU);
        let config = VqVaeConfig {
            embedding_dim: dim,
            ..VqVaeConfig::fashion_mnist()
        };
        let quantizer = QuantizerConfig::by_name(name, dim).unwrap();
        VqVae::new(&vs.root(), &config, &quantizer).unwrap();
        vs
    };
    let vq_file = dir.join("vq.safetensors");
    save_checkpoint(&build("vq", 64), &vq_file).unwrap();
    let lattice32 = dir.join("lattice32.safetensors");
    save_checkpoint(&build("sparse_lattice", 32), &lattice32).unwrap();

    let mut lattice = build("sparse_lattice", 64);
    let before = lattice.variables()["_quantizer.embedding.weight"].copy();
    // The VQ file lacks nothing of the encoder but has a (512, 64) codebook: wrong shape.
    let err = load_checkpoint(&mut lattice, &vq_file).unwrap_err();
    assert!(matches!(err, Error::TensorShape { .. }), "{err}");
    let err = load_checkpoint(&mut lattice, &lattice32).unwrap_err();
    assert!(matches!(err, Error::TensorShape { .. }), "{err}");
    let mut ema = build("vq-ema", 64);
    let err = load_checkpoint(&mut ema, &vq_file).unwrap_err();
    assert!(matches!(err, Error::MissingTensor { .. }), "{err}");
    let mut vq = build("vq", 64);
    let ema_file = dir.join("ema.safetensors");
    save_checkpoint(&ema, &ema_file).unwrap();
    let err = load_checkpoint(&mut vq, &ema_file).unwrap_err();
    assert!(matches!(err, Error::UnexpectedTensors { .. }), "{err}");
    // Nothing was changed by the failed loads.
    assert!(lattice.variables()["_quantizer.embedding.weight"].equal(&before));

    // Truncated and garbage files.
    let bytes = std::fs::read(&vq_file).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        load_checkpoint(&mut vq, &truncated),
        Err(Error::Torch(_))
    ));
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(matches!(
        load_checkpoint(&mut vq, &garbage),
        Err(Error::Torch(_))
    ));
    assert!(load_checkpoint(&mut vq, dir.join("absent.safetensors")).is_err());
    // A round trip works, and leaves no temporary file behind.
    load_checkpoint(&mut vq, &vq_file).unwrap();
    let leftovers = std::fs::read_dir(&dir).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp")
    });
    assert_eq!(leftovers.count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
