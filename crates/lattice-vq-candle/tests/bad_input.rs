//! Bad input is a typed error, never a panic.

use crate::support::*;
use candle_core::{DType, Tensor};
use lattice_vq_candle::{
    Error, Quantizer, QuantizerConfig, VqVae, VqVaeConfig, lattice_quantizer, load_checkpoint,
    save_checkpoint, vector_quantizer, vector_quantizer_ema,
};
use lattice_vq_core::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};

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
            let err = q.quantize(&bad, true).unwrap_err();
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
            .quantize(&Tensor::zeros((0, 4), DType::F32, &CPU).unwrap(), true)
            .unwrap_err();
        assert!(
            matches!(
                empty,
                Error::Core(lattice_vq_core::Error::EmptyInput { .. })
            ),
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
            let err = q.quantize(&tensor(&values, &[3, 4]), true).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Core(lattice_vq_core::Error::NonFiniteLatent { row: 1, col: 2, .. })
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
        .quantize(&tensor(&[1.0, 1.0, 1e7, 1.0], &[2, 2]), true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_vq_core::Error::CodeOverflow { row: 1, col: 0, .. })
        ),
        "{err}"
    );
    set_basis(&q, &[0.0, 1.0]);
    let err = q.quantize(&tensor(&[1.0, 1.0], &[1, 2]), true).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_vq_core::Error::BasisOutOfRange { index: 0, .. })
        ),
        "{err}"
    );
    set_basis(&q, &[1.0, f32::NAN]);
    let err = q.quantize(&tensor(&[1.0, 1.0], &[1, 2]), true).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_vq_core::Error::NonFiniteBasis { index: 1, .. })
        ),
        "{err}"
    );
    let err = lattice_quantizer(&LatticeQuantizerConfig::new(1, 2), vb.pp("k1")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(lattice_vq_core::Error::CodebookTooSmall { .. })
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
        Err(Error::Checkpoint { .. })
    ));
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(matches!(
        load_checkpoint(&vq, &garbage),
        Err(Error::Checkpoint { .. })
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

/// A VQ and a VQ-EMA layer of `k` codewords of dimension `dim`, in `dtype`, with the
/// codebook `values` (row-major).
fn vq_pair(
    dtype: DType,
    k: usize,
    dim: usize,
    values: &Tensor,
) -> (candle_nn::VarMap, Vec<Box<dyn Quantizer>>) {
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, dtype, &CPU);
    let vq = vector_quantizer(&VectorQuantizerConfig::new(k, dim), vb.pp("vq")).unwrap();
    let ema = vector_quantizer_ema(&VectorQuantizerEmaConfig::new(k, dim), vb.pp("ema")).unwrap();
    set(vq.codebook(), &values.reshape((k, dim)).unwrap());
    set(ema.codebook(), &values.reshape((k, dim)).unwrap());
    (varmap, vec![Box::new(vq), Box::new(ema)])
}

#[test]
fn non_finite_codewords_are_errors_naming_the_codeword() {
    // Issue 11 (D7): the NaN codeword was picked and the loss was NaN, with no error.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut codebook = vec![0.25f32; 12];
        codebook[7] = bad; // codeword 2, column 1 of a 4 x 3 codebook
        let (_varmap, quantizers) = vq_pair(DType::F32, 4, 3, &tensor(&codebook, &[12]));
        for q in &quantizers {
            // Latents equal to the bad codeword's finite neighbours, and one NaN latent: the
            // codebook is reported first, as the core does.
            for latents in [vec![0.25f32; 6], vec![f32::NAN; 6]] {
                let err = q.quantize(&tensor(&latents, &[2, 3]), true).unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Core(lattice_vq_core::Error::NonFiniteCodeword {
                            index: 2,
                            col: 1,
                            ..
                        })
                    ),
                    "{q:?} {bad}: {err}"
                );
                assert!(err.to_string().contains("codebook entries must be finite"));
            }
        }
    }
}

