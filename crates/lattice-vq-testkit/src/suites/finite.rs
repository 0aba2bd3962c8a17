//! The finite-codebook layers (FSQ, the bounded lattice) against the core: digits, token
//! indices, points and overload equal to the core's bit for bit, on rows and images, in f32
//! and f64; decode of the indices gives the decoder input back; gradients by finite
//! differences; checkpoints of other levels and bad tokens are typed errors.

use lattice_vq_core::{
    BoundedLattice, Error, FiniteQuantizerConfig, FiniteScalarQuantizer, Lattice, LatticeFloat,
    Levels, QuantizerConfig, VqVaeConfig, loss,
};
use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};

use super::support::failure;
use crate::failure::Failure;
use crate::finite_backend::{FiniteBackend, FiniteQuantization, Objective};
use crate::types::{DType, Input};

/// The steps and offsets the bounded tests set: both signs, dyadic, so that the latents'
/// exact ties stay exact ties in f32.
const STEPS: [f64; 3] = [0.5, -1.25, 2.0];
const OFFSETS: [f64; 3] = [0.25, -0.5, 1.0];

fn levels(text: &str) -> Levels {
    text.parse().expect("valid levels")
}

/// `rows * width` latents, multiples of `1 / scale` spread over `[-96, 96] / scale`: many
/// outside the box, many exactly half-way between two levels.
fn latents(shape: &[usize], scale: f64) -> ArrayD<f64> {
    let count: usize = shape.iter().product();
    let values = (0..count)
        .map(|i| ((i * 37 % 193) as f64 - 96.0) / scale)
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

/// `(N, C, H, W)` values as `(N * H * W, C)` rows, the layers' row order.
fn image_rows<T: Clone>(image: &ArrayD<T>) -> Array2<T> {
    let channels = image.shape()[1];
    let moved = image.view().permuted_axes(IxDyn(&[0, 2, 3, 1]));
    let flat: Vec<T> = moved.iter().cloned().collect();
    Array2::from_shape_vec((flat.len() / channels, channels), flat).unwrap()
}

/// Channel-last codes `(..., d)` as rows.
fn code_rows(codes: &ArrayD<i32>) -> Array2<i32> {
    let d = *codes.shape().last().unwrap();
    let flat: Vec<i32> = codes.iter().copied().collect();
    Array2::from_shape_vec((flat.len() / d, d), flat).unwrap()
}

/// The core's answer for rows of latents: digits, points, indices, overload, the straight-
/// through output and the loss parts `(embedding, commitment, size)`.
struct Expected {
    codes: Array2<i32>,
    points: Array2<f64>,
    indices: Vec<i64>,
    overloaded: u64,
    quantized: Array2<f64>,
    parts: (f64, f64, f64),
}

fn narrow<F: LatticeFloat>(rows: ArrayView2<f64>) -> Array2<F> {
    rows.mapv(|x| F::from(x).expect("representable"))
}

fn widen<F: LatticeFloat>(rows: &Array2<F>) -> Array2<f64> {
    rows.mapv(|x| x.to_f64().unwrap_or(f64::NAN))
}

/// The core on `rows` in `F`: the bounded lattice of `parameters`, or FSQ when `None`.
fn core_answer<F: LatticeFloat>(
    config: &FiniteQuantizerConfig,
    parameters: Option<&[f64]>,
    rows: ArrayView2<f64>,
) -> Expected {
    let z = narrow::<F>(rows);
    let (q, overloaded, indices, parts, quantized) = match parameters {
        Some(parameters) => {
            let parameters: Vec<F> = parameters.iter().map(|&p| F::from(p).unwrap()).collect();
            let lattice: BoundedLattice<F> = config.bounded_lattice(&parameters).unwrap();
            let q = lattice.quantize(z.view()).unwrap();
            let overloaded = lattice.overloaded(z.view()).unwrap();
            let indices = lattice.codes_to_indices(q.codes.view()).unwrap();
            let embedding = loss::embedding_loss(z.view(), q.points.view()).unwrap();
            let commitment = loss::commitment_loss(z.view(), q.points.view()).unwrap();
            let parts = (
                embedding.to_f64().unwrap(),
                commitment.to_f64().unwrap(),
                lattice.size_loss().to_f64().unwrap(),
            );
            let quantized = loss::straight_through(z.view(), q.points.view()).unwrap();
            (q, overloaded, indices, parts, widen(&quantized))
        }
        None => {
            let fsq: FiniteScalarQuantizer<F> = config.fsq_quantizer().unwrap();
            let q = fsq.quantize(z.view()).unwrap();
            let overloaded = fsq.overloaded(z.view()).unwrap();
            let indices = fsq.codes_to_indices(q.codes.view()).unwrap();
            let quantized = widen(&q.points);
            (q, overloaded, indices, (0.0, 0.0, 0.0), quantized)
        }
    };
    Expected {
        codes: q.codes,
        points: widen(&q.points),
        indices: indices.iter().map(|&i| i as i64).collect(),
        overloaded,
        quantized,
        parts,
    }
}

fn expected(
    dtype: DType,
    config: &FiniteQuantizerConfig,
    parameters: Option<&[f64]>,
    rows: ArrayView2<f64>,
) -> Expected {
    match dtype {
        DType::F64 => core_answer::<f64>(config, parameters, rows),
        _ => core_answer::<f32>(config, parameters, rows),
    }
}

fn max_gap(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + a.abs().max(b.abs()))
}

