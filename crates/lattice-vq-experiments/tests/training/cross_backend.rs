//! tch and candle give the same numbers: the same weights and inputs through both backends,
//! in eval mode and for one training step (an EMA update and an Adam step included).
//!
//! The backends sum in different orders (and libtorch in another order on each ISA), so
//! their latents differ in the last bits; the test measures by how much, and allows a code
//! to differ only where a latent lies that close to a decision boundary
//! (`lattice_vq_testkit::boundary`). Where every code agrees, the reconstructions, losses and gradients
//! must agree closely: gradients entry by entry, except those of variables before a ReLU
//! input within rounding of zero (a kink that may pass the gradient in one backend and block
//! it in the other), which must agree in norm. Adam's first step moves each weight by
//! `lr * g / (|g| + eps)`, which for a gradient near `eps` or near zero (a sum that cancels)
//! depends on the gradient's last bits: the stepped weights must differ by no more than that
//! formula predicts from the two backends' own gradients.

use std::collections::HashMap;

use candle_nn::Optimizer;
use lattice_vq_candle as cdl;
use lattice_vq_tch::{Codes, QuantizerConfig, VqVae, VqVaeConfig, save_checkpoint};
use lattice_vq_testkit::boundary::{ORDER_FACTOR, code_range, vq_reach};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

const TOLERANCE: f64 = 1e-5;
const LEARNING_RATE: f64 = 1e-3;
/// Adam's epsilon, the default of both optimizers.
const EPSILON: f64 = 1e-8;
/// Gradients where the codes agree: `|g_tch - g_candle|` within this fraction of `|g|` plus
/// [`GRADIENT_NOISE`] of the variable's largest gradient. The largest difference measured
/// (AVX2 and AVX-512 kernels) was 0.07 of that bound.
const GRADIENT_RELATIVE: f64 = 1e-4;
/// Gradient entries that are sums of many cancelling terms carry rounding noise of the
/// order of the variable's largest entry times f32's precision; this fraction bounds it.
const GRADIENT_NOISE: f64 = 1e-5;
/// Gradients of variables before a ReLU input at a boundary ([`Kinks`]): Euclidean
/// difference within this fraction of the gradient's norm. A kink passes or blocks one
/// position's term, one of the 784 (4 images of 14 x 14) or 3,136 (of 28 x 28) a channel's
/// weight gradient sums; libtorch's AVX2 kernels moved a gradient by 4.7e-4 of its norm so.
const KINK_RELATIVE: f64 = 1e-2;
/// Stepped weights: beyond Adam's predicted difference, f32 rounding of the step itself.
const STEP_TOLERANCE: f64 = 1e-6;

