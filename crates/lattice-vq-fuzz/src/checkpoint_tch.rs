//! Target `checkpoint_tch`: safetensors files into the tch model, and a resumed tch
//! training backend's optimizer state (feature `tch`).

use std::collections::BTreeMap;

use lattice_vq_experiments::train::tch_backend::TchBackend;
use lattice_vq_experiments::train::{Backend, CodeKind};
use lattice_vq_tch::{VqVae, load_checkpoint};
use tch::{Device, Kind, Tensor, nn};

use crate::input::{Input, same_bits};
use crate::model::{quantizer, tiny_batch, tiny_model};
use crate::scratch::Scratch;

/// As [`checkpoint_candle`](crate::checkpoint_candle), on tch: the same input layout and
/// assertions, with [`load_checkpoint`] and the tch training backend.
pub fn checkpoint_tch(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let file = input.rest();
    let scratch = Scratch::new();
    if mode & 4 == 0 {
        load_model(mode, &scratch.write("model.safetensors", file));
    } else {
        resume_optimizer(mode, &scratch, file);
    }
}

fn load_model(mode: u8, path: &std::path::Path) {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = VqVae::new(&vs.root(), &tiny_model(), &quantizer(mode)).expect("the tiny model");
    let before = snapshot(&vs);
    match load_checkpoint(&mut vs, path) {
        Ok(()) => {
            let after = snapshot(&vs);
            let stored: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
                .expect("a file load_checkpoint accepted loads")
                .into_iter()
                .collect();
            assert_eq!(
                stored.len(),
                after.len(),
                "the file holds the model's tensors only"
            );
            for (name, (dims, values)) in &after {
                assert_eq!(dims, &before[name].0, "{name} keeps its shape");
                let (_, file_values) = values_of(&stored[name]);
                assert!(
                    same_bits(values, &file_values),
                    "{name} holds the file's values"
                );
            }
            let images = Tensor::from_slice(&tiny_batch().images).reshape([1, 1, 4, 4]);
            // Loaded weights may be anything (NaN, a zero basis): an error is fine.
            let _ = model.forward_t(&images, false);
        }
        Err(_) => {
            let after = snapshot(&vs);
            for (name, (dims, values)) in &before {
                let (dims_after, values_after) = &after[name];
                assert!(
                    dims == dims_after && same_bits(values, values_after),
                    "a failed load changed {name}"
                );
            }
        }
    }
}

fn resume_optimizer(mode: u8, scratch: &Scratch, file: &[u8]) {
    let mut backend =
        TchBackend::new(&tiny_model(), &quantizer(mode), Device::Cpu, 0).expect("the tiny model");
    let model = scratch.path().join("model.safetensors");
    backend.save(&model, None).expect("saving the model");
    let optimizer = scratch.write("optimizer.safetensors", file);
    if backend.load(&model, Some(&optimizer)).is_ok()
        && let Err(error) = backend.train_step(&tiny_batch(), 1e-3, CodeKind::None)
    {
        panic!("an optimizer state that loads must train: {error}");
    }
}

/// Each variable's shape and values (as `f32`), by name.
fn snapshot(vs: &nn::VarStore) -> BTreeMap<String, (Vec<i64>, Vec<f32>)> {
    vs.variables()
        .into_iter()
        .map(|(name, tensor)| (name, values_of(&tensor)))
        .collect()
}

fn values_of(tensor: &Tensor) -> (Vec<i64>, Vec<f32>) {
    let values = tensor
        .f_to_kind(Kind::Float)
        .and_then(|t| t.f_reshape([-1]))
        .and_then(|t| Vec::<f32>::try_from(&t))
        .expect("a tensor converts to f32");
    (tensor.size(), values)
}
