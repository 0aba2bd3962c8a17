//! Bad input is a typed error, never a panic.

use crate::support::*;
use candle_core::{DType, Tensor};
use lattice_core::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};
use lattice_vq_candle::{
    Error, Quantizer, QuantizerConfig, VqVae, VqVaeConfig, lattice_quantizer, load_checkpoint,
    save_checkpoint, vector_quantizer, vector_quantizer_ema,
};

fn quantizers() -> (candle_nn::VarMap, Vec<Box<dyn Quantizer>>) {
    let (varmap, vb) = var_builder();
    let quantizers: Vec<Box<dyn Quantizer>> = vec![
        Box::new(
            lattice_quantizer(&LatticeQuantizerConfig::new(512, 4), vb.pp("lattice")).unwrap(),
        ),
        Box::new(vector_quantizer(&VectorQuantizerConfig::new(16, 4), vb.pp("vq")).unwrap()),
        Box::new(
            vector_quantizer_ema(&VectorQuantizerEmaConfig::new(16, 4), vb.pp("ema")).unwrap(),
        ),
    ];
    (varmap, quantizers)
}

#[test]
fn wrong_shapes_and_dtypes_are_errors() {
    let (_varmap, quantizers) = quantizers();
    for q in &quantizers {
        for bad in [
            Tensor::zeros((2, 3, 5, 5), DType::F32, &CPU).unwrap(),
            Tensor::zeros((2, 4, 5), DType::F32, &CPU).unwrap(),
            Tensor::zeros((2, 4, 5, 5, 1), DType::F32, &CPU).unwrap(),
            Tensor::zeros((7, 5), DType::F32, &CPU).unwrap(),
            Tensor::zeros(4, DType::F32, &CPU).unwrap(),
            Tensor::zeros((2, 4), DType::I64, &CPU).unwrap(),
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
            .forward_t(&Tensor::zeros((0, 4), DType::F32, &CPU).unwrap(), true)
            .unwrap_err();
        assert!(
            matches!(empty, Error::Core(lattice_core::Error::EmptyInput { .. })),
            "{empty}"
        );
    }
}

#[test]
fn non_finite_latents_are_named_by_row_and_column() {
    let (_varmap, quantizers) = quantizers();
    for q in &quantizers {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut values = vec![0.5f32; 12];
            values[6] = bad;
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
    let (_varmap, vb) = var_builder();
    let q = lattice_quantizer(&LatticeQuantizerConfig::new(512, 2), vb.clone()).unwrap();
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
    let err = lattice_quantizer(&LatticeQuantizerConfig::new(1, 2), vb.pp("k1")).unwrap_err();
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
    let (_varmap, vb) = var_builder();
    let quantizer = QuantizerConfig::by_name("vq", 64).unwrap();
    let model = VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb.clone()).unwrap();
    for bad in [(2, 3, 28, 28), (2, 1, 27, 28), (0, 1, 28, 28)] {
        let images = Tensor::zeros(bad, DType::F32, &CPU).unwrap();
        let err = model.forward_t(&images, false).unwrap_err();
        assert!(
            matches!(err, Error::InputShape { what: "images", .. }),
            "{bad:?}: {err}"
        );
    }
    let mismatched = QuantizerConfig::by_name("vq", 32).unwrap();
    assert!(VqVae::new(&VqVaeConfig::fashion_mnist(), &mismatched, vb.pp("other")).is_err());
}

#[test]
fn checkpoints_of_other_models_and_corrupt_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("lattice-vq-candle-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let build = |name: &str, dim: usize| {
        let (varmap, vb) = var_builder();
        let config = VqVaeConfig {
            embedding_dim: dim,
            ..VqVaeConfig::fashion_mnist()
        };
        VqVae::new(&config, &QuantizerConfig::by_name(name, dim).unwrap(), vb).unwrap();
        varmap
    };
    let vq_file = dir.join("vq.safetensors");
    save_checkpoint(&build("vq", 64), &vq_file).unwrap();
    let lattice32 = dir.join("lattice32.safetensors");
    save_checkpoint(&build("sparse_lattice", 32), &lattice32).unwrap();

    let lattice = build("sparse_lattice", 64);
    let weight = |varmap: &candle_nn::VarMap| {
        let data = varmap.data().lock().unwrap();
        data["_quantizer.embedding.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let before = weight(&lattice);
    assert!(matches!(
        load_checkpoint(&lattice, &vq_file),
        Err(Error::TensorShape { .. })
    ));
    assert!(matches!(
        load_checkpoint(&lattice, &lattice32),
        Err(Error::TensorShape { .. })
    ));
    let ema = build("vq-ema", 64);
    assert!(matches!(
        load_checkpoint(&ema, &vq_file),
        Err(Error::MissingTensor { .. })
    ));
    let vq = build("vq", 64);
    let ema_file = dir.join("ema.safetensors");
    save_checkpoint(&ema, &ema_file).unwrap();
    assert!(matches!(
        load_checkpoint(&vq, &ema_file),
        Err(Error::UnexpectedTensors { .. })
    ));
    assert_eq!(weight(&lattice), before);

    let bytes = std::fs::read(&vq_file).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        load_checkpoint(&vq, &truncated),
        Err(Error::Candle(_))
    ));
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(matches!(
        load_checkpoint(&vq, &garbage),
        Err(Error::Candle(_))
    ));
    assert!(load_checkpoint(&vq, dir.join("absent.safetensors")).is_err());
    load_checkpoint(&vq, &vq_file).unwrap();
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
