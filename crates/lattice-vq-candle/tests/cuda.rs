//! On CUDA (feature `cuda`) the layers and the Fashion-MNIST model compute what they compute on
//! the CPU: the same codes, and outputs, losses and gradients within 1e-4. Without a CUDA
//! device the tests skip, or fail when `LATTICE_VQ_REQUIRE_GPU` is set (the GPU check sets it,
//! so a broken driver setup cannot pass as a skip).
#![cfg(feature = "cuda")]

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::{
    Quantizer, QuantizerConfig, QuantizerOutput, VqVae, VqVaeConfig, lattice_quantizer,
    vector_quantizer, vector_quantizer_ema,
};
use lattice_vq_core::{LatticeQuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig};

use crate::support::CPU;

const TOLERANCE: f64 = 1e-4;

fn gpu() -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(device) => Some(device),
        Err(e) => {
            assert!(
                std::env::var_os("LATTICE_VQ_REQUIRE_GPU").is_none(),
                "LATTICE_VQ_REQUIRE_GPU is set but CUDA device 0 is unavailable: {e}"
            );
            // The first line only: with RUST_BACKTRACE set, candle appends a backtrace.
            let why = e.to_string();
            eprintln!(
                "skipping CUDA test: no CUDA device ({})",
                why.lines().next().unwrap_or_default()
            );
            None
        }
    }
}

/// A var map on `device` holding copies of `cpu`'s variables, so that a layer built over it
/// starts from the CPU layer's values instead of a fresh random draw.
fn copy_vars(cpu: &VarMap, device: &Device) -> VarMap {
    let copy = VarMap::new();
    for (name, var) in cpu.data().lock().unwrap().iter() {
        let moved = Var::from_tensor(&var.as_tensor().to_device(device).unwrap()).unwrap();
        copy.data().lock().unwrap().insert(name.clone(), moved);
    }
    copy
}

fn builder<'a>(varmap: &VarMap, device: &'a Device) -> VarBuilder<'a> {
    VarBuilder::from_varmap(varmap, DType::F32, device)
}

/// Deterministic latents without deliberate rounding ties: both devices must agree on codes.
fn smooth(shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7131).sin() * scale).collect();
    Tensor::from_slice(&values, shape, &CPU).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_device(&CPU)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn assert_close(what: &str, cpu: &Tensor, gpu: &Tensor) {
    assert_eq!(cpu.dims(), gpu.dims(), "{what}: shape");
    for (i, (c, g)) in values(cpu).iter().zip(values(gpu)).enumerate() {
        assert!(
            (c - g).abs() <= TOLERANCE * c.abs().max(1.0),
            "{what}[{i}]: cpu {c} vs cuda {g}"
        );
    }
}

fn assert_same_output(cpu: &QuantizerOutput, gpu: &QuantizerOutput) {
    assert!(gpu.quantized.device().is_cuda());
    assert_eq!(cpu.codes.tensor().dtype(), gpu.codes.tensor().dtype());
    assert_eq!(cpu.codes.tensor().dims(), gpu.codes.tensor().dims());
    assert_eq!(
        values(cpu.codes.tensor()),
        values(gpu.codes.tensor()),
        "codes"
    );
    assert_close("quantized", &cpu.quantized, &gpu.quantized);
    assert_close("points", &cpu.points, &gpu.points);
    assert_close("loss", &cpu.loss, &gpu.loss);
}

