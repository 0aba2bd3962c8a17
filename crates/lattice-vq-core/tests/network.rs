//! The reference network as data: every tensor name and shape for the paper's three
//! datasets and four quantizers, as the tch and candle `VqVae::new` create them today
//! (crates/lattice-vq-tch/src/vqvae.rs, crates/lattice-vq-candle/src/vqvae.rs), and as the
//! official checkpoints hold them when those are present.

use std::path::PathBuf;

use lattice_vq_core::network::{
    ConvSpec, LEAKY_RELU_SLOPE, QUANTIZER_PREFIX, StageSpec, TensorInit, TensorSpec,
    pytorch_default_init_bound,
};
use lattice_vq_core::{Error, QuantizerConfig, VqVaeConfig};

type Named = Vec<(String, Vec<usize>)>;

fn named(list: &[(&str, &[usize])]) -> Named {
    list.iter()
        .map(|(name, shape)| (name.to_string(), shape.to_vec()))
        .collect()
}

fn names_and_shapes(tensors: &[TensorSpec]) -> Named {
    tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect()
}

/// Encoder of Fashion-MNIST (`c = 1`) and CelebA (`c = 3`): hidden dims `[64]`, D = 64.
fn encoder_64(c: usize) -> Named {
    let first: &[usize] = &[64, c, 4, 4];
    named(&[
        ("_encoder.0.0.weight", first),
        ("_encoder.0.0.bias", &[64]),
        ("_encoder.1.0.weight", &[64, 64, 3, 3]),
        ("_encoder.1.0.bias", &[64]),
        ("_encoder.2.resblock.0.weight", &[64, 64, 3, 3]),
        ("_encoder.2.resblock.2.weight", &[64, 64, 1, 1]),
        ("_encoder.3.resblock.0.weight", &[64, 64, 3, 3]),
        ("_encoder.3.resblock.2.weight", &[64, 64, 1, 1]),
        ("_encoder.5.0.weight", &[64, 64, 1, 1]),
        ("_encoder.5.0.bias", &[64]),
    ])
}

fn decoder_64(c: usize) -> Named {
    let last: &[usize] = &[64, c, 4, 4];
    let bias: &[usize] = &[c];
    named(&[
        ("_decoder.0.0.weight", &[64, 64, 3, 3]),
        ("_decoder.0.0.bias", &[64]),
        ("_decoder.1.resblock.0.weight", &[64, 64, 3, 3]),
        ("_decoder.1.resblock.2.weight", &[64, 64, 1, 1]),
        ("_decoder.2.resblock.0.weight", &[64, 64, 3, 3]),
        ("_decoder.2.resblock.2.weight", &[64, 64, 1, 1]),
        ("_decoder.4.0.weight", last),
        ("_decoder.4.0.bias", bias),
    ])
}

fn encoder_ffhq() -> Named {
    named(&[
        ("_encoder.0.0.weight", &[16, 3, 4, 4]),
        ("_encoder.0.0.bias", &[16]),
        ("_encoder.1.0.weight", &[32, 16, 4, 4]),
        ("_encoder.1.0.bias", &[32]),
        ("_encoder.2.0.weight", &[32, 32, 3, 3]),
        ("_encoder.2.0.bias", &[32]),
        ("_encoder.3.resblock.0.weight", &[32, 32, 3, 3]),
        ("_encoder.3.resblock.2.weight", &[32, 32, 1, 1]),
        ("_encoder.4.resblock.0.weight", &[32, 32, 3, 3]),
        ("_encoder.4.resblock.2.weight", &[32, 32, 1, 1]),
        ("_encoder.6.0.weight", &[64, 32, 1, 1]),
        ("_encoder.6.0.bias", &[64]),
    ])
}