/// Compare a layer's output on rows (`image: false`) or an image with the core's answer.
fn check(what: &str, out: &FiniteQuantization, want: &Expected, image: bool, weights: (f64, f64)) {
    let rows = |a: &ArrayD<f64>| {
        if image {
            image_rows(a)
        } else {
            a.clone().into_dimensionality().unwrap()
        }
    };
    assert_eq!(code_rows(&out.codes), want.codes, "{what}: digits");
    let indices: Vec<i64> = out.indices.iter().copied().collect();
    assert_eq!(indices, want.indices, "{what}: token indices");
    assert_eq!(
        max_gap(&rows(&out.points), &want.points),
        0.0,
        "{what}: points"
    );
    assert_eq!(out.overloaded, want.overloaded, "{what}: overload");
    let quantized = max_gap(&rows(&out.quantized), &want.quantized);
    assert!(quantized <= 1e-6, "{what}: quantized off by {quantized:e}");
    let (embedding, commitment, size) = want.parts;
    assert!(
        close(out.parts.embedding, embedding, 1e-6),
        "{what}: embedding"
    );
    assert!(
        close(out.parts.commitment, commitment, 1e-6),
        "{what}: commitment"
    );
    assert!(close(out.parts.size, size, 1e-6), "{what}: size");
    let loss = embedding + weights.0 * commitment + weights.1 * size;
    assert!(
        close(out.loss, loss, 1e-6),
        "{what}: loss {} vs {loss}",
        out.loss
    );
}

fn set_row<B: FiniteBackend>(backend: &B, layer: &mut B::Finite, name: &str, values: &[f64]) {
    let values = ArrayD::from_shape_vec(IxDyn(&[1, values.len()]), values.to_vec()).unwrap();
    backend
        .set_finite_tensor(layer, name, values.view())
        .unwrap();
}