#[test]
fn large_finite_latents_find_the_codeword_they_equal() {
    // Issue 11 (D7): |z|^2 = 1e40 overflowed f32, every distance was NaN, codeword 0 won
    // and the loss was infinite.
    let codebook = [0.0f32, 0.0, 1e20, -1e20, -1e20, 1e20, 1.0, 1.0];
    let latents = [1e20f32, -1e20, -1e20, 1e20, 1.0, 1.0, 3e38, 3e38];
    let (_varmap, quantizers) = vq_pair(DType::F32, 4, 2, &tensor(&codebook, &[8]));
    let expected = lattice_vq_core::vq::nearest_codewords(
        ndarray::Array2::from_shape_vec((4, 2), codebook.to_vec())
            .unwrap()
            .view(),
        ndarray::Array2::from_shape_vec((4, 2), latents.to_vec())
            .unwrap()
            .view(),
    )
    .unwrap();
    // (3e38, 3e38) is as far from (1, 1) as from the origin, even in f64: a tie, to 0.
    assert_eq!(expected.to_vec(), vec![1, 2, 3, 0]);
    for q in &quantizers {
        let out = q.quantize(&tensor(&latents[..6], &[3, 2]), false).unwrap();
        assert_eq!(
            out.codes.tensor().to_vec1::<i64>().unwrap(),
            vec![1, 2, 3],
            "{q:?}"
        );
        let loss = out.loss.to_scalar::<f32>().unwrap();
        assert_eq!(loss, 0.0, "{q:?}");
        let out = q.quantize(&tensor(&latents, &[4, 2]), false).unwrap();
        assert_eq!(
            out.codes.tensor().to_vec1::<i64>().unwrap(),
            vec![1, 2, 3, 0],
            "{q:?}"
        );
    }
}

/// `n` pseudo-random integers in `-span..=span` (a fixed LCG: reproducible, no seed file).
fn small_integers(n: usize, span: i64, seed: u64) -> Vec<i64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % (2 * span as u64 + 1)) as i64 - span
        })
        .collect()
}

#[test]
fn near_ties_and_duplicates_far_from_the_origin_follow_the_core() {
    // Codewords and latents a few steps of 2^-10 from a common centre near 4000: f32's
    // |z|^2 + |e|^2 - 2 z.e cannot tell them apart; the core's rule (exact here) can.
    let (dim, k, n) = (16, 48, 400);
    let centre = small_integers(dim, 1 << 22, 1);
    let grid = |offsets: &[i64], rows: usize| -> Vec<f32> {
        (0..rows * dim)
            .map(|i| (centre[i % dim] + offsets[i]) as f32 / 1024.0)
            .collect()
    };
    let codebook = grid(&small_integers(k * dim, 2, 2), k);
    let latents = grid(&small_integers(n * dim, 2, 3), n);
    for dtype in [DType::F32, DType::F64] {
        let expected = if dtype == DType::F32 {
            lattice_vq_core::vq::nearest_codewords(
                ndarray::Array2::from_shape_vec((k, dim), codebook.clone())
                    .unwrap()
                    .view(),
                ndarray::Array2::from_shape_vec((n, dim), latents.clone())
                    .unwrap()
                    .view(),
            )
        } else {
            let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
            lattice_vq_core::vq::nearest_codewords(
                ndarray::Array2::from_shape_vec((k, dim), widen(&codebook))
                    .unwrap()
                    .view(),
                ndarray::Array2::from_shape_vec((n, dim), widen(&latents))
                    .unwrap()
                    .view(),
            )
        }
        .unwrap();
        let expected: Vec<i64> = expected.iter().map(|&i| i as i64).collect();
        let (_varmap, quantizers) = vq_pair(dtype, k, dim, &tensor(&codebook, &[k * dim]));
        let rows = tensor(&latents, &[n, dim]).to_dtype(dtype).unwrap();
        for q in &quantizers {
            let codes = q
                .quantize(&rows, false)
                .unwrap()
                .codes
                .tensor()
                .to_vec1::<i64>()
                .unwrap();
            let differing = codes.iter().zip(&expected).filter(|(a, b)| a != b).count();
            assert_eq!(
                differing, 0,
                "{q:?} {dtype:?}: {differing} of {n} rows differ"
            );
        }
    }
}
