//! Half-integer inputs round half to even, like `torch.round`: exact expected outputs.

use lattice_vq_core::DiagonalLattice;
use ndarray::{Array2, array};

#[test]
fn unit_basis_rounds_half_to_even() {
    let z = array![[-3.5f64, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]];
    let lattice = DiagonalLattice::<f64>::from_slice(&[1.0; 8]).unwrap();
    let q = lattice.quantize(z.view()).unwrap();
    assert_eq!(q.codes, array![[-4, -2, -2, 0, 0, 2, 2, 4]]);
    assert_eq!(
        q.points,
        array![[-4.0, -2.0, -2.0, 0.0, 0.0, 2.0, 2.0, 4.0]]
    );
}

#[test]
fn scaled_and_negative_bases_round_half_to_even_in_code_space() {
    // z / b = 0.5, 1.5, 2.5, -0.5, -1.5, -2.5 for b = 0.5 and b = -0.5.
    let z = array![[0.25f32, 0.75, 1.25], [-0.25, -0.75, -1.25]];
    let positive = DiagonalLattice::<f32>::from_slice(&[0.5; 3]).unwrap();
    let q = positive.quantize(z.view()).unwrap();
    assert_eq!(q.codes, array![[0, 2, 2], [0, -2, -2]]);
    assert_eq!(q.points, array![[0.0, 1.0, 1.0], [0.0, -1.0, -1.0]]);

    let negative = DiagonalLattice::<f32>::from_slice(&[-0.5; 3]).unwrap();
    let qn = negative.quantize(z.view()).unwrap();
    assert_eq!(qn.codes, array![[0, -2, -2], [0, 2, 2]]);
    assert_eq!(qn.points, q.points);
}

#[test]
fn ties_at_large_magnitudes_round_to_even() {
    // 2^22 + 0.5 is exactly representable in f32; 2^52 + 0.5 is not in f64 but 2^51 + 0.5 is.
    let lattice32 = DiagonalLattice::<f32>::from_slice(&[1.0, 1.0]).unwrap();
    let q = lattice32
        .quantize(array![[4_194_304.5f32, 4_194_305.5]].view())
        .unwrap();
    assert_eq!(q.codes, array![[4_194_304, 4_194_306]]);
    let lattice64 = DiagonalLattice::<f64>::from_slice(&[1.0, 1.0]).unwrap();
    let q = lattice64
        .quantize(array![[1_000_000_000.5f64, -1_000_000_001.5]].view())
        .unwrap();
    assert_eq!(q.codes, array![[1_000_000_000, -1_000_000_002]]);
}

#[test]
fn just_off_a_tie_rounds_to_the_nearer_integer() {
    let lattice = DiagonalLattice::<f64>::from_slice(&[1.0; 4]).unwrap();
    let z: Array2<f64> = array![[
        0.5f64.next_up(),
        2.5f64.next_down(),
        (-0.5f64).next_down(),
        1.5f64.next_down()
    ]];
    let q = lattice.quantize(z.view()).unwrap();
    assert_eq!(q.codes, array![[1, 2, -1, 1]]);
}
