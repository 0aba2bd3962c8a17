//! Where a candle training step of the paper's model spends its time: the model's convolution
//! shapes forward and backward, the whole model, and the im2col alternative for the 3x3
//! convolution that was tried as a faster formulation (docs/benchmarks.md).
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p lattice-vq-candle --bench conv_profile`
//!
//! Each figure is the median of 9 runs after one warm-up run.

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::{QuantizerConfig, VqVae, VqVaeConfig};

fn median_ms<T>(label: &str, f: impl Fn() -> Result<T>) -> Result<T> {
    let mut result = f()?;
    let mut times = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        result = f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("{label}: {:.1} ms", times[4]);
    Ok(result)
}

/// The 3x3 "same" convolution as one batched matrix product over nine shifted copies.
fn conv3x3_as_matmul(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let output = weight.dim(0)?;
    let padded = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
    let mut taps = Vec::with_capacity(9);
    for i in 0..3 {
        let rows = padded.narrow(2, i, h)?;
        for j in 0..3 {
            taps.push(rows.narrow(3, j, w)?);
        }
    }
    let columns = Tensor::stack(&taps, 2)?.reshape((n, c * 9, h * w))?;
    weight
        .reshape((1, output, c * 9))?
        .broadcast_matmul(&columns)?
        .reshape((n, output, h, w))
}

fn main() -> Result<()> {
    let device = Device::Cpu;
    let var = |shape: (usize, usize, usize, usize), std: f32| -> Result<Var> {
        Var::from_tensor(&Tensor::randn(0f32, std, shape, &device)?)
    };
    let (x, image) = (var((64, 64, 14, 14), 1.0)?, var((64, 1, 28, 28), 1.0)?);
    let (w3, w1) = (var((64, 64, 3, 3), 0.05)?, var((64, 64, 1, 1), 0.05)?);
    let (down, up) = (var((64, 1, 4, 4), 0.05)?, var((64, 1, 4, 4), 0.05)?);

    let y = median_ms("conv 3x3 64->64 forward", || x.conv2d(&w3, 1, 1, 1, 1))?;
    median_ms("conv 3x3 64->64 backward", || y.sum_all()?.backward())?;
    let y = median_ms("im2col conv 3x3 forward", || conv3x3_as_matmul(&x, &w3))?;
    median_ms("im2col conv 3x3 backward", || y.sum_all()?.backward())?;
    let y = median_ms("conv 1x1 64->64 forward", || x.conv2d(&w1, 0, 1, 1, 1))?;
    median_ms("conv 1x1 64->64 backward", || y.sum_all()?.backward())?;
    let y = median_ms("conv 4x4 s2 1->64 forward", || {
        image.conv2d(&down, 1, 2, 1, 1)
    })?;
    median_ms("conv 4x4 s2 1->64 backward", || y.sum_all()?.backward())?;
    let y = median_ms("conv-transpose 4x4 s2 64->1 forward", || {
        x.conv_transpose2d(&up, 1, 0, 2, 1)
    })?;
    median_ms("conv-transpose 4x4 s2 64->1 backward", || {
        y.sum_all()?.backward()
    })?;

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let quantizer = QuantizerConfig::by_name("lattice", 64).expect("known quantizer");
    let model = VqVae::new(&VqVaeConfig::fashion_mnist(), &quantizer, vb).expect("model");
    let images = Tensor::randn(0f32, 0.3, (64, 1, 28, 28), &device)?;
    let out = median_ms("LL-VQ-VAE forward (batch 64)", || {
        model
            .forward_t(&images, true)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    })?;
    median_ms("LL-VQ-VAE backward (batch 64)", || {
        out.loss(&images)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?
            .backward()
    })?;
    Ok(())
}
