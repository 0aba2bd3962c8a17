//! The matrix-product convolutions against candle's own kernels: values and gradients, for
//! random geometries, contiguous and permuted inputs (`lattice_vq_candle::kernels`).

use candle_core::{DType, Device, Tensor, Var};
use lattice_vq_candle::kernels::{conv_transpose2d, conv2d};
use proptest::prelude::*;

/// Largest absolute difference of two tensors.
fn gap(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// A seeded F64 variable of the given shape.
fn var(shape: &[usize], seed: u64) -> Var {
    let count: usize = shape.iter().product();
    // A small LCG: reproducible values in (-1, 1) without a random generator dependency.
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let values: Vec<f64> = (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap()).unwrap()
}

/// Gradients of `sum(y * weights)` with respect to `inputs`.
fn gradients(y: &Tensor, weights: &Tensor, inputs: &[&Var]) -> Vec<Tensor> {
    let grads = (y * weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    inputs
        .iter()
        .map(|v| grads.get(v.as_tensor()).expect("gradient").clone())
        .collect()
}

/// Largest gap between the gradients of `sum(ours * w)` and `sum(theirs * w)` with respect to
/// `inputs`, for one seeded weighting `w`.
fn gradient_gap(ours: &Tensor, theirs: &Tensor, inputs: &[&Var], seed: u64) -> f64 {
    let weights = var(theirs.dims(), seed);
    let ours = gradients(ours, weights.as_tensor(), inputs);
    let theirs = gradients(theirs, weights.as_tensor(), inputs);
    ours.iter()
        .zip(&theirs)
        .map(|(a, b)| gap(a, b))
        // NaN wins, so a NaN gradient fails the caller's bound.
        .fold(
            0.0,
            |worst: f64, g| if g > worst || g.is_nan() { g } else { worst },
        )
}

/// The input as given, or as a permuted view of a channels-last buffer (same values).
fn maybe_permuted(x: &Var, permuted: bool) -> Tensor {
    if permuted {
        x.as_tensor()
            .permute((0, 2, 3, 1))
            .unwrap()
            .contiguous()
            .unwrap()
            .permute((0, 3, 1, 2))
            .unwrap()
    } else {
        x.as_tensor().clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv2d_matches_candle(
        batch in 1usize..4, channels in 1usize..4, outputs in 1usize..4,
        height in 4usize..9, width in 4usize..9, kernel in 1usize..5, stride in 1usize..3,
        padding in 0usize..3, bias in any::<bool>(), permuted in any::<bool>(), seed in any::<u64>(),
    ) {
        prop_assume!(height + 2 * padding >= kernel && width + 2 * padding >= kernel);
        prop_assume!(padding < kernel);
        let x = var(&[batch, channels, height, width], seed);
        let k = var(&[outputs, channels, kernel, kernel], seed ^ 1);
        let b = var(&[outputs], seed ^ 2);
        let input = maybe_permuted(&x, permuted);
        let ours = conv2d(&input, k.as_tensor(), bias.then_some(b.as_tensor()), stride, padding).unwrap();
        let mut theirs = x.as_tensor().conv2d(k.as_tensor(), padding, stride, 1, 1).unwrap();
        if bias {
            theirs = theirs.broadcast_add(&b.as_tensor().reshape((1, outputs, 1, 1)).unwrap()).unwrap();
        }
        prop_assert_eq!(ours.dims(), theirs.dims());
        prop_assert!(gap(&ours, &theirs) < 1e-12);
        // candle's own input gradient takes the rows' remainder for the columns too (it
        // errors otherwise), so it is an oracle only where the two agree.
        let remainder = |extent: usize| (extent + 2 * padding - kernel) % stride;
        if remainder(height) == remainder(width) {
            let inputs = if bias { vec![&x, &k, &b] } else { vec![&x, &k] };
            let worst = gradient_gap(&ours, &theirs, &inputs, seed ^ 3);
            prop_assert!(worst < 1e-12, "gradient differs by {}", worst);
        }
    }

    #[test]
    fn conv_transpose2d_matches_candle(
        batch in 1usize..4, channels in 1usize..4, outputs in 1usize..4,
        height in 2usize..7, width in 2usize..7, kernel in 1usize..5, stride in 1usize..3,
        padding in 0usize..2, bias in any::<bool>(), permuted in any::<bool>(), seed in any::<u64>(),
    ) {
        prop_assume!(padding < kernel);
        let x = var(&[batch, channels, height, width], seed);
        let k = var(&[channels, outputs, kernel, kernel], seed ^ 1);
        let b = var(&[outputs], seed ^ 2);
        let input = maybe_permuted(&x, permuted);
        let ours = conv_transpose2d(&input, k.as_tensor(), bias.then_some(b.as_tensor()), stride, padding).unwrap();
        let mut theirs = x.as_tensor().conv_transpose2d(k.as_tensor(), padding, 0, stride, 1).unwrap();
        if bias {
            theirs = theirs.broadcast_add(&b.as_tensor().reshape((1, outputs, 1, 1)).unwrap()).unwrap();
        }
        prop_assert_eq!(ours.dims(), theirs.dims());
        prop_assert!(gap(&ours, &theirs) < 1e-12);
        let inputs = if bias { vec![&x, &k, &b] } else { vec![&x, &k] };
        let worst = gradient_gap(&ours, &theirs, &inputs, seed ^ 3);
        prop_assert!(worst < 1e-12, "gradient differs by {}", worst);
    }
}

#[test]
fn f32_matches_candle_on_the_models_hot_shape() {
    let x = Tensor::randn(0f32, 1.0, (4, 64, 14, 14), &Device::Cpu).unwrap();
    let k = Tensor::randn(0f32, 0.05, (64, 64, 3, 3), &Device::Cpu).unwrap();
    let ours = conv2d(&x, &k, None, 1, 1).unwrap();
    let theirs = x.conv2d(&k, 1, 1, 1, 1).unwrap();
    let gap = gap(
        &ours.to_dtype(DType::F64).unwrap(),
        &theirs.to_dtype(DType::F64).unwrap(),
    );
    assert!(gap < 1e-4, "f32 gap {gap}");
}

#[test]
fn mismatched_shapes_are_errors() {
    let x = Tensor::zeros((1, 3, 8, 8), DType::F32, &Device::Cpu).unwrap();
    let wrong_channels = Tensor::zeros((4, 2, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &wrong_channels, None, 1, 1).is_err());
    let too_big = Tensor::zeros((4, 3, 11, 11), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &too_big, None, 1, 1).is_err());
    let zero_stride = Tensor::zeros((4, 3, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&x, &zero_stride, None, 0, 1).is_err());
    assert!(conv_transpose2d(&x, &wrong_channels, None, 2, 1).is_err());
    let empty_batch = Tensor::zeros((0, 3, 8, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&empty_batch, &zero_stride, None, 1, 1).is_err());
    assert!(conv_transpose2d(&empty_batch, &zero_stride, None, 2, 1).is_err());
    let no_outputs = Tensor::zeros((3, 0, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv_transpose2d(&x, &no_outputs, None, 2, 1).is_err());
    let three_d = Tensor::zeros((3, 8, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(conv2d(&three_d, &zero_stride, None, 1, 1).is_err());
}