/// The bounded lattice, with and without learned offsets, on rows and images in f32 and f64:
/// digits, indices, points and overload equal to the core's, the output and losses to
/// rounding.
pub fn bounded_codes_points_and_indices_equal_the_core<B: FiniteBackend>(backend: &B) {
    let name = backend.name();
    for dtype in [DType::F32, DType::F64] {
        for learned in [false, true] {
            let mut config = FiniteQuantizerConfig::bounded(levels("3,4,5"), 3)
                .with_sparsity_cost(0.5)
                .with_commitment_cost(0.25);
            let mut parameters = STEPS.to_vec();
            if learned {
                config = config.with_learned_offset();
                parameters.extend(OFFSETS);
            }
            let mut layer = backend.finite(&config, dtype).unwrap();
            set_row(backend, &mut layer, "step", &STEPS);
            if learned {
                set_row(backend, &mut layer, "offset", &OFFSETS);
            }
            let weights = (config.commitment_cost, config.sparsity_cost);
            let what = format!("{name} {dtype:?} offsets learned {learned}");
            let rows = latents(&[64, 3], 8.0);
            let out = backend
                .finite_quantize(&layer, &Input::new(rows.clone(), dtype))
                .unwrap();
            let rows2: Array2<f64> = rows.into_dimensionality().unwrap();
            let want = expected(dtype, &config, Some(&parameters), rows2.view());
            assert!(want.overloaded > 0, "the test latents leave the box");
            check(&format!("{what} rows"), &out, &want, false, weights);
            assert_eq!(out.decoded, out.points, "{what}: decoded (no projections)");

            let image = latents(&[2, 3, 4, 5], 8.0);
            let out = backend
                .finite_quantize(&layer, &Input::new(image.clone(), dtype))
                .unwrap();
            assert_eq!(out.codes.shape(), &[2, 4, 5, 3], "{what}: image codes");
            assert_eq!(out.indices.shape(), &[2, 4, 5], "{what}: image indices");
            let want = expected(dtype, &config, Some(&parameters), image_rows(&image).view());
            check(&format!("{what} image"), &out, &want, true, weights);
        }
    }
}

/// FSQ (even, odd and mixed levels) on rows with values far outside the box, and on images:
/// digits, indices and points equal to the core's, no loss.
pub fn fsq_codes_points_and_indices_equal_the_core<B: FiniteBackend>(backend: &B) {
    let name = backend.name();
    for dtype in [DType::F32, DType::F64] {
        for text in ["8,8,8", "7,5,5,5", "8,5,5,5"] {
            let config = FiniteQuantizerConfig::fsq(levels(text), text.split(',').count());
            let d = config.codebook_dim();
            let layer = backend.finite(&config, dtype).unwrap();
            let what = format!("{name} {dtype:?} FSQ {text}");
            let mut rows = latents(&[48, d], 24.0);
            for (i, far) in [1e3, -1e3, 1e30, -1e30].into_iter().enumerate() {
                rows[[i, i % d]] = far;
            }
            let out = backend
                .finite_quantize(&layer, &Input::new(rows.clone(), dtype))
                .unwrap();
            let rows2: Array2<f64> = rows.into_dimensionality().unwrap();
            check(
                &what,
                &out,
                &expected(dtype, &config, None, rows2.view()),
                false,
                (0.0, 0.0),
            );
            let image = latents(&[2, d, 3, 3], 24.0);
            let out = backend
                .finite_quantize(&layer, &Input::new(image.clone(), dtype))
                .unwrap();
            let want = expected(dtype, &config, None, image_rows(&image).view());
            check(&format!("{what} image"), &out, &want, true, (0.0, 0.0));
        }
    }
}

/// With and without projections, for both kinds: decoding the token indices gives the
/// decoder input of the points back, bit for bit, in the latents' layout, and that is the
/// forward value of the straight-through output, bit for bit.
pub fn decode_gives_the_decoder_input_back<B: FiniteBackend>(backend: &B) {
    let name = backend.name();
    let configs = [
        FiniteQuantizerConfig::bounded(levels("4,3"), 6).with_learned_offset(),
        FiniteQuantizerConfig::fsq(levels("4,3"), 6),
        FiniteQuantizerConfig::bounded(levels("5,4"), 2),
        FiniteQuantizerConfig::fsq(levels("5,4"), 2),
    ];
    for config in configs {
        let layer = backend.finite(&config, DType::F32).unwrap();
        let what = format!("{name} {config:?}");
        let image = latents(&[2, config.dim, 3, 3], 32.0);
        let out = backend
            .finite_quantize(&layer, &Input::new(image, DType::F32))
            .unwrap();
        assert_eq!(out.quantized.shape(), &[2, config.dim, 3, 3], "{what}");
        assert_eq!(out.decoded.shape(), &[2, config.dim, 3, 3], "{what}");
        let decoded = backend.finite_decode(&layer, &out.indices).unwrap();
        assert_eq!(decoded, out.decoded, "{what}: decode of the indices");
        // The straight-through output's forward value is the point itself (not `y + (e - y)`,
        // which rounds), so a file of tokens decodes to the decoder input of the forward pass.
        assert_eq!(
            out.quantized, out.decoded,
            "{what}: forward value of the output"
        );
    }
}

