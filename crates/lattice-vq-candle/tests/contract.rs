//! The adapter contract where candle's dialect shows (the kit's suites check the rest): codes
//! of the wrong kind or dtype, candle's module traits, error messages without the `candle:`
//! prefix, checkpoint errors naming the file.

use crate::support::*;
use candle_core::{DType, Module, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::{
    Codes, Error, LatticeQuantizer, Quantizer, QuantizerConfig, VectorQuantizer,
    VectorQuantizerEma, VqVaeConfig, lattice_quantizer, load_checkpoint, save_checkpoint,
    vector_quantizer, vector_quantizer_ema, vqvae,
};
use lattice_vq_core::{
    Error as CoreError, LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig,
};

const DIM: usize = 4;

/// The three layers, D = 4, in `dtype`.
fn layers(
    dtype: DType,
) -> (
    VarMap,
    LatticeQuantizer,
    VectorQuantizer,
    VectorQuantizerEma,
) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, dtype, &CPU);
    let lattice =
        lattice_quantizer(&LatticeQuantizerConfig::new(512, DIM), vb.pp("lattice")).unwrap();
    let vq = vector_quantizer(&VectorQuantizerConfig::new(8, DIM), vb.pp("vq")).unwrap();
    let ema = vector_quantizer_ema(&VectorQuantizerEmaConfig::new(8, DIM), vb.pp("ema")).unwrap();
    (varmap, lattice, vq, ema)
}

/// 12 rows of D latents, pseudo-random, in [-0.5, 0.5].
fn row_values() -> Vec<f32> {
    (0..12 * DIM)
        .map(|i| 0.5 * (i as f32 * 0.731).sin())
        .collect()
}

/// A tensor's values in its logical (row-major) order, as bits: `-0.0` and `0.0` differ.
fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// The 12 rows as `(2, D, 2, 3)` images (NHWC order of the rows).
fn images() -> Tensor {
    tensor(&row_values(), &[2, 2, 3, DIM])
        .permute((0, 3, 1, 2))
        .unwrap()
        .contiguous()
        .unwrap()
}

/// Codes of the other kind or of another dtype (the kit's `layouts` suite checks the ranks
/// and widths).
#[test]
fn codes_of_the_wrong_kind_or_dtype_do_not_decode() {
    let (_varmap, lattice, vq, ema) = layers(DType::F32);
    let rows = tensor(&row_values(), &[12, DIM]);
    let lattice_codes = lattice.quantize(&rows, false).unwrap().codes;
    let indices = vq.quantize(&rows, false).unwrap().codes;
    let v = lattice_codes.tensor();
    let i = indices.tensor();
    let bad_lattice = [
        Codes::Lattice(v.to_dtype(DType::I64).unwrap()),
        indices.clone(),
    ];
    for codes in &bad_lattice {
        let err = lattice.decode(codes).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Core(CoreError::InputShape { what: "codes", .. })
            ),
            "{codes:?}: {err}"
        );
        assert!(!err.to_string().starts_with("candle"), "{err}");
    }
    let bad_indices = [
        Codes::Indices(i.to_dtype(DType::U32).unwrap()),
        lattice_codes.clone(),
    ];
    let vq_layers: [&dyn Quantizer; 2] = [&vq, &ema];
    for q in vq_layers {
        for codes in &bad_indices {
            let err = q.decode(codes).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Core(CoreError::InputShape { what: "codes", .. })
                ),
                "{codes:?}: {err}"
            );
        }
    }
}

#[test]
fn the_layers_are_candle_modules_returning_quantized() {
    let (_varmap, lattice, vq, ema) = layers(DType::F32);
    let latents = images();
    let expected = bits(&lattice.quantize(&latents, false).unwrap().quantized);
    assert_eq!(bits(&lattice.forward(&latents).unwrap()), expected);
    assert_eq!(bits(&lattice.forward_t(&latents, true).unwrap()), expected);
    let expected = bits(&vq.quantize(&latents, false).unwrap().quantized);
    assert_eq!(bits(&vq.forward(&latents).unwrap()), expected);
    assert_eq!(bits(&vq.forward_t(&latents, true).unwrap()), expected);
    // VQ-EMA's ModuleT passes the flag: eval leaves the codebook, training moves it.
    let before = bits(ema.codebook());
    let expected = bits(&ema.quantize(&latents, false).unwrap().quantized);
    assert_eq!(bits(&ema.forward_t(&latents, false).unwrap()), expected);
    assert_eq!(bits(ema.codebook()), before);
    assert_eq!(bits(&ema.forward_t(&latents, true).unwrap()), expected);
    assert_ne!(bits(ema.codebook()), before);
    // Our errors come through candle's traits with their message, without a prefix.
    let bad = Tensor::zeros((2, DIM + 1), DType::F32, &CPU).unwrap();
    let err = lattice.forward(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with("latents has shape [2, 5]: must be (N, 4) rows"),
        "{err}"
    );
}

#[test]
fn the_model_is_a_candle_module_t_returning_the_reconstruction() {
    let (_varmap, vb) = var_builder();
    let quantizer = QuantizerConfig::by_name("vq-ema", 64).unwrap();
    let model = vqvae(&VqVaeConfig::fashion_mnist(), &quantizer, vb).unwrap();
    let images = Tensor::rand(0f32, 1.0, (1, 1, 28, 28), &CPU).unwrap();
    let expected = bits(&model.forward_t(&images, false).unwrap().reconstruction);
    let module: &dyn ModuleT = &model;
    assert_eq!(bits(&module.forward_t(&images, false).unwrap()), expected);
}

#[test]
fn errors_that_are_not_candle_s_say_so_without_a_candle_prefix() {
    let (_varmap, lattice, vq, ema) = layers(DType::F32);
    let quantizers: [&dyn Quantizer; 3] = [&lattice, &vq, &ema];
    let f64_rows = tensor(&row_values(), &[12, DIM])
        .to_dtype(DType::F64)
        .unwrap();
    for q in quantizers {
        let err = q.quantize(&f64_rows, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "latents: dtype F64 does not match the layer's F32",
            "{q:?}"
        );
        let err = q
            .quantize(&Tensor::zeros((2, 3, 5), DType::F32, &CPU).unwrap(), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "latents has shape [2, 3, 5]: must be (N, 4) rows, (B, T, 4) sequences or \
             (N, 4, H, W) images"
        );
        let mut values = row_values();
        values[5] = f32::NAN;
        let err = q
            .quantize(&tensor(&values, &[12, DIM]), false)
            .unwrap_err()
            .to_string();
        assert!(!err.starts_with("candle"), "{err}");
    }
}

#[test]
fn checkpoint_errors_name_the_file_and_an_empty_var_map_reads_it() {
    let dir =
        std::env::temp_dir().join(format!("lattice-vq-candle-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (varmap, _lattice, _vq, _ema) = layers(DType::F32);
    let file = dir.join("layers.safetensors");
    save_checkpoint(&varmap, &file).unwrap();

    let err = load_checkpoint(&VarMap::new(), &file).unwrap_err();
    assert!(
        matches!(err, Error::Core(CoreError::UnexpectedTensors { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains("lattice.embedding.weight"),
        "{err}"
    );

    let absent = dir.join("absent.safetensors");
    for varmap in [VarMap::new(), varmap.clone()] {
        let err = load_checkpoint(&varmap, &absent).unwrap_err();
        assert!(matches!(err, Error::Core(CoreError::Io { .. })), "{err}");
        assert!(err.to_string().contains("absent.safetensors"), "{err}");
    }
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let err = load_checkpoint(&varmap, &garbage).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("checkpoint {}: ", garbage.display())),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