/// Runs `build` on both devices (CUDA starting from the CPU's variables), one forward in
/// training mode and a backward pass, and compares outputs, gradients and updated variables.
fn check_layer(build: impl Fn(VarBuilder) -> Box<dyn Quantizer>, latents: &Tensor) {
    let Some(device) = gpu() else { return };
    let cpu_vars = VarMap::new();
    let cpu = build(builder(&cpu_vars, &CPU));
    let gpu_vars = copy_vars(&cpu_vars, &device);
    let gpu = build(builder(&gpu_vars, &device));

    let cpu_out = cpu.quantize(latents, true).unwrap();
    let gpu_out = gpu
        .quantize(&latents.to_device(&device).unwrap(), true)
        .unwrap();
    assert_same_output(&cpu_out, &gpu_out);

    let (cpu_grads, gpu_grads) = (
        cpu_out.loss.backward().unwrap(),
        gpu_out.loss.backward().unwrap(),
    );
    let gpu_data = gpu_vars.data().lock().unwrap();
    for (name, cpu_var) in cpu_vars.data().lock().unwrap().iter() {
        let gpu_var = &gpu_data[name];
        // VQ-EMA's training forward updated its codebook and statistics on both devices.
        assert_close(name, cpu_var.as_tensor(), gpu_var.as_tensor());
        match (cpu_grads.get(cpu_var), gpu_grads.get(gpu_var)) {
            (Some(c), Some(g)) => assert_close(&format!("grad {name}"), c, g),
            (None, None) => {}
            _ => panic!("{name}: gradient on one device only"),
        }
    }
}

#[test]
fn cuda_lattice_quantizer_matches_cpu() {
    let config = LatticeQuantizerConfig::new(512, 8);
    check_layer(
        |vb| Box::new(lattice_quantizer(&config, vb).unwrap()),
        &smooth(&[2, 8, 5, 5], 3.0),
    );
}

#[test]
fn cuda_vq_matches_cpu() {
    let config = VectorQuantizerConfig::new(64, 8);
    check_layer(
        |vb| Box::new(vector_quantizer(&config, vb).unwrap()),
        &smooth(&[2, 8, 5, 5], 0.05),
    );
}

#[test]
fn cuda_vq_ema_matches_cpu() {
    let config = VectorQuantizerEmaConfig::new(64, 8);
    check_layer(
        |vb| Box::new(vector_quantizer_ema(&config, vb).unwrap()),
        &smooth(&[2, 8, 5, 5], 0.05),
    );
}

/// The model stage by stage: the convolutions sum in another order on CUDA, so the encoder's
/// latents may differ in their last bits, which could move a latent across a decision
/// boundary. The quantizer and decoder therefore get identical inputs on both devices.
#[test]
fn cuda_fashion_mnist_vqvae_matches_cpu() {
    let Some(device) = gpu() else { return };
    let config = VqVaeConfig::fashion_mnist();
    let images = (smooth(&[4, 1, 28, 28], 0.5) + 0.5).unwrap();
    for name in ["sparse_lattice", "dense_lattice", "vq", "vq-ema"] {
        let quantizer = QuantizerConfig::by_name(name, config.embedding_dim).unwrap();
        let cpu_vars = VarMap::new();
        let cpu = VqVae::new(&config, &quantizer, builder(&cpu_vars, &CPU)).unwrap();
        let gpu_vars = copy_vars(&cpu_vars, &device);
        let gpu = VqVae::new(&config, &quantizer, builder(&gpu_vars, &device)).unwrap();

        let latents = cpu.encode(&images).unwrap();
        let gpu_latents = gpu.encode(&images.to_device(&device).unwrap()).unwrap();
        assert_close(&format!("{name} latents"), &latents, &gpu_latents);

        let cpu_q = cpu.quantizer().quantize(&latents, false).unwrap();
        let gpu_q = gpu
            .quantizer()
            .quantize(&latents.to_device(&device).unwrap(), false)
            .unwrap();
        assert_same_output(&cpu_q, &gpu_q);

        let reconstruction = cpu.decode(&cpu_q.quantized).unwrap();
        let gpu_reconstruction = gpu
            .decode(&cpu_q.quantized.to_device(&device).unwrap())
            .unwrap();
        assert_close(
            &format!("{name} reconstruction"),
            &reconstruction,
            &gpu_reconstruction,
        );

        // The whole forward runs on CUDA end to end.
        let out = gpu
            .forward_t(&images.to_device(&device).unwrap(), false)
            .unwrap();
        assert!(out.reconstruction.device().is_cuda());
        assert_eq!(out.reconstruction.dims(), images.dims());
    }
}