fn decoder_ffhq() -> Named {
    named(&[
        ("_decoder.0.0.weight", &[32, 64, 3, 3]),
        ("_decoder.0.0.bias", &[32]),
        ("_decoder.1.resblock.0.weight", &[32, 32, 3, 3]),
        ("_decoder.1.resblock.2.weight", &[32, 32, 1, 1]),
        ("_decoder.2.resblock.0.weight", &[32, 32, 3, 3]),
        ("_decoder.2.resblock.2.weight", &[32, 32, 1, 1]),
        ("_decoder.4.0.weight", &[32, 16, 4, 4]),
        ("_decoder.4.0.bias", &[16]),
        ("_decoder.5.0.weight", &[16, 3, 4, 4]),
        ("_decoder.5.0.bias", &[3]),
    ])
}

fn quantizer_tensors(name: &str) -> Named {
    match name {
        "sparse_lattice" | "dense_lattice" => named(&[("_quantizer.embedding.weight", &[1, 64])]),
        "vq" => named(&[("_quantizer.embedding.weight", &[512, 64])]),
        "vq-ema" => named(&[
            ("_quantizer.embedding.weight", &[512, 64]),
            ("_quantizer.ema_w", &[512, 64]),
            ("_quantizer.ema_cluster_size", &[512]),
        ]),
        other => panic!("no quantizer {other}"),
    }
}

const DATASETS: [&str; 3] = ["fashion-mnist", "celeba", "ffhq1024"];
const QUANTIZERS: [&str; 4] = ["sparse_lattice", "dense_lattice", "vq", "vq-ema"];

/// What the adapters create today, in creation order: encoder, quantizer, decoder.
fn expected(dataset: &str, quantizer: &str) -> Named {
    let (encoder, decoder) = match dataset {
        "fashion-mnist" => (encoder_64(1), decoder_64(1)),
        "celeba" => (encoder_64(3), decoder_64(3)),
        "ffhq1024" => (encoder_ffhq(), decoder_ffhq()),
        other => panic!("no dataset {other}"),
    };
    encoder
        .into_iter()
        .chain(quantizer_tensors(quantizer))
        .chain(decoder)
        .collect()
}

fn model_tensors(dataset: &str, quantizer: &str) -> Vec<TensorSpec> {
    let config = VqVaeConfig::for_dataset(dataset).unwrap();
    let quantizer = QuantizerConfig::by_name(quantizer, config.embedding_dim).unwrap();
    config.tensors(&quantizer).unwrap()
}

#[test]
fn every_dataset_and_quantizer_has_the_adapters_tensor_names_and_shapes_in_order() {
    for dataset in DATASETS {
        for quantizer in QUANTIZERS {
            assert_eq!(
                names_and_shapes(&model_tensors(dataset, quantizer)),
                expected(dataset, quantizer),
                "{dataset} {quantizer}"
            );
        }
    }
}

