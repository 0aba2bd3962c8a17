//! The layout helpers the suites compare with: NHWC order for images, row-major for
//! sequences, and `to_rows` inverting `restore` on any shape.

use lattice_vq_testkit::Codes;
use lattice_vq_testkit::layout::{CodeRows, Layout, Restore, codes_to_rows, to_rows};
use ndarray::{Array2, ArrayD, IxDyn, array};
use proptest::prelude::*;

#[test]
fn images_are_flattened_in_nhwc_order() {
    // One image, D = 2 channels, 1 x 2 pixels: channel 0 is (a, b), channel 1 is (c, d).
    let image = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let (rows, layout) = to_rows(&image, 2, "latents").unwrap();
    assert_eq!(rows, array![[1.0, 3.0], [2.0, 4.0]]);
    assert_eq!(
        layout,
        Layout::Image {
            n: 1,
            height: 1,
            width: 2
        }
    );
    assert_eq!(layout.restore(&rows), image);
    assert_eq!(layout.lattice_code_shape(2), vec![1, 1, 2, 2]);
    assert_eq!(layout.index_shape(), vec![1, 1, 2]);
}

#[test]
fn sequences_are_flattened_row_major() {
    let sequence = ArrayD::from_shape_vec(IxDyn(&[2, 1, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let (rows, layout) = to_rows(&sequence, 2, "latents").unwrap();
    assert_eq!(rows, array![[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(layout, Layout::Sequence { batch: 2, steps: 1 });
}

#[test]
fn other_ranks_and_widths_are_input_shape_errors() {
    for shape in [
        &[4][..],
        &[2, 3],
        &[2, 2, 3],
        &[1, 3, 2, 2],
        &[1, 2, 1, 1, 1],
    ] {
        let err = to_rows(&ArrayD::<f64>::zeros(IxDyn(shape)), 2, "latents").unwrap_err();
        assert!(
            matches!(err, lattice_vq_testkit::Failure::InputShape { .. }),
            "{shape:?}"
        );
    }
    let codes = Codes::Indices(ArrayD::zeros(IxDyn(&[1, 1, 1, 1])));
    assert!(codes_to_rows(&codes, 2).is_err());
}

fn layouts() -> impl Strategy<Value = Layout> {
    prop_oneof![
        (0usize..5).prop_map(|n| Layout::Rows { n }),
        (0usize..4, 0usize..4).prop_map(|(batch, steps)| Layout::Sequence { batch, steps }),
        (0usize..3, 0usize..3, 0usize..3).prop_map(|(n, height, width)| Layout::Image {
            n,
            height,
            width
        }),
    ]
}

proptest! {
    #[test]
    fn to_rows_inverts_restore(layout in layouts(), dim in 1usize..4) {
        let rows = Array2::from_shape_fn((layout.rows(), dim), |(r, c)| (r * 10 + c) as f64);
        let laid_out = layout.restore(&rows);
        prop_assert_eq!(laid_out.shape(), &layout.latent_shape(dim)[..]);
        let (back, found) = to_rows(&laid_out, dim, "latents").unwrap();
        prop_assert_eq!(back, rows.clone());
        prop_assert_eq!(found, layout);
        let codes = layout.restore_lattice_codes(&rows.mapv(|x| x as i32));
        let (code_rows, found) = codes_to_rows(&Codes::Lattice(codes), dim).unwrap();
        prop_assert_eq!(code_rows, CodeRows::Lattice(rows.mapv(|x| x as i32)));
        prop_assert_eq!(found, layout);
    }
}
