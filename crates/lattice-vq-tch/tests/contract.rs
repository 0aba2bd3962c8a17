//! The parts of the adapter contract that are tch's own: typed codes of the wrong variant or
//! kind, `nn::ModuleT`, the free constructors, error messages naming kinds and paths. The
//! layouts and `decode`'s shape rules are the test kit's `layouts` suite.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lattice_vq_core::{
    Error as CoreError, LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig,
};
use lattice_vq_tch::{
    Codes, Error, Quantizer, QuantizerConfig, VqVae, VqVaeConfig, lattice_quantizer,
    load_checkpoint, vector_quantizer, vector_quantizer_ema, vqvae,
};
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor, nn};

const DIM: i64 = 4;
const CPU: Device = Device::Cpu;

/// One libtorch thread per test (see tests/kit.rs).
fn single_thread() {
    tch::set_num_threads(1);
}

/// A CPU f32 tensor of `shape` from row-major values.
fn tensor(values: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values).view(shape)
}

/// One layer of each kind, D = 4, built with the free constructors.
fn layers(vs: &nn::VarStore) -> Vec<(&'static str, Box<dyn Quantizer>)> {
    let root = vs.root();
    vec![
        (
            "lattice",
            Box::new(
                lattice_quantizer(&root.sub("lattice"), &LatticeQuantizerConfig::new(512, 4))
                    .unwrap(),
            ),
        ),
        (
            "vq",
            Box::new(
                vector_quantizer(&root.sub("vq"), &VectorQuantizerConfig::new(16, 4)).unwrap(),
            ),
        ),
        (
            "ema",
            Box::new(
                vector_quantizer_ema(&root.sub("ema"), &VectorQuantizerEmaConfig::new(16, 4))
                    .unwrap(),
            ),
        ),
    ]
}

/// 12 latent rows of D = 4, deterministic.
fn rows() -> Tensor {
    let values: Vec<f32> = (0..48)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.07)
        .collect();
    tensor(&values, &[12, DIM])
}

fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    let flat = |t: &Tensor| Vec::<f32>::try_from(t.contiguous().view([-1])).unwrap();
    a.size() == b.size()
        && flat(a)
            .iter()
            .zip(flat(b))
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn lattice_points_are_the_basis_times_the_codes() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let q = lattice_quantizer(&vs.root(), &LatticeQuantizerConfig::new(512, 4)).unwrap();
    let mut basis = q.basis().unwrap();
    tch::no_grad(|| basis.copy_(&Tensor::from_slice(&[0.5f32, -0.25, 2.0, 1.0])));
    assert_eq!(q.basis().unwrap().size(), vec![DIM]);
    // Small negative latents round to a zero code: e is b * 0 from the integer code.
    let out = q
        .quantize(&tensor(&[-0.1, 0.3, -0.9, 1.6], &[1, DIM]), true)
        .unwrap();
    assert_eq!(
        Vec::<i32>::try_from(out.codes.tensor().view([-1])).unwrap(),
        vec![0, -1, 0, 2]
    );
    let expected = tensor(&[0.0, 0.25, 0.0, 2.0], &[1, DIM]);
    assert!(same_bits(&out.points, &expected), "{:?}", out.points);
    assert!(!out.points.requires_grad(), "points are detached");
}

/// Codes of the other variant or kind, and indices outside the codebook (ranks and widths are
/// the kit's `layouts::decode_refuses_codes_of_another_rank_or_width`).
#[test]
fn decode_rejects_codes_it_cannot_read() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let int = |shape: &[i64]| Tensor::zeros(shape, (Kind::Int, CPU));
    let long = |shape: &[i64]| Tensor::zeros(shape, (Kind::Int64, CPU));
    for (name, q) in layers(&vs) {
        let bad = if name == "lattice" {
            vec![Codes::Indices(long(&[3])), Codes::Lattice(long(&[3, 4]))]
        } else {
            vec![
                Codes::Lattice(int(&[3, 4])),
                Codes::Indices(int(&[3])),
                Codes::Indices(Tensor::from_slice(&[0i64, 16])),
                Codes::Indices(Tensor::from_slice(&[-1i64])),
            ]
        };
        for codes in &bad {
            let err = q.decode(codes).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Core(CoreError::InputShape { what: "codes", .. })
                ),
                "{name} {codes:?}: {err}"
            );
        }
    }
}

