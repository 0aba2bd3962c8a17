//! The contract's layouts (docs/design.md): rows `(N, D)`, channel-last sequences
//! `(B, T, D)` and images `(N, D, H, W)` quantize as their rows do, with the shapes of its
//! table, and `decode` inverts `quantize` in each. New with the contract (no former test).

use lattice_vq_core::{
    LatticeQuantizerConfig, QuantizerConfig, VectorQuantizerConfig, VectorQuantizerEmaConfig,
};
use ndarray::{Array1, Array2, ArrayD, IxDyn};

use super::support::{failure, layer, matrix};
use crate::backend::Backend;
use crate::failure::Failure;
use crate::inputs::{latents, uniform};
use crate::layout::{Layout, Restore, rows_of};
use crate::types::{Codes, DType, Input};

const DIM: usize = 4;
const BASIS: [f32; DIM] = [0.5, -1.25, 2.0, 0.375];
const K: usize = 16;
/// Twelve rows as rows, as two sequences of six, and as two 2 x 3 images.
const LAYOUTS: [Layout; 3] = [
    Layout::Rows { n: 12 },
    Layout::Sequence { batch: 2, steps: 6 },
    Layout::Image {
        n: 2,
        height: 2,
        width: 3,
    },
];

/// The three layers of the contract, with fixed values, in `dtype`.
fn layers<B: Backend>(backend: &B, dtype: DType) -> Vec<(QuantizerConfig, B::Quantizer)> {
    let codebook = uniform(K * DIM, 6.0, 21);
    [
        (
            QuantizerConfig::Lattice(LatticeQuantizerConfig::new(512, DIM)),
            &BASIS[..],
        ),
        (
            QuantizerConfig::Vq(VectorQuantizerConfig::new(K, DIM)),
            &codebook[..],
        ),
        (
            QuantizerConfig::VqEma(VectorQuantizerEmaConfig::new(K, DIM)),
            &codebook[..],
        ),
    ]
    .into_iter()
    .map(|(config, values)| (config, layer(backend, config, dtype, values)))
    .collect()
}

fn rows() -> Array2<f64> {
    matrix(&latents(12, DIM, 8.0, &BASIS, 5), 12, DIM)
}

/// Per-row codes of any layout, flattened (`(rows, D)` lattice codes or `(rows, 1)` indices).
fn code_rows(codes: &Codes, rows: usize) -> Array2<i64> {
    let values: Vec<i64> = match codes {
        Codes::Lattice(c) => c.iter().map(|&v| i64::from(v)).collect(),
        Codes::Indices(i) => i.iter().copied().collect(),
    };
    let cols = values.len() / rows.max(1);
    Array2::from_shape_vec((rows, cols), values).expect("codes of every row")
}