/// Central differences of the layer's own forward pass, one entry of tensor `name` (or of
/// the latents) at a time.
fn numeric<B: FiniteBackend>(
    backend: &B,
    layer: &mut B::Finite,
    name: &str,
    values: &ArrayD<f64>,
    latents: &ArrayD<f64>,
    objective: impl Fn(&FiniteQuantization) -> f64,
) -> ArrayD<f64> {
    let h = 1e-6;
    let mut grad = ArrayD::zeros(values.raw_dim());
    for (index, slot) in grad.iter_mut().enumerate() {
        let mut at = |sign: f64| {
            let mut moved = values.clone();
            let entry = moved.iter_mut().nth(index).unwrap();
            *entry += sign * h;
            let input = if name == "latents" {
                moved
            } else {
                backend
                    .set_finite_tensor(layer, name, moved.view())
                    .unwrap();
                latents.clone()
            };
            objective(&backend.finite_quantize(layer, &Input::f64(input)).unwrap())
        };
        *slot = (at(1.0) - at(-1.0)) / (2.0 * h);
    }
    if name != "latents" {
        backend
            .set_finite_tensor(layer, name, values.view())
            .unwrap();
    }
    grad
}

fn assert_close(what: &str, hand: &ArrayD<f64>, numeric: &ArrayD<f64>) {
    assert_eq!(hand.shape(), numeric.shape(), "{what}");
    for (a, b) in hand.iter().zip(numeric) {
        assert!(
            close(*a, *b, 1e-5),
            "{what}: {a} by hand, {b} by differences"
        );
    }
}

