//! PNG grids and plots: valid files of the expected size, written atomically.

use lattice_vq_experiments::data::ImageShape;
use lattice_vq_experiments::png::{GAP, write_comparison, write_grid, write_line_plot};

use crate::support::file_names;

fn shape(channels: usize) -> ImageShape {
    ImageShape {
        channels,
        height: 5,
        width: 4,
    }
}

#[test]
fn grid_tiles_images_with_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.png");
    // Seven gray 5x4 images valued -0.5 (black) .. 0.5 (white), three to a row.
    let images: Vec<f32> = (0..7)
        .flat_map(|i| vec![i as f32 / 6.0 - 0.5; 20])
        .collect();
    write_grid(&path, &images, shape(1), 3, (-0.5, 0.5)).unwrap();
    let decoded = image::open(&path).unwrap();
    assert_eq!(decoded.color(), image::ColorType::L8);
    let gray = decoded.into_luma8();
    assert_eq!(
        gray.dimensions(),
        (3 * 4 + 2 * GAP as u32, 3 * 5 + 2 * GAP as u32)
    );
    assert_eq!(gray.get_pixel(0, 0).0[0], 0, "first image black");
    assert_eq!(gray.get_pixel(4, 0).0[0], 255, "gap white");
    let last = (4 + GAP as u32, 2 * (5 + GAP as u32));
    assert_eq!(
        gray.get_pixel(last.0, last.1).0[0],
        255,
        "seventh image white"
    );
    assert_eq!(file_names(dir.path()), ["grid.png"]);
}

#[test]
fn comparison_puts_reconstructions_under_inputs_in_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmp.png");
    let inputs = vec![0.0; 3 * 60];
    let reconstructions = vec![2.0; 3 * 60]; // clamped to white
    write_comparison(&path, &inputs, &reconstructions, shape(3), 2, (0.0, 1.0)).unwrap();
    let rgb = image::open(&path).unwrap().into_rgb8();
    assert_eq!(rgb.dimensions(), (2 * 4 + GAP as u32, 2 * 5 + GAP as u32));
    assert_eq!(rgb.get_pixel(1, 1).0, [0, 0, 0]);
    assert_eq!(rgb.get_pixel(1, 5 + GAP as u32 + 1).0, [255, 255, 255]);
}

#[test]
fn bad_grid_arguments_are_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    assert!(write_grid(&path, &[0.0; 19], shape(1), 2, (0.0, 1.0)).is_err());
    assert!(write_grid(&path, &[], shape(1), 2, (0.0, 1.0)).is_err());
    assert!(write_grid(&path, &[0.0; 20], shape(1), 0, (0.0, 1.0)).is_err());
    assert!(write_grid(&path, &[0.0; 20], shape(1), 1, (1.0, 1.0)).is_err());
    assert!(write_grid(&path, &[0.0; 40], shape(2), 1, (0.0, 1.0)).is_err());
    assert!(write_comparison(&path, &[0.0; 20], &[0.0; 20], shape(1), 2, (0.0, 1.0)).is_err());
    assert!(file_names(dir.path()).is_empty());
}

#[test]
fn failed_write_leaves_no_temporary_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should go: the rename fails.
    let target = dir.path().join("taken.png");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "x").unwrap();
    let err = write_grid(&target, &[0.5; 20], shape(1), 1, (0.0, 1.0)).unwrap_err();
    assert!(err.to_string().contains("taken.png"), "{err}");
    assert_eq!(file_names(dir.path()), ["taken.png"]);
    // A missing directory: the temporary write itself fails.
    let missing = dir.path().join("no/such/dir/plot.png");
    assert!(write_line_plot(&missing, "t", &[("a", &[(0.0, 1.0), (1.0, 2.0)])], false).is_err());
    assert_eq!(file_names(dir.path()), ["taken.png"]);
    // Overwriting an existing file works.
    let path = dir.path().join("again.png");
    write_grid(&path, &[0.5; 20], shape(1), 1, (0.0, 1.0)).unwrap();
    write_grid(&path, &[0.5; 40], shape(1), 2, (0.0, 1.0)).unwrap();
    assert_eq!(image::open(&path).unwrap().width(), 2 * 4 + GAP as u32);
    assert_eq!(file_names(dir.path()), ["again.png", "taken.png"]);
}

#[test]
fn line_plot_draws_series_in_distinct_colours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loss.png");
    let train: Vec<(f64, f64)> = (1..=50).map(|s| (s as f64, 1.0 / s as f64)).collect();
    let valid: Vec<(f64, f64)> = (1..=5).map(|e| (10.0 * e as f64, 0.5 / e as f64)).collect();
    let series: [(&str, &[(f64, f64)]); 2] = [("train mse", &train), ("validation", &valid)];
    write_line_plot(&path, "Reconstruction error", &series, true).unwrap();
    let rgb = image::open(&path).unwrap().into_rgb8();
    assert_eq!(rgb.dimensions(), (800, 500));
    let count = |c: [u8; 3]| rgb.pixels().filter(|p| p.0 == c).count();
    assert!(count([255, 255, 255]) > 200_000, "white background");
    assert!(count([0, 0, 0]) > 1_000, "axes and text");
    assert!(count([31, 119, 180]) > 200, "first series");
    assert!(count([255, 127, 14]) > 100, "second series");
    assert_eq!(file_names(dir.path()), ["loss.png"]);
}

#[test]
fn line_plot_handles_flat_single_and_non_finite_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.png");
    let flat = [(0.0, 3.0), (1.0, 3.0), (2.0, f64::NAN), (3.0, 3.0)];
    let single = [(5.0, 1e-7)];
    write_line_plot(&path, "", &[("flat", &flat), ("one", &single)], false).unwrap();
    write_line_plot(&path, "log", &[("flat", &flat), ("one", &single)], true).unwrap();
    assert_eq!(image::open(&path).unwrap().width(), 800);
    let nothing = [(0.0, -1.0), (f64::INFINITY, 2.0)];
    let err = write_line_plot(&path, "t", &[("neg", &nothing)], true).unwrap_err();
    assert!(err.to_string().contains("nothing to plot"), "{err}");
    assert!(write_line_plot(&path, "t", &[], false).is_err());
    assert_eq!(file_names(dir.path()), ["odd.png"]);
}