/// Every layer, in f32 and f64, quantizes each layout as its rows (eval mode): the same
/// codes and points, `quantized` and `points` in the input's shape and dtype, lattice codes
/// `(..., D)` and indices `(...)` as the table says, `quantized` the straight-through value
/// `z + (e - z)` in the layer's dtype.
pub fn every_layout_quantizes_as_its_rows<B: Backend>(backend: &B) {
    let name = backend.name();
    let rows = rows();
    for dtype in [DType::F32, DType::F64] {
        for (config, mut q) in layers(backend, dtype) {
            let what = format!("{name} {config:?} {dtype:?}");
            let reference = backend
                .quantize(&mut q, &Input::new(rows.clone().into_dyn(), dtype), false)
                .unwrap();
            let expected_codes = code_rows(&reference.codes, 12);
            for layout in LAYOUTS {
                let latents = layout.restore(&rows);
                let out = backend
                    .quantize(&mut q, &Input::new(latents.clone(), dtype), false)
                    .unwrap_or_else(|e| panic!("{what} {layout:?}: {e}"));
                assert_eq!(out.dtype, dtype, "{what} {layout:?}: output dtype");
                assert_eq!(out.quantized.shape(), latents.shape(), "{what} {layout:?}");
                assert_eq!(out.points.shape(), latents.shape(), "{what} {layout:?}");
                let (shape, lattice) = match &out.codes {
                    Codes::Lattice(c) => (c.shape().to_vec(), true),
                    Codes::Indices(i) => (i.shape().to_vec(), false),
                };
                assert_eq!(
                    lattice,
                    matches!(config, QuantizerConfig::Lattice(_)),
                    "{what}: codes' kind"
                );
                let expected_shape = if lattice {
                    layout.lattice_code_shape(DIM)
                } else {
                    layout.index_shape()
                };
                assert_eq!(shape, expected_shape, "{what} {layout:?}: codes' shape");
                assert_eq!(
                    code_rows(&out.codes, 12),
                    expected_codes,
                    "{what} {layout:?}: codes"
                );
                let points = rows_of(&out.points, DIM);
                assert_eq!(
                    points,
                    rows_of(&reference.points, DIM),
                    "{what} {layout:?}: points"
                );
                let through = straight_through(&rows, &points, dtype);
                assert_eq!(
                    rows_of(&out.quantized, DIM),
                    through,
                    "{what} {layout:?}: quantized"
                );
            }
        }
    }
}

/// `z + (e - z)` computed in `dtype`.
fn straight_through(z: &Array2<f64>, e: &Array2<f64>, dtype: DType) -> Array2<f64> {
    let mut out = z.clone();
    ndarray::Zip::from(&mut out)
        .and(z)
        .and(e)
        .for_each(|o, &z, &e| {
            *o = match dtype {
                DType::F32 => f64::from(z as f32 + (e as f32 - z as f32)),
                _ => z + (e - z),
            }
        });
    out
}

/// `decode(codes)` gives back `points` in every layout, for every layer.
pub fn decode_inverts_quantize_in_every_layout<B: Backend>(backend: &B) {
    let name = backend.name();
    let rows = rows();
    for dtype in [DType::F32, DType::F64] {
        for (config, mut q) in layers(backend, dtype) {
            for layout in LAYOUTS {
                let what = format!("{name} {config:?} {dtype:?} {layout:?}");
                let out = backend
                    .quantize(&mut q, &Input::new(layout.restore(&rows), dtype), false)
                    .unwrap();
                let decoded = backend
                    .decode(&q, &out.codes)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(decoded, out.points, "{what}: decoded points");
            }
        }
    }
}

/// Codes of a rank no layout has, or lattice codes whose last dimension is not D, are
/// `InputShape` errors of `decode`.
pub fn decode_refuses_codes_of_another_rank_or_width<B: Backend>(backend: &B) {
    let name = backend.name();
    for (config, q) in layers(backend, DType::F32) {
        let bad: Vec<Codes> = match config {
            QuantizerConfig::Lattice(_) => [
                vec![DIM],
                vec![1, 2, 2, 3, DIM],
                vec![3, DIM + 1],
                vec![2, 3, 1],
            ]
            .iter()
            .map(|s| Codes::Lattice(ArrayD::zeros(IxDyn(s))))
            .collect(),
            _ => [vec![], vec![1, 2, 2, 3]]
                .iter()
                .map(|s| Codes::Indices(ArrayD::zeros(IxDyn(s))))
                .collect(),
        };
        for codes in bad {
            let err = failure(
                &format!("{name} {config:?} decode {:?}", codes.shape()),
                backend.decode(&q, &codes),
            );
            assert!(
                matches!(err, Failure::InputShape { .. }),
                "{name} {config:?} {:?}: {err:?}",
                codes.shape()
            );
        }
    }
    // One index per row decodes as rows: the smallest valid input.
    let (_, vq) = layers(backend, DType::F32).remove(1);
    let one = backend
        .decode(&vq, &Codes::Indices(Array1::from(vec![3i64]).into_dyn()))
        .unwrap();
    assert_eq!(one.shape(), &[1, DIM], "{name}: one index");
}
