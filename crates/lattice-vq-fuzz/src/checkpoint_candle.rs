//! Target `checkpoint_candle`: safetensors files into the candle model, and a resumed
//! candle training backend's optimizer state.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use lattice_vq_candle::{VqVae, load_checkpoint};
use lattice_vq_experiments::train::candle_backend::CandleBackend;
use lattice_vq_experiments::train::{Backend, CodeKind};

use crate::input::{Input, same_bits};
use crate::model::{quantizer, tiny_batch, tiny_model};
use crate::scratch::Scratch;

/// Input layout: a mode byte (bits 0-1: the quantizer, see [`quantizer`]; bit 2: the rest
/// is a training backend's `optimizer.safetensors`, else the model's checkpoint), then the
/// file.
///
/// Asserts for a model checkpoint: [`load_checkpoint`] either fails and leaves every
/// variable as it was, or succeeds and every variable keeps its shape and holds the file's
/// tensor of its name (converted to `f32`); a forward pass afterwards returns a value or
/// an error. For an optimizer state: if [`Backend::load`] accepts it beside a valid model
/// file, the next training step succeeds. Never a panic.
pub fn checkpoint_candle(data: &[u8]) {
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
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = VqVae::new(&tiny_model(), &quantizer(mode), vb).expect("the tiny model");
    let before = snapshot(&varmap);
    match load_checkpoint(&varmap, path) {
        Ok(()) => {
            let after = snapshot(&varmap);
            let stored = candle_core::safetensors::load(path, &Device::Cpu)
                .expect("a file load_checkpoint accepted loads");
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
            let images = Tensor::from_vec(tiny_batch().images, (1, 1, 4, 4), &Device::Cpu)
                .expect("an image tensor");
            // Loaded weights may be anything (NaN, a zero basis): an error is fine.
            let _ = model.forward_t(&images, false);
        }
        Err(_) => {
            let after = snapshot(&varmap);
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
    let mut backend = CandleBackend::new(&tiny_model(), &quantizer(mode), Device::Cpu, 0)
        .expect("the tiny model");
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
fn snapshot(varmap: &VarMap) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let data = varmap.data().lock().expect("var map lock");
    data.iter()
        .map(|(name, var)| (name.clone(), values_of(var.as_tensor())))
        .collect()
}

fn values_of(tensor: &Tensor) -> (Vec<usize>, Vec<f32>) {
    let values = tensor
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .expect("a tensor converts to f32");
    (tensor.dims().to_vec(), values)
}
