//! Finite codebooks through the examples' library side: `--quantizer fsq|bounded-lattice*
//! --levels`, a training run on every backend, `evaluate --tokens` writing the smallest
//! unsigned type and `--from-tokens` reproducing the evaluated error exactly; bad codebook
//! choices are typed errors.

use lattice_vq_core::Levels;
use lattice_vq_experiments::train::checkpoint_eval::{
    EvalOptions, EvalSplit, evaluate_checkpoint, infer_quantizer,
};
use lattice_vq_experiments::train::run::{model_configs, run};
use lattice_vq_experiments::train::tokens::{read_tokens, token_dtype};
use lattice_vq_experiments::train::{
    CodebookChoice, DatasetKind, Device, EpochMode, QuantizerKind,
};

use crate::support::{backends, smoke_options};

fn levels(text: &str) -> Option<Levels> {
    Some(text.parse().unwrap())
}

#[test]
fn finite_codebooks_train_and_their_token_files_decode_to_the_evaluated_error() {
    for backend in backends() {
        for (quantizer, text, dtype) in [
            (QuantizerKind::BoundedLattice, "8,8,8", "U16"),
            (QuantizerKind::BoundedLatticeOffset, "4,4,4,4", "U8"),
            (QuantizerKind::Fsq, "8,5,5,5", "U16"),
        ] {
            let what = format!("{backend:?} {quantizer} {text}");
            let dir = tempfile::tempdir().unwrap();
            let mut options = smoke_options(dir.path(), quantizer, backend, 8);
            options.codebook.levels = levels(text);
            let result = run(&options).unwrap();
            assert!(result.test.mse.is_finite(), "{what}");
            assert_eq!(
                infer_quantizer(&result.model).unwrap(),
                (
                    quantizer,
                    CodebookChoice {
                        levels: levels(text),
                        codebook_size: None
                    }
                ),
                "{what}: the quantizer inferred from the checkpoint"
            );
            let tokens = dir.path().join("tokens.safetensors");
            let eval = |tokens_out, from_tokens| EvalOptions {
                checkpoint: result.model.clone(),
                model: None,
                quantizer: None,
                codebook: CodebookChoice::default(),
                tokens: tokens_out,
                from_tokens,
                vocabulary_from: None,
                dataset: DatasetKind::Synthetic,
                data_dir: None,
                split: EvalSplit::Test,
                backend,
                device: Device::Cpu,
                batch_size: 24,
                max_images: Some(60),
                sketch_precision: None,
                threads: Some(1),
                progress: false,
            };
            let written = evaluate_checkpoint(&eval(Some(tokens.clone()), None)).unwrap();
            assert_eq!(token_dtype(&tokens).unwrap(), dtype, "{what}");
            let (values, shape) = read_tokens(&tokens).unwrap();
            assert_eq!(shape, vec![60, 14, 14], "{what}");
            let k = levels(text).unwrap().codebook_size() as i64;
            assert!(values.iter().all(|&t| (0..k).contains(&t)), "{what}");
            let decoded = evaluate_checkpoint(&eval(None, Some(tokens.clone()))).unwrap();
            assert_eq!(decoded.mse, written.mse, "{what}");
            assert_eq!(
                decoded.tokens_mse,
                Some(written.mse),
                "{what}: decoded tokens"
            );
        }
    }
}

/// Under the paper's protocol a finite codebook's epochs at learning rate 0 are skipped like
/// LL-VQ's (its `levels.i` buffers are not EMA state), and the test report has the overload
/// rate of its box.
#[test]
fn finite_codebooks_skip_the_paper_protocols_idle_epochs_and_report_overload() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = smoke_options(dir.path(), QuantizerKind::BoundedLattice, backends()[0], 3);
    options.codebook.levels = levels("3,3");
    options.protocol = lattice_vq_experiments::train::Protocol::Paper;
    options.epochs = 2;
    let result = run(&options).unwrap();
    assert_eq!(result.epochs[1].mode, EpochMode::Skipped);
    let rate = result
        .test
        .overload_rate
        .expect("a bounded lattice reports overload");
    assert!((0.0..=1.0).contains(&rate), "{rate}");
    let mut options = smoke_options(dir.path(), QuantizerKind::Lattice, backends()[0], 1);
    options.out_dir = dir.path().join("lattice");
    assert_eq!(run(&options).unwrap().test.overload_rate, None);
}

#[test]
fn codebook_choices_the_quantizer_does_not_take_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let with = |quantizer, levels: Option<Levels>, codebook_size| {
        let mut options = smoke_options(dir.path(), quantizer, backends()[0], 1);
        options.codebook = CodebookChoice {
            levels,
            codebook_size,
        };
        model_configs(&options)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let err = with(QuantizerKind::Fsq, None, None).unwrap_err();
    assert!(err.contains("--levels is required"), "{err}");
    let err = with(QuantizerKind::Vq, levels("8,8"), None).unwrap_err();
    assert!(err.contains("--codebook-size"), "{err}");
    let err = with(QuantizerKind::BoundedLattice, levels("8,8"), Some(64)).unwrap_err();
    assert!(err.contains("product of its --levels"), "{err}");
    let err = with(QuantizerKind::Fsq, levels("65536,65536"), None).unwrap_err();
    assert!(err.contains("at most 2^31 codes"), "{err}");
    assert!(with(QuantizerKind::Fsq, levels("65536,32768"), None).is_ok());
    assert!(with(QuantizerKind::Vq, None, Some(64)).is_ok());
    assert!(with(QuantizerKind::Vq, None, Some(1)).is_err(), "K = 1");
    assert!("8,0".parse::<Levels>().is_err());
    // The lattices' codes have no token indices.
    let lattice = dir.path().join("lattice");
    let mut options = smoke_options(&lattice, QuantizerKind::Lattice, backends()[0], 1);
    options.max_eval_images = Some(4);
    let result = run(&options).unwrap();
    // Its codes get tokens from a vocabulary instead: none is unknown on the split it was
    // built from, and the rate on another split is a fraction.
    let vocabulary = |from| EvalOptions {
        checkpoint: result.model.clone(),
        model: None,
        quantizer: None,
        codebook: CodebookChoice::default(),
        tokens: None,
        from_tokens: None,
        vocabulary_from: Some(from),
        dataset: DatasetKind::Synthetic,
        data_dir: None,
        split: EvalSplit::Test,
        backend: backends()[0],
        device: Device::Cpu,
        batch_size: 8,
        max_images: Some(16),
        sketch_precision: None,
        threads: Some(1),
        progress: false,
    };
    let same = evaluate_checkpoint(&vocabulary(EvalSplit::Test)).unwrap();
    assert_eq!(same.out_of_vocabulary_rate, Some(0.0));
    assert_eq!(same.vocabulary_size, Some(same.unique_codes as u64));
    let other = evaluate_checkpoint(&vocabulary(EvalSplit::Train)).unwrap();
    let rate = other.out_of_vocabulary_rate.unwrap();
    assert!((0.0..=1.0).contains(&rate), "{rate}");
    let err = evaluate_checkpoint(&EvalOptions {
        checkpoint: result.model,
        model: None,
        quantizer: None,
        codebook: CodebookChoice::default(),
        tokens: Some(dir.path().join("t.safetensors")),
        from_tokens: None,
        vocabulary_from: None,
        dataset: DatasetKind::Synthetic,
        data_dir: None,
        split: EvalSplit::Test,
        backend: backends()[0],
        device: Device::Cpu,
        batch_size: 4,
        max_images: Some(4),
        sketch_precision: None,
        threads: Some(1),
        progress: false,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("not token indices"), "{err}");
}
