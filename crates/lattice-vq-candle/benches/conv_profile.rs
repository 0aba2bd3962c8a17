//! Where a candle training step of the paper's model spends its time: each convolution shape
//! of the Fashion-MNIST model, forward and backward, with candle's own kernels and with this
//! crate's matrix-product formulation (`lattice_vq_candle::kernels`, which the model uses), then
//! the whole model. Figures are in docs/benchmarks.md.
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p lattice-vq-candle --bench conv_profile`
//!
//! Each figure is the median of 9 runs after one warm-up run. Like the `train` example, the
//! process keeps freed memory (`lattice_vq_experiments::heap`).

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::kernels::{conv_transpose2d, conv2d};
use lattice_vq_candle::{QuantizerConfig, VqVae, VqVaeConfig};

fn median_ms<T>(f: impl Fn() -> Result<T>) -> Result<(T, f64)> {
    let mut result = f()?;
    let mut times = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        result = f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((result, times[4]))
}

/// Forward and backward (of the output's sum) milliseconds of one convolution. The sum
/// reads the output in its storage order: ours is summed through its channels-last view
/// (`channels_last`), so that neither side times a strided reduction.
fn forward_backward(conv: impl Fn() -> Result<Tensor>, channels_last: bool) -> Result<(f64, f64)> {
    let (y, forward) = median_ms(&conv)?;
    let y = if channels_last {
        y.permute((0, 2, 3, 1))?
    } else {
        y
    };
    let (_, backward) = median_ms(|| y.sum_all()?.backward())?;
    Ok((forward, backward))
}

fn main() -> Result<()> {
    lattice_vq_testkit::heap::retain_freed_memory();
    let device = Device::Cpu;
    let var = |shape: (usize, usize, usize, usize), std: f32| -> Result<Var> {
        Var::from_tensor(&Tensor::randn(0f32, std, shape, &device)?)
    };
    let (x, image) = (var((64, 64, 14, 14), 1.0)?, var((64, 1, 28, 28), 1.0)?);
    // Ours reads the same values as the NCHW view of a channels-last buffer, the layout the
    // model keeps between layers (a contiguous NCHW input would be read with strides).
    let x_channels_last = Var::from_tensor(&x.permute((0, 2, 3, 1))?.contiguous()?)?;
    let x_view = x_channels_last.permute((0, 3, 1, 2))?;
    let (w3, w1) = (var((64, 64, 3, 3), 0.05)?, var((64, 64, 1, 1), 0.05)?);
    let (down, up) = (var((64, 1, 4, 4), 0.05)?, var((64, 1, 4, 4), 0.05)?);

    println!("| layer (batch 64) | candle fwd ms | candle bwd ms | ours fwd ms | ours bwd ms |");
    println!("|---|---|---|---|---|");
    let row = |label: &str, theirs: (f64, f64), ours: (f64, f64)| {
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} | {:.1} |",
            theirs.0, theirs.1, ours.0, ours.1
        );
    };
    row(
        "conv 3x3 64->64 on 14x14",
        forward_backward(|| x.conv2d(&w3, 1, 1, 1, 1), false)?,
        forward_backward(|| conv2d(&x_view, &w3, None, 1, 1), true)?,
    );
    row(
        "the same, ours given NCHW memory",
        forward_backward(|| x.conv2d(&w3, 1, 1, 1, 1), false)?,
        forward_backward(|| conv2d(&x, &w3, None, 1, 1), true)?,
    );
    row(
        "conv 1x1 64->64 on 14x14",
        forward_backward(|| x.conv2d(&w1, 0, 1, 1, 1), false)?,
        forward_backward(|| conv2d(&x_view, &w1, None, 1, 0), true)?,
    );
    row(
        "conv 4x4 stride 2, 1->64 on 28x28",
        forward_backward(|| image.conv2d(&down, 1, 2, 1, 1), false)?,
        forward_backward(|| conv2d(&image, &down, None, 2, 1), true)?,
    );
    row(
        "transposed 4x4 stride 2, 64->1 on 14x14",
        forward_backward(|| x.conv_transpose2d(&up, 1, 0, 2, 1), false)?,
        forward_backward(|| conv_transpose2d(&x_view, &up, None, 2, 1), true)?,
    );

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let quantizer = QuantizerConfig::by_name("lattice", 64).expect("known quantizer");
    let model = VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb).expect("model");
    let images = Tensor::randn(0f32, 0.3, (64, 1, 28, 28), &device)?;
    let to_candle = |e: lattice_vq_candle::Error| candle_core::Error::Msg(e.to_string());
    let (out, forward) = median_ms(|| model.forward_t(&images, true).map_err(to_candle))?;
    let (_, backward) = median_ms(|| out.loss(&images).map_err(to_candle)?.backward())?;
    println!("\nLL-VQ-VAE (batch 64): forward {forward:.1} ms, backward {backward:.1} ms");
    Ok(())
}
