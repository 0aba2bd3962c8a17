//! One training step (forward, backward, Adam) of the paper's VQ-VAE in tch against the same
//! model in PyTorch (`scripts/pytorch_reference.py`), interleaved run by run.
//!
//! ```text
//! . scripts/torch-env && cargo bench -p lattice-vq-tch --bench train_step -- [--threads 2]
//!     [--rounds 7] [--steps 10] [--batch 64] [--device cpu|cuda] [--dataset fashion-mnist|ffhq1024]
//!     [--quantizers lattice,dense-lattice,vq,vq-ema]
//! ```
//!
//! Both sides use the same number of intra-op threads and never run at the same time: each
//! round times `steps` tch steps, then asks the persistent PyTorch process for `steps` steps.
//! Prints the median seconds per step of each side, their ratio (tch / PyTorch), and the
//! LL-VQ / VQ step-time ratio on each side.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use lattice_vq_tch::{QuantizerConfig, VqVae, VqVaeConfig};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

struct Options {
    threads: i32,
    rounds: usize,
    steps: usize,
    batch: i64,
    device: Device,
    dataset: String,
    quantizers: Vec<String>,
}

fn parse_options() -> Options {
    let mut options = Options {
        threads: 2,
        rounds: 7,
        steps: 10,
        batch: 64,
        device: Device::Cpu,
        dataset: "fashion-mnist".into(),
        quantizers: ["lattice", "dense-lattice", "vq", "vq-ema"]
            .map(String::from)
            .to_vec(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--threads" => options.threads = value().parse().expect("--threads N"),
            "--rounds" => options.rounds = value().parse().expect("--rounds N"),
            "--steps" => options.steps = value().parse().expect("--steps N"),
            "--batch" => options.batch = value().parse().expect("--batch N"),
            "--device" => {
                options.device = match value().as_str() {
                    "cpu" => Device::Cpu,
                    "cuda" => Device::Cuda(0),
                    other => panic!("unknown device {other}"),
                }
            }
            "--dataset" => options.dataset = value(),
            "--quantizers" => options.quantizers = value().split(',').map(String::from).collect(),
            // cargo bench passes --bench; anything else is a mistake worth seeing.
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    options
}

struct Reference {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Reference {
    fn start(options: &Options) -> Reference {
        let python = std::env::var("VIRTUAL_ENV")
            .map(|venv| format!("{venv}/bin/python"))
            .unwrap_or_else(|_| "python3".into());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/pytorch_reference.py"
        );
        let device = if options.device == Device::Cpu {
            "cpu"
        } else {
            "cuda"
        };
        let mut child = Command::new(python)
            .args([
                script,
                "--threads",
                &options.threads.to_string(),
                "--batch",
                &options.batch.to_string(),
            ])
            .args(["--device", device, "--dataset", &options.dataset])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the PyTorch reference (source scripts/torch-env first)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "PyTorch reference did not start");
        Reference {
            child,
            stdin,
            stdout,
        }
    }

    fn seconds_per_step(&mut self, quantizer: &str, steps: usize, init: Option<&Path>) -> f64 {
        match init {
            Some(path) => writeln!(self.stdin, "{quantizer} {steps} {}", path.display()).unwrap(),
            None => writeln!(self.stdin, "{quantizer} {steps}").unwrap(),
        }
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad answer from PyTorch: {line:?}"))
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let options = parse_options();
    tch::set_num_threads(options.threads);
    tch::manual_seed(0);
    let config = VqVaeConfig::for_dataset(&options.dataset).expect("known dataset");
    let side = if options.dataset == "ffhq1024" {
        1024
    } else {
        28
    };
    let images = (Tensor::rand(
        [options.batch, config.image_channels, side, side],
        (Kind::Float, options.device),
    ) - 0.5)
        .set_requires_grad(false);
    let mut reference = Reference::start(&options);
    println!(
        "training step of the {} VQ-VAE, batch {}, {:?}, {} threads, median of {} rounds of {} steps",
        options.dataset,
        options.batch,
        options.device,
        options.threads,
        options.rounds,
        options.steps
    );
    println!("| quantizer | tch s/step | PyTorch s/step | tch / PyTorch |");
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for name in &options.quantizers {
        let vs = nn::VarStore::new(options.device);
        let quantizer =
            QuantizerConfig::by_name(name, config.embedding_dim as usize).expect("known quantizer");
        let model = VqVae::new(&vs.root(), &config, &quantizer).expect("model");
        let mut adam = nn::Adam::default().build(&vs, 1e-3).expect("optimizer");
        // Both sides start from these weights and train on this batch: the same work.
        let init = std::env::temp_dir().join(format!(
            "train_step_init_{name}_{}.safetensors",
            std::process::id()
        ));
        let mut tensors: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.to_device(Device::Cpu)))
            .collect();
        tensors.push(("images".into(), images.to_device(Device::Cpu)));
        Tensor::write_safetensors(&tensors, &init).expect("write the initial weights");
        reference.seconds_per_step(name, 0, Some(&init));
        let _ = std::fs::remove_file(&init);
        let mut step = || {
            let out = model.forward_t(&images, true).expect("forward");
            adam.backward_step(&out.loss(&images).expect("loss"));
        };
        // Warm-up: allocator caches, lazy initialisation, oneDNN kernel selection.
        for _ in 0..3 {
            step();
        }
        reference.seconds_per_step(name, 3, None);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..options.rounds {
            if let Device::Cuda(_) = options.device {
                tch::Cuda::synchronize(0);
            }
            let start = Instant::now();
            for _ in 0..options.steps {
                step();
            }
            if let Device::Cuda(_) = options.device {
                tch::Cuda::synchronize(0);
            }
            ours.push(start.elapsed().as_secs_f64() / options.steps as f64);
            theirs.push(reference.seconds_per_step(name, options.steps, None));
        }
        let (ours, theirs) = (median(&mut ours), median(&mut theirs));
        println!(
            "| {name} | {ours:.4} | {theirs:.4} | {:.3} |",
            ours / theirs
        );
        medians.push((name.clone(), ours, theirs));
    }
    let find = |name: &str| medians.iter().find(|(n, _, _)| n == name);
    if let (Some(lattice), Some(vq)) = (find("lattice"), find("vq")) {
        println!(
            "\nLL-VQ / VQ step time: tch {:.3}, PyTorch {:.3}",
            lattice.1 / vq.1,
            lattice.2 / vq.2
        );
    }
    drop(reference.stdin);
    let _ = reference.child.wait();
}