/// Deterministic images in [-0.5, 0.5].
fn images(n: usize) -> Vec<f32> {
    (0..n * 28 * 28)
        .map(|i| ((i * 7919 + 13) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max)
}

fn tch_values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.detach().to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

fn candle_values(t: &candle_core::Tensor) -> Vec<f32> {
    t.to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn tch_codes(codes: &Codes) -> Vec<i64> {
    Vec::<i64>::try_from(codes.tensor().to_kind(Kind::Int64).flatten(0, -1)).unwrap()
}

fn candle_codes(t: &candle_core::Tensor) -> Vec<i64> {
    t.to_dtype(candle_core::DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
}

/// Where the two backends' codes differ, each difference must sit at a boundary: for the
/// lattice a latent whose code range over the measured deviation spans more than one code,
/// for VQ a row whose candle index is within reach of the tch row at the measured distance.
/// Returns how many codes differ and how many boundary positions there are.
fn check_codes(
    name: &str,
    what: &str,
    latents: (&[f32], &[f32]),
    codebook: &[f32],
    codes: (&[i64], &[i64]),
) -> (usize, usize) {
    let (ours, theirs) = latents;
    assert_eq!(ours.len(), theirs.len());
    let deviation = max_difference(ours, theirs);
    let (mut differing, mut boundary) = (0, 0);
    if codes.0.len() == ours.len() {
        // Lattice codes, one per latent.
        for (index, (a, b)) in codes.0.iter().zip(codes.1).enumerate() {
            let channel = index % 64;
            let reciprocal = f64::from(1.0 / codebook[channel]);
            let (low, high) = code_range(f64::from(ours[index]), reciprocal, deviation);
            boundary += usize::from(high > low);
            if a != b {
                differing += 1;
                assert!(
                    high > low,
                    "{name} {what}: code {index} is {a} in tch, {b} in candle, off the boundary"
                );
            }
        }
    } else {
        // VQ indices, one per row.
        let rho = ours
            .chunks(64)
            .zip(theirs.chunks(64))
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| f64::from(x - y).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(0.0, f64::max);
        for (row, (a, b)) in codes.0.iter().zip(codes.1).enumerate() {
            let reach = vq_reach(&ours[row * 64..(row + 1) * 64], codebook, rho);
            assert!(
                reach.contains(a),
                "{name} {what}: tch row {row} chose {a}, out of reach"
            );
            boundary += usize::from(reach.len() > 1);
            if a != b {
                differing += 1;
                assert!(
                    reach.contains(b),
                    "{name} {what}: row {row} is {a} in tch, {b} in candle, out of reach"
                );
            }
        }
    }
    eprintln!(
        "{name} {what}: latents differ by {deviation:.3e}, {boundary} boundary positions, \
         {differing} codes differ"
    );
    (differing, boundary)
}

/// ReLU and LeakyReLU inputs (pre-activations) within rounding of zero, by stage, from a
/// copy of the model's forward pass in f32 and f64: where another summation order's input
/// may have the other sign, a backend's gradient may pass the kink where the other's does
/// not, which moves the gradients of that stage's variables and of all before it.
struct Kinks {
    /// (part, stage, count) for each stage with boundary cases; part 0 is the encoder,
    /// part 1 the decoder.
    boundary: Vec<(usize, usize, usize)>,
}

impl Kinks {
    fn measure(vs: &nn::VarStore, images: &Tensor, quantized: &Tensor, latents: &Tensor) -> Self {
        let variables = vs.variables();
        let mut boundary = Vec::new();
        let run = |kind: Kind| -> Vec<(usize, usize, Tensor)> {
            tch::no_grad(|| {
                let w = |name: &str| variables[name].to_kind(kind);
                let conv = |x: &Tensor, name: &str, stride: i64, padding: i64, bias: bool| {
                    let bias = bias.then(|| w(&format!("{name}.bias")));
                    x.conv2d(
                        &w(&format!("{name}.weight")),
                        bias.as_ref(),
                        [stride; 2],
                        [padding; 2],
                        [1, 1],
                        1,
                    )
                };
                let mut inputs = Vec::new();
                let leaky = |part, stage, x: Tensor, inputs: &mut Vec<_>| {
                    let y = x.leaky_relu();
                    inputs.push((part, stage, x));
                    y
                };
                let residual = |part: usize, stage: usize, x: Tensor, inputs: &mut Vec<_>| {
                    let prefix = format!("{}.{stage}.resblock", ["_encoder", "_decoder"][part]);
                    let inner = conv(&x, &format!("{prefix}.0"), 1, 1, false);
                    let y = inner.relu();
                    inputs.push((part, stage, inner));
                    x + conv(&y, &format!("{prefix}.2"), 1, 0, false)
                };
                let x = images.to_kind(kind);
                let x = leaky(0, 0, conv(&x, "_encoder.0.0", 2, 1, true), &mut inputs);
                let x = leaky(0, 1, conv(&x, "_encoder.1.0", 1, 1, true), &mut inputs);
                let x = residual(0, 2, x, &mut inputs);
                let x = residual(0, 3, x, &mut inputs);
                let x = leaky(0, 4, x, &mut inputs);
                let copy = leaky(0, 5, conv(&x, "_encoder.5.0", 1, 0, true), &mut inputs);
                if kind == Kind::Float {
                    // The copy is the model.
                    assert!(copy.allclose(latents, 0.0, 1e-6, false));
                }
                let x = quantized.to_kind(kind);
                let x = leaky(1, 0, conv(&x, "_decoder.0.0", 1, 1, true), &mut inputs);
                let x = residual(1, 1, x, &mut inputs);
                let x = residual(1, 2, x, &mut inputs);
                let x = leaky(1, 3, x, &mut inputs);
                let x = x.conv_transpose2d(
                    &w("_decoder.4.0.weight"),
                    Some(&w("_decoder.4.0.bias")),
                    [2, 2],
                    [1, 1],
                    [0, 0],
                    1,
                    [1, 1],
                );
                let _reconstruction = leaky(1, 4, x, &mut inputs);
                inputs
            })
        };
        let (ours, exact) = (run(Kind::Float), run(Kind::Double));
        for ((part, stage, x), (_, _, exact)) in ours.iter().zip(&exact) {
            let deviation = (x.to_kind(Kind::Double) - exact)
                .abs()
                .max()
                .double_value(&[]);
            let radius = (1.0 + ORDER_FACTOR) * deviation;
            let count = x
                .abs()
                .to_kind(Kind::Double)
                .le(radius)
                .sum(Kind::Int64)
                .int64_value(&[]);
            if count > 0 {
                boundary.push((*part, *stage, count as usize));
            }
        }
        Self { boundary }
    }

    /// Whether a kink at a boundary sits at or after the stage of `variable` (quantizer
    /// variables learn from the quantizer's own losses only, not through any kink).
    fn upstream_of_a_boundary(&self, variable: &str) -> bool {
        let mut parts = variable.split('.');
        let part = match parts.next() {
            Some("_encoder") => 0,
            Some("_decoder") => 1,
            _ => return false,
        };
        let stage: usize = parts.next().unwrap().parse().unwrap();
        // The reconstruction's gradient reaches the encoder through the straight-through
        // estimator, so a decoder kink moves every encoder gradient.
        self.boundary
            .iter()
            .any(|&(p, s, _)| p > part || (p == part && s >= stage))
    }
}

/// Adam's first step from a gradient `g`, in units of the learning rate.
fn first_step(g: f32) -> f64 {
    let g = f64::from(g);
    g / (g.abs() + EPSILON)
}

fn compare(name: &str) {
    // One libtorch thread: tests run in parallel and OpenMP threads collapse when they share
    // cores.
    tch::set_num_threads(1);
    tch::manual_seed(7);
    let dir = std::env::temp_dir().join(format!("lattice-vq-cross-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("init.safetensors");

    let vs = nn::VarStore::new(Device::Cpu);
    let tch_model = VqVae::new(
        &vs.root(),
        &VqVaeConfig::fashion_mnist(),
        &QuantizerConfig::by_name(name, 64).unwrap(),
    )
    .unwrap();
    save_checkpoint(&vs, &checkpoint).unwrap();

    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(
        &varmap,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    );
    let quantizer = cdl::QuantizerConfig::by_name(name, 64).unwrap();
    let candle_model = cdl::VqVae::new(&cdl::VqVaeConfig::fashion_mnist(), &quantizer, vb).unwrap();
    cdl::load_checkpoint(&varmap, &checkpoint).unwrap();
    let codebook = tch_values(&vs.variables()["_quantizer.embedding.weight"]);

    let pixels = images(4);
    let tch_images = Tensor::from_slice(&pixels).view([4, 1, 28, 28]);
    let candle_images =
        candle_core::Tensor::from_slice(&pixels, (4, 1, 28, 28), &candle_core::Device::Cpu)
            .unwrap();
    let tch_rows = |latents: &Tensor| tch_values(&latents.permute([0, 2, 3, 1]));
    let candle_rows =
        |latents: &candle_core::Tensor| candle_values(&latents.permute((0, 2, 3, 1)).unwrap());

    // Eval mode.
    let (ours, latents) = tch::no_grad(|| {
        let latents = tch_model.encode(&tch_images).unwrap();
        (tch_model.forward_t(&tch_images, false).unwrap(), latents)
    });
    let ours_latents = tch_rows(&latents);
    let kinks = Kinks::measure(&vs, &tch_images, &ours.quantizer.quantized, &latents);
    eprintln!("{name}: ReLU inputs at a boundary: {:?}", kinks.boundary);
    let theirs = candle_model.forward_t(&candle_images, false).unwrap();
    let theirs_latents = candle_rows(&candle_model.encode(&candle_images).unwrap());
    let (differing, _) = check_codes(
        name,
        "eval",
        (&ours_latents, &theirs_latents),
        &codebook,
        (
            &tch_codes(&ours.quantizer.codes),
            &candle_codes(theirs.quantizer.codes.tensor()),
        ),
    );
    if differing == 0 {
        let recon = max_difference(
            &tch_values(&ours.reconstruction),
            &candle_values(&theirs.reconstruction),
        );
        assert!(
            recon < TOLERANCE,
            "{name}: reconstructions differ by {recon}"
        );
    }

    // One training step on each side.
    let ours_latents = tch_rows(&tch_model.encode(&tch_images).unwrap());
    let theirs_latents = candle_rows(&candle_model.encode(&candle_images).unwrap());
    let mut adam = nn::Adam::default().build(&vs, LEARNING_RATE).unwrap();
    let out = tch_model.forward_t(&tch_images, true).unwrap();
    let tch_train_codes = tch_codes(&out.quantizer.codes);
    let tch_loss = out.loss(&tch_images).unwrap();
    adam.backward_step(&tch_loss);
    let params = candle_nn::ParamsAdamW {
        lr: LEARNING_RATE,
        weight_decay: 0.0,
        ..Default::default()
    };
    assert_eq!(params.eps, EPSILON);
    let mut adamw = candle_nn::AdamW::new(varmap.all_vars(), params).unwrap();
    let out = candle_model.forward_t(&candle_images, true).unwrap();
    let candle_train_codes = candle_codes(out.quantizer.codes.tensor());
    let candle_loss = out.loss(&candle_images).unwrap();
    let candle_grads = candle_loss.backward().unwrap();
    adamw.step(&candle_grads).unwrap();
    let (differing, _) = check_codes(
        name,
        "training",
        (&ours_latents, &theirs_latents),
        &codebook,
        (&tch_train_codes, &candle_train_codes),
    );
    // Where a code differs, the decoder sees another input and every gradient moves: the
    // losses and gradients are compared only where all codes agree.
    let codes_agree = differing == 0;
    if !codes_agree {
        eprintln!("{name}: codes differ at a boundary; losses and gradients not compared");
    }
    // The sparse loss is dominated by -sum|b| (about -300), so compare it relatively.
    let (tch_loss, candle_loss) = (
        tch_loss.double_value(&[]),
        f64::from(candle_values(&candle_loss)[0]),
    );
    let loss_difference = (tch_loss - candle_loss).abs() / tch_loss.abs().max(1.0);
    assert!(
        !codes_agree || loss_difference < TOLERANCE,
        "{name}: losses {tch_loss} and {candle_loss} differ"
    );

    let candle_vars: HashMap<String, (Vec<f32>, Option<Vec<f32>>)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let grad = candle_grads.get(v.as_tensor()).map(candle_values);
            (k.clone(), (candle_values(v.as_tensor()), grad))
        })
        .collect();
    let tch_vars = vs.variables();
    assert_eq!(tch_vars.len(), candle_vars.len());
    let (mut worst_gradient, mut worst_step, mut predicted) = (0.0f64, 0.0f64, 0.0f64);
    let (mut compared, mut worst_kink) = (0, 0.0f64);
    for (variable, value) in &tch_vars {
        let (candle_value, candle_grad) = &candle_vars[variable];
        let tch_value = tch_values(value);
        let tch_grad = value.grad();
        let tch_grad = tch_grad.defined().then(|| tch_values(&tch_grad));
        assert_eq!(
            tch_grad.is_some(),
            candle_grad.is_some(),
            "{name}: {variable} has a gradient in one backend only"
        );
        let Some((tch_grad, candle_grad)) = tch_grad.as_ref().zip(candle_grad.as_ref()) else {
            // EMA state: moved by the forward pass, by the codes' statistics.
            let difference = max_difference(&tch_value, candle_value);
            assert!(
                !codes_agree || difference < TOLERANCE,
                "{name}: {variable} differs by {difference} after one step"
            );
            continue;
        };
        let largest = tch_grad
            .iter()
            .fold(0.0f64, |m, g| m.max(f64::from(g.abs())));
        // A ReLU input within rounding of zero at a stage after this variable's may pass the
        // gradient in one backend and block it in the other.
        let upstream = kinks.upstream_of_a_boundary(variable);
        let strict = codes_agree && !upstream;
        compared += usize::from(strict);
        if codes_agree && upstream {
            let norm = tch_grad
                .iter()
                .map(|&g| f64::from(g).powi(2))
                .sum::<f64>()
                .sqrt();
            let difference = tch_grad
                .iter()
                .zip(candle_grad)
                .map(|(&a, &b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            worst_kink = worst_kink.max(difference / norm);
            assert!(
                difference <= KINK_RELATIVE * norm,
                "{name}: gradients of {variable} differ by {difference}, norm {norm}"
            );
        }
        for (index, (&a, &b)) in tch_grad.iter().zip(candle_grad).enumerate() {
            let (a, b) = (f64::from(a), f64::from(b));
            let allowed = GRADIENT_RELATIVE * a.abs() + GRADIENT_NOISE * largest;
            if strict {
                worst_gradient = worst_gradient.max((a - b).abs() / allowed);
            }

            assert!(
                !strict || (a - b).abs() <= allowed,
                "{name}: gradient {variable}[{index}] is {a} in tch, {b} in candle"
            );
        }
        for (index, (ours, theirs)) in tch_value.iter().zip(candle_value).enumerate() {
            let difference = f64::from((ours - theirs).abs());
            let expected = LEARNING_RATE
                * (first_step(tch_grad[index]) - first_step(candle_grad[index])).abs();
            predicted = predicted.max(expected);
            worst_step = worst_step.max(difference - expected);
            assert!(
                difference <= expected + STEP_TOLERANCE,
                "{name}: {variable}[{index}] differs by {difference} after one step, \
                 Adam predicts {expected} from the gradients {} and {}",
                tch_grad[index],
                candle_grad[index]
            );
        }
    }
    eprintln!(
        "{name}: loss difference {loss_difference:.2e} (relative); gradients of {compared} of \
         {} variables compared entry by entry, within {worst_gradient:.3} of their bound, the \
         others (before a kink) within {worst_kink:.2e} of their norm; stepped weights \
         {worst_step:.2e} beyond Adam's predicted difference (largest prediction \
         {predicted:.2e})",
        tch_vars.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sparse_lattice_is_the_same_in_tch_and_candle() {
    compare("sparse_lattice");
}

// The dense lattice (sparsity_cost -1, basis in (-1, 1)) runs the sparse one's code path with
// another size loss. Its trained codes sit on rounding boundaries everywhere (an exact
// comparison of a trained model's codes would fail); here they may differ only where the
// measured deviation reaches a boundary.
#[test]
fn dense_lattice_is_the_same_in_tch_and_candle() {
    compare("dense_lattice");
}

#[test]
fn vq_is_the_same_in_tch_and_candle() {
    compare("vq");
}

#[test]
fn vq_ema_is_the_same_in_tch_and_candle() {
    compare("vq-ema");
}