/// The bounded lattice's embedding and size losses with respect to steps and offsets, the
/// commitment loss and the straight-through output with respect to the latents, FSQ's output
/// through its tanh, and a projection: the backend's autograd against central differences
/// of its own forward pass (f64; no latent near a boundary).
pub fn gradients_match_finite_differences<B: FiniteBackend>(backend: &B) {
    let name = backend.name();
    let smooth = |shape: &[usize]| {
        let count: usize = shape.iter().product();
        let values = (0..count)
            .map(|i| 2.3 * (i as f64 * 0.917 + 0.3).sin())
            .collect();
        ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
    };
    let only = |embedding, commitment, size| Objective {
        quantized: 0.0,
        embedding,
        commitment,
        size,
    };
    let config = FiniteQuantizerConfig::bounded(levels("4,5,3"), 3).with_learned_offset();
    let mut layer = backend.finite(&config, DType::F64).unwrap();
    set_row(backend, &mut layer, "step", &STEPS);
    set_row(backend, &mut layer, "offset", &OFFSETS);
    let z = smooth(&[20, 3]);
    let upstream = Input::f64(smooth(&[20, 3]).mapv(|x| x * 0.5 + 0.1));
    let grads = |objective| {
        backend
            .finite_gradients(&layer, &Input::f64(z.clone()), &upstream, objective)
            .unwrap()
    };
    let (embedding, commitment, size) = (
        grads(only(1.0, 0.0, 0.0)),
        grads(only(0.0, 1.0, 0.0)),
        grads(only(0.0, 0.0, 1.0)),
    );
    let row = |values: &[f64]| ArrayD::from_shape_vec(IxDyn(&[1, 3]), values.to_vec()).unwrap();
    for (tensor, values) in [("step", row(&STEPS)), ("offset", row(&OFFSETS))] {
        let fd = numeric(backend, &mut layer, tensor, &values, &z, |q| {
            q.parts.embedding
        });
        assert_close(
            &format!("{name} d embedding / d {tensor}"),
            &embedding[tensor],
            &fd,
        );
    }
    let fd = numeric(backend, &mut layer, "step", &row(&STEPS), &z, |q| {
        q.parts.size
    });
    assert_close(&format!("{name} d size / d step"), &size["step"], &fd);
    let fd = numeric(backend, &mut layer, "latents", &z, &z, |q| {
        q.parts.commitment
    });
    assert_close(
        &format!("{name} d commitment / d latents"),
        &commitment["latents"],
        &fd,
    );
    let through = backend
        .finite_gradients(
            &layer,
            &Input::f64(z.clone()),
            &upstream,
            Objective {
                quantized: 1.0,
                ..only(0.0, 0.0, 0.0)
            },
        )
        .unwrap();
    assert_eq!(
        through["latents"], upstream.values,
        "{name}: the straight-through gradient"
    );

    // FSQ: the gradient of sum(quantized * u) is the core's bound, differentiated.
    let config = FiniteQuantizerConfig::fsq(levels("8,5"), 2);
    let layer = backend.finite(&config, DType::F64).unwrap();
    let z = smooth(&[10, 2]).mapv(|x| x * 0.6);
    let u = smooth(&[10, 2]).mapv(|x| x + 0.5);
    let hand = backend
        .finite_gradients(
            &layer,
            &Input::f64(z.clone()),
            &Input::f64(u.clone()),
            Objective {
                quantized: 1.0,
                ..only(0.0, 0.0, 0.0)
            },
        )
        .unwrap();
    let fsq: FiniteScalarQuantizer<f64> = config.fsq_quantizer().unwrap();
    let bounded = |z: &ArrayD<f64>| {
        let rows: Array2<f64> = z.clone().into_dimensionality().unwrap();
        (fsq.bounded(rows.view()).unwrap()
            * u.view().into_dimensionality::<ndarray::Ix2>().unwrap())
        .sum()
    };
    let mut fd = ArrayD::zeros(z.raw_dim());
    for (index, slot) in fd.iter_mut().enumerate() {
        let (mut plus, mut minus) = (z.clone(), z.clone());
        *plus.iter_mut().nth(index).unwrap() += 1e-6;
        *minus.iter_mut().nth(index).unwrap() -= 1e-6;
        *slot = (bounded(&plus) - bounded(&minus)) / 2e-6;
    }
    assert_close(
        &format!("{name} FSQ d quantized / d latents"),
        &hand["latents"],
        &fd,
    );

    // A projection back to D: the output's gradient with respect to its weight.
    let config = FiniteQuantizerConfig::bounded(levels("4,3"), 4);
    let mut layer = backend.finite(&config, DType::F64).unwrap();
    let z = smooth(&[6, 4]);
    let u = smooth(&[6, 4]).mapv(|x| x - 0.2);
    // The embedding term reaches the steps (the output's path to them is cut by the
    // straight-through estimator) and not the output projection.
    let objective = Objective {
        quantized: 1.0,
        ..only(1.0, 0.0, 0.0)
    };
    let hand = backend
        .finite_gradients(
            &layer,
            &Input::f64(z.clone()),
            &Input::f64(u.clone()),
            objective,
        )
        .unwrap();
    for tensor in ["project_in.weight", "project_out.weight", "step"] {
        assert!(
            hand.contains_key(tensor),
            "{name}: no gradient for {tensor}"
        );
    }
    let weight = backend.finite_tensor(&layer, "project_out.weight").unwrap();
    let fd = numeric(
        backend,
        &mut layer,
        "project_out.weight",
        &weight,
        &z,
        |q| (&q.quantized * &u).sum(),
    );
    assert_close(
        &format!("{name} d quantized / d project_out.weight"),
        &hand["project_out.weight"],
        &fd,
    );
}

