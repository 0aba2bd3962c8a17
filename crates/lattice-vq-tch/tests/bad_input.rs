//! Bad input is a typed error, never a panic.

use crate::support::*;
use lattice_vq_core::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};
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
        let empty = q.quantize(&Tensor::zeros([0, 4], float), true).unwrap_err();
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
    single_thread();
    let vs = nn::VarStore::new(CPU);
    for q in quantizers(&vs) {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut values = vec![0.5f32; 12];
            values[6] = bad; // row 1, column 2
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
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let q = LatticeQuantizer::new(&vs.root(), &LatticeQuantizerConfig::new(512, 2)).unwrap();
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
    let err = LatticeQuantizer::new(&vs.root().sub("k1"), &LatticeQuantizerConfig::new(1, 2))
        .unwrap_err();
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
        Err(Error::Checkpoint { .. })
    ));
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(matches!(
        load_checkpoint(&mut vq, &garbage),
        Err(Error::Checkpoint { .. })
    ));
    assert!(matches!(
        load_checkpoint(&mut vq, dir.join("absent.safetensors")),
        Err(Error::Io { .. })
    ));
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

/// A VQ and a VQ-EMA layer of `k` codewords of dimension `dim`, in `kind`, with the
/// codebook `values` (row-major).
fn vq_pair(
    kind: Kind,
    k: i64,
    dim: i64,
    values: &[f32],
) -> (nn::VarStore, Vec<Box<dyn Quantizer>>) {
    let mut vs = nn::VarStore::new(CPU);
    let root = vs.root();
    let (k_, dim_) = (k as usize, dim as usize);
    let vq = VectorQuantizer::new(&root.sub("vq"), &VectorQuantizerConfig::new(k_, dim_)).unwrap();
    let ema = VectorQuantizerEma::new(&root.sub("ema"), &VectorQuantizerEmaConfig::new(k_, dim_))
        .unwrap();
    if kind == Kind::Double {
        vs.double();
    }
    tch::no_grad(|| {
        for codebook in [vq.codebook(), ema.codebook()] {
            codebook.shallow_clone().copy_(&tensor(values, &[k, dim]));
        }
    });
    (vs, vec![Box::new(vq), Box::new(ema)])
}

#[test]
fn non_finite_codewords_are_errors_naming_the_codeword() {
    // Issue 11 (D7): a NaN or infinite codeword was never an error.
    single_thread();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut codebook = vec![0.25f32; 12];
        codebook[7] = bad; // codeword 2, column 1 of a 4 x 3 codebook
        let (_vs, quantizers) = vq_pair(Kind::Float, 4, 3, &codebook);
        for q in &quantizers {
            // Ordinary latents, and NaN ones: the codebook is reported first, as the core does.
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
    // Issue 11 (D7): |z|^2 = 1e40 overflowed f32, every distance was NaN and codeword 0 won.
    single_thread();
    let codebook = [0.0f32, 0.0, 1e20, -1e20, -1e20, 1e20, 1.0, 1.0];
    let latents = [1e20f32, -1e20, -1e20, 1e20, 1.0, 1.0, 3e38, 3e38];
    // (3e38, 3e38) is as far from (1, 1) as from the origin, even in f64: a tie, to 0.
    let expected =
        lattice_vq_core::vq::nearest_codewords_in_slices(&codebook, &latents, 2).unwrap();
    assert_eq!(expected, vec![1, 2, 3, 0]);
    let (_vs, quantizers) = vq_pair(Kind::Float, 4, 2, &codebook);
    for q in &quantizers {
        let out = q.quantize(&tensor(&latents[..6], &[3, 2]), false).unwrap();
        assert_eq!(
            Vec::<i64>::try_from(out.codes.tensor()).unwrap(),
            vec![1, 2, 3],
            "{q:?}"
        );
        assert_eq!(out.loss.double_value(&[]), 0.0, "{q:?}");
        let out = q.quantize(&tensor(&latents, &[4, 2]), false).unwrap();
        assert_eq!(
            Vec::<i64>::try_from(out.codes.tensor()).unwrap(),
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
    single_thread();
    let (dim, k, n) = (16usize, 48usize, 400usize);
    let centre = small_integers(dim, 1 << 22, 1);
    let grid = |offsets: &[i64], rows: usize| -> Vec<f32> {
        (0..rows * dim)
            .map(|i| (centre[i % dim] + offsets[i]) as f32 / 1024.0)
            .collect()
    };
    let codebook = grid(&small_integers(k * dim, 2, 2), k);
    let latents = grid(&small_integers(n * dim, 2, 3), n);
    for kind in [Kind::Float, Kind::Double] {
        let expected = if kind == Kind::Float {
            lattice_vq_core::vq::nearest_codewords_in_slices(&codebook, &latents, dim)
        } else {
            let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
            lattice_vq_core::vq::nearest_codewords_in_slices(
                &widen(&codebook),
                &widen(&latents),
                dim,
            )
        }
        .unwrap();
        let expected: Vec<i64> = expected.iter().map(|&i| i as i64).collect();
        let (_vs, quantizers) = vq_pair(kind, k as i64, dim as i64, &codebook);
        let rows = tensor(&latents, &[n as i64, dim as i64]).to_kind(kind);
        for q in &quantizers {
            let out = q.quantize(&rows, false).unwrap();
            let codes = Vec::<i64>::try_from(out.codes.tensor()).unwrap();
            let differing = codes.iter().zip(&expected).filter(|(a, b)| a != b).count();
            assert_eq!(
                differing, 0,
                "{q:?} {kind:?}: {differing} of {n} rows differ"
            );
        }
    }
}