#[test]
fn conv_tensors_are_initialised_as_pytorch_does_and_quantizers_as_the_layers_do() {
    let tensors = model_tensors("ffhq1024", "vq-ema");
    let init = |name: &str| tensors.iter().find(|t| t.name == name).unwrap().init;
    let uniform = |fan_in: f64| TensorInit::Uniform {
        half_width: 1.0 / fan_in.sqrt(),
    };
    // Conv2d (out, in, k, k): fan_in = in * k * k, for the weight and the bias.
    assert_eq!(init("_encoder.0.0.weight"), uniform(3.0 * 16.0));
    assert_eq!(init("_encoder.0.0.bias"), uniform(3.0 * 16.0));
    assert_eq!(init("_encoder.3.resblock.2.weight"), uniform(32.0));
    assert_eq!(init("_encoder.6.0.weight"), uniform(32.0));
    // ConvTranspose2d (in, out, k, k): fan_in = out * k * k.
    assert_eq!(init("_decoder.4.0.weight"), uniform(16.0 * 16.0));
    assert_eq!(init("_decoder.5.0.bias"), uniform(3.0 * 16.0));
    let normal = TensorInit::Normal {
        mean: 0.0,
        std: 1.0,
    };
    assert_eq!(init("_quantizer.embedding.weight"), normal);
    assert_eq!(init("_quantizer.ema_w"), normal);
    assert_eq!(init("_quantizer.ema_cluster_size"), TensorInit::Zeros);
    let buffers: Vec<_> = tensors
        .iter()
        .filter(|t| !t.trainable)
        .map(|t| &t.name[..])
        .collect();
    assert_eq!(
        buffers,
        [
            "_quantizer.embedding.weight",
            "_quantizer.ema_w",
            "_quantizer.ema_cluster_size"
        ]
    );

    let vq = model_tensors("fashion-mnist", "vq");
    assert_eq!(
        vq.iter()
            .find(|t| t.name.starts_with(QUANTIZER_PREFIX))
            .unwrap()
            .init,
        TensorInit::Uniform {
            half_width: 1.0 / 512.0
        }
    );
    let lattice = model_tensors("fashion-mnist", "sparse_lattice");
    let basis = lattice
        .iter()
        .find(|t| t.name.starts_with(QUANTIZER_PREFIX))
        .unwrap();
    let r = lattice_vq_core::init_range(512, 64).unwrap();
    assert_eq!(basis.init, TensorInit::LatticeBasis { half_width: r });
    assert!(basis.trainable);
    let dense = model_tensors("fashion-mnist", "dense_lattice");
    let basis = dense
        .iter()
        .find(|t| t.name.starts_with(QUANTIZER_PREFIX))
        .unwrap();
    assert_eq!(basis.init, TensorInit::LatticeBasis { half_width: 1.0 });
}

#[test]
fn stages_are_the_adapters_stages() {
    let config = VqVaeConfig::fashion_mnist();
    let encoder = config.encoder().unwrap();
    let kinds: Vec<&str> = encoder
        .iter()
        .map(|s| match s {
            StageSpec::ConvLeaky(_) => "conv",
            StageSpec::Residual(_) => "residual",
            StageSpec::Leaky => "leaky",
        })
        .collect();
    assert_eq!(
        kinds,
        ["conv", "conv", "residual", "residual", "leaky", "conv"]
    );
    let StageSpec::ConvLeaky(first) = &encoder[0] else {
        panic!("{encoder:?}")
    };
    assert_eq!(
        *first,
        ConvSpec {
            name: "_encoder.0.0".into(),
            in_channels: 1,
            out_channels: 64,
            kernel: 4,
            stride: 2,
            padding: 1,
            transposed: false,
            bias: true,
        }
    );
    let StageSpec::Residual(residual) = &encoder[2] else {
        panic!("{encoder:?}")
    };
    assert_eq!(residual.name, "_encoder.2");
    assert_eq!(
        (
            residual.conv3.kernel,
            residual.conv3.padding,
            residual.conv3.bias
        ),
        (3, 1, false)
    );
    assert_eq!(
        (
            residual.conv1.kernel,
            residual.conv1.padding,
            residual.conv1.bias
        ),
        (1, 0, false)
    );
    let decoder = config.decoder().unwrap();
    assert_eq!(decoder.len(), 5);
    assert_eq!(decoder[3], StageSpec::Leaky);
    let StageSpec::ConvLeaky(last) = &decoder[4] else {
        panic!("{decoder:?}")
    };
    assert!(last.transposed && last.bias);
    assert_eq!((last.stride, last.padding), (2, 1));
    assert_eq!(LEAKY_RELU_SLOPE, 0.01);
}

#[test]
fn the_init_bound_counts_the_weights_second_dimension() {
    assert_eq!(
        pytorch_default_init_bound([64, 3, 4, 4]),
        1.0 / 48f64.sqrt()
    );
    let down = ConvSpec::down_up("x", 3, 64, false);
    let up = ConvSpec::down_up("x", 64, 3, true);
    assert_eq!(down.weight_shape(), [64, 3, 4, 4]);
    assert_eq!(up.weight_shape(), [64, 3, 4, 4]);
    assert_eq!(down.init_bound(), up.init_bound());
    assert_eq!(ConvSpec::same("x", 4, 4, 3, false).bias_name(), None);
}