/// `nn::ModuleT::forward_t` is `quantize(..).quantized`, and panics with the error's message.
fn check_module<Q: Quantizer + ModuleT>(q: &Q) {
    let rows = rows();
    let quantized = ModuleT::forward_t(q, &rows, false);
    assert!(quantized.equal(&q.quantize(&rows, false).unwrap().quantized));
    let panic = catch_unwind(AssertUnwindSafe(|| {
        ModuleT::forward_t(q, &Tensor::zeros([2, 5], (Kind::Float, CPU)), false)
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("latents has shape [2, 5]: must be"),
        "{message}"
    );
}

#[test]
fn layers_and_the_model_are_tch_modules_that_panic_on_bad_input() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    let root = vs.root();
    check_module(&lattice_quantizer(&root.sub("a"), &LatticeQuantizerConfig::new(512, 4)).unwrap());
    check_module(&vector_quantizer(&root.sub("b"), &VectorQuantizerConfig::new(16, 4)).unwrap());
    check_module(
        &vector_quantizer_ema(&root.sub("c"), &VectorQuantizerEmaConfig::new(16, 4)).unwrap(),
    );

    let model = vqvae(
        &root.sub("model"),
        &VqVaeConfig::fashion_mnist(),
        &QuantizerConfig::by_name("vq", 64).unwrap(),
    )
    .unwrap();
    let images = Tensor::zeros([1, 1, 28, 28], (Kind::Float, CPU));
    let reconstruction = ModuleT::forward_t(&model, &images, false);
    let out = model.forward_t(&images, false).unwrap();
    assert!(reconstruction.equal(&out.reconstruction));
    let panic = catch_unwind(AssertUnwindSafe(|| {
        ModuleT::forward_t(
            &model,
            &Tensor::zeros([1, 1, 27, 28], (Kind::Float, CPU)),
            false,
        )
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("images has shape [1, 1, 27, 28]"),
        "{message}"
    );
}

#[test]
fn free_constructors_are_new() {
    single_thread();
    let (a, b) = (nn::VarStore::new(CPU), nn::VarStore::new(CPU));
    let config = VqVaeConfig::fashion_mnist();
    let quantizer = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
    vqvae(&a.root(), &config, &quantizer).unwrap();
    VqVae::new(&b.root(), &config, &quantizer).unwrap();
    let shapes = |vs: &nn::VarStore| {
        let mut v: Vec<_> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.size()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shapes(&a), shapes(&b));
}

#[test]
fn error_messages_name_the_dtypes_and_the_path() {
    single_thread();
    let vs = nn::VarStore::new(CPU);
    for (name, q) in layers(&vs) {
        let err = q
            .quantize(&rows().to_kind(Kind::Double), false)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Core(CoreError::DtypeMismatch {
                    what: "latents",
                    ..
                })
            ),
            "{name}: {err}"
        );
        assert_eq!(
            err.to_string(),
            "latents: dtype F64 does not match the layer's F32"
        );
        // Our errors carry no host prefix; libtorch's do.
        let err = q
            .quantize(&Tensor::zeros([4], (Kind::Float, CPU)), false)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("latents has shape [4]: "),
            "{err}"
        );
    }
    let torch = Error::from(tch::TchError::Torch("boom".into()));
    assert_eq!(torch.to_string(), "tch: Internal torch error: boom");

    let mut vs = nn::VarStore::new(CPU);
    lattice_quantizer(&vs.root(), &LatticeQuantizerConfig::new(512, 4)).unwrap();
    let dir = std::env::temp_dir().join(format!("lattice-vq-tch-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let absent = dir.join("absent.safetensors");
    let err = load_checkpoint(&mut vs, &absent).unwrap_err();
    assert!(matches!(err, Error::Core(CoreError::Io { .. })), "{err}");
    assert!(
        err.to_string().contains(&absent.display().to_string()),
        "{err}"
    );
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let err = load_checkpoint(&mut vs, &garbage).unwrap_err();
    assert!(
        matches!(err, Error::Core(CoreError::Checkpoint { .. })),
        "{err}"
    );
    let message = err.to_string();
    let prefix = format!("checkpoint {}: ", garbage.display());
    assert!(message.starts_with(&prefix), "{message}");
    // The path once, not again from tch's own message.
    assert_eq!(
        message.matches(&garbage.display().to_string()).count(),
        1,
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