/// A model checkpoint of other levels is refused (`TensorShape` or `MissingTensor`), one of
/// the other kind (FSQ against the bounded lattice) too (`UnexpectedTensors`); the same
/// levels round-trip.
pub fn checkpoints_of_other_levels_are_refused<B: FiniteBackend>(backend: &B) {
    let name = backend.name();
    let dir = std::env::temp_dir().join(format!(
        "lattice-vq-testkit-finite-{}-{}",
        name.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let model = |config: FiniteQuantizerConfig| {
        let quantizer = QuantizerConfig::Finite(config);
        backend
            .vqvae(&VqVaeConfig::fashion_mnist(), &quantizer, DType::F32)
            .unwrap()
    };
    let bounded = |text: &str| FiniteQuantizerConfig::bounded(levels(text), 64);
    let file = dir.join("bounded-888.safetensors");
    backend
        .save_checkpoint(&model(bounded("8,8,8")), &file)
        .unwrap();
    let mut same = model(bounded("8,8,8"));
    backend.load_checkpoint(&mut same, &file).unwrap();
    let err = failure(
        &name,
        backend.load_checkpoint(&mut model(bounded("8,8,5")), &file),
    );
    assert!(
        matches!(err, Failure::TensorShape(ref m) if m.contains("levels.2")),
        "{name}: {err:?}"
    );
    let err = failure(
        &name,
        backend.load_checkpoint(&mut model(bounded("8,8,8,5")), &file),
    );
    assert!(
        matches!(err, Failure::TensorShape(_) | Failure::MissingTensor(_)),
        "{name}: {err:?}"
    );
    let fsq = FiniteQuantizerConfig::fsq(levels("8,8,8"), 64);
    let err = failure(&name, backend.load_checkpoint(&mut model(fsq), &file));
    assert!(
        matches!(err, Failure::UnexpectedTensors(_)),
        "{name}: {err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tokens at or above K and negative ones, non-finite latents, and steps or offsets the core
/// refuses are typed errors.
pub fn bad_tokens_and_latents_are_typed_errors<B: FiniteBackend>(backend: &B) {
    let name = backend.name();
    for config in [
        FiniteQuantizerConfig::bounded(levels("3,4"), 2),
        FiniteQuantizerConfig::fsq(levels("3,4"), 2),
    ] {
        let layer = backend.finite(&config, DType::F32).unwrap();
        let tokens = ArrayD::from_shape_vec(IxDyn(&[2]), vec![0i64, 12]).unwrap();
        let err = failure(&name, backend.finite_decode(&layer, &tokens));
        assert!(
            matches!(
                err,
                Failure::Core(Error::TokenOutOfRange {
                    row: 1,
                    index: 12,
                    codebook_size: 12
                })
            ),
            "{name}: {err:?}"
        );
        let negative = ArrayD::from_shape_vec(IxDyn(&[1]), vec![-1i64]).unwrap();
        let err = failure(&name, backend.finite_decode(&layer, &negative));
        assert!(matches!(err, Failure::InputShape { .. }), "{name}: {err:?}");
        let mut bad = latents(&[3, 2], 8.0);
        bad[[1, 0]] = f64::NAN;
        let err = failure(
            &name,
            backend.finite_quantize(&layer, &Input::new(bad, DType::F32)),
        );
        assert!(
            matches!(
                err,
                Failure::Core(Error::NonFiniteLatent { row: 1, col: 0, .. })
            ),
            "{name}: {err:?}"
        );
    }
    // Steps and offsets an optimiser step broke are refused at the next call, by the core's
    // rule.
    let config = FiniteQuantizerConfig::bounded(levels("3,4"), 2).with_learned_offset();
    let mut layer = backend.finite(&config, DType::F32).unwrap();
    let good = Input::new(latents(&[3, 2], 8.0), DType::F32);
    set_row(backend, &mut layer, "step", &[1.0, 0.0]);
    let err = failure(&name, backend.finite_quantize(&layer, &good));
    assert!(
        matches!(err, Failure::Core(Error::BasisOutOfRange { index: 1, .. })),
        "{name}: {err:?}"
    );
    set_row(backend, &mut layer, "step", &[1.0, 1.0]);
    set_row(backend, &mut layer, "offset", &[f64::NAN, 0.0]);
    let err = failure(&name, backend.finite_quantize(&layer, &good));
    assert!(
        matches!(err, Failure::Core(Error::OffsetOutOfRange { index: 0, .. })),
        "{name}: {err:?}"
    );
    let zero_step = FiniteQuantizerConfig::bounded(levels("3"), 1).with_initial_step(0.0);
    let err = failure(&name, backend.finite(&zero_step, DType::F32));
    assert!(
        matches!(
            err,
            Failure::Core(Error::InvalidConfig {
                field: "initial_step",
                ..
            })
        ),
        "{name}: {err:?}"
    );
}