#[test]
fn bad_configs_give_the_adapters_errors() {
    let mut config = VqVaeConfig::fashion_mnist();
    let lattice = QuantizerConfig::by_name("sparse_lattice", 64).unwrap();
    let wrong_dim = QuantizerConfig::by_name("vq", 32).unwrap();
    assert_eq!(
        config.tensors(&wrong_dim).unwrap_err().to_string(),
        "invalid quantizer dim = 32: must equal the model's embedding_dim"
    );
    config.hidden_dims.clear();
    assert_eq!(
        config.tensors(&lattice).unwrap_err().to_string(),
        "invalid hidden_dims = []: must name at least one stage"
    );
    assert!(config.encoder().is_err() && config.decoder().is_err());
}

#[test]
fn image_shapes_are_checked_with_the_adapters_message() {
    let ffhq = VqVaeConfig::ffhq1024();
    assert_eq!(ffhq.downsampling_factor(), 4);
    assert!(ffhq.check_image_shape(&[1, 3, 1024, 1024]).is_ok());
    assert!(ffhq.check_image_shape(&[2, 3, 4, 8]).is_ok());
    for bad in [
        &[0, 3, 1024, 1024][..],
        &[1, 1, 1024, 1024],
        &[1, 3, 1022, 1024],
        &[1, 3, 1024, 0],
        &[3, 1024, 1024],
        &[1, 1, 3, 1024, 1024],
    ] {
        let err = ffhq.check_image_shape(bad).unwrap_err();
        assert!(
            matches!(&err, Error::InputShape { what: "images", found, .. } if found == bad),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "images has shape {bad:?}: must be (N >= 1, 3, H, W) with H and W positive \
                 multiples of 4"
            )
        );
    }
}

/// The official checkpoints, as crates/lattice-vq-testkit/src/suites/official_checkpoints.rs
/// locates them (`LATTICE_VQ_CHECKPOINTS`, or `shared/reference-checkpoints` beside the
/// repository).
fn checkpoint_dir() -> PathBuf {
    std::env::var_os("LATTICE_VQ_CHECKPOINTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference-checkpoints")
        })
}

/// `(name, shape)` of every tensor in a safetensors file's header, sorted by name.
fn safetensors_listing(path: &std::path::Path) -> Named {
    let bytes = std::fs::read(path).unwrap();
    let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + length]).unwrap();
    // Top-level entries `"name": {...}`, strings read with their escapes.
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut key, mut current, mut entries) = (String::new(), String::new(), Vec::new());
    let mut last_string = String::new();
    for c in header.chars() {
        if depth >= 2 {
            current.push(c);
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => last_string.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                last_string.clear();
            }
            '{' => {
                depth += 1;
                if depth == 2 {
                    key = last_string.clone();
                    current = "{".into();
                }
            }
            '}' => {
                depth -= 1;
                if depth == 1 {
                    entries.push((key.clone(), current.clone()));
                }
            }
            _ => {}
        }
    }
    let mut listing: Named = entries
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, body)| {
            let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let start = body.find("\"shape\":[").unwrap() + "\"shape\":[".len();
            let end = start + body[start..].find(']').unwrap();
            let shape = body[start..end]
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            (name, shape)
        })
        .collect();
    listing.sort();
    listing
}

#[test]
fn the_official_checkpoints_hold_exactly_these_tensors_when_present() {
    let dir = checkpoint_dir();
    let mut checked = 0;
    for dataset in DATASETS {
        for quantizer in QUANTIZERS {
            let path = dir.join(format!("{dataset}_{quantizer}.safetensors"));
            if !path.is_file() {
                continue;
            }
            let mut ours = names_and_shapes(&model_tensors(dataset, quantizer));
            ours.sort();
            assert_eq!(safetensors_listing(&path), ours, "{}", path.display());
            checked += 1;
        }
    }
    if checked == 0 {
        eprintln!(
            "no official checkpoints under {}: listing check skipped",
            dir.display()
        );
    }
}
