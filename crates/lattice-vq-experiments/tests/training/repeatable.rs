//! candle runs repeat: the same seed gives the same losses and weights to the last bit, and
//! another seed other ones (`lattice_vq_candle::seeded_var_builder` draws the weights).

use lattice_vq_experiments::train::QuantizerKind;
use lattice_vq_experiments::train::options::BackendKind;
use lattice_vq_experiments::train::run::run;

use crate::support::{smoke_options, steps, weights};

#[test]
fn a_candle_run_repeats_with_its_seed() {
    for quantizer in [QuantizerKind::Lattice, QuantizerKind::VqEma] {
        let train = |seed| {
            let dir = tempfile::tempdir().unwrap();
            let mut options = smoke_options(dir.path(), quantizer, BackendKind::Candle, 6);
            options.seed = seed;
            run(&options).unwrap();
            (
                steps(dir.path()),
                weights(&dir.path().join("model.safetensors")),
            )
        };
        let (first, again, other) = (train(7), train(7), train(8));
        assert_eq!(first.0.len(), 6);
        assert_eq!(
            first.0, again.0,
            "{quantizer}: losses of two runs with seed 7"
        );
        assert!(
            first.1 == again.1,
            "{quantizer}: weights of two runs with seed 7"
        );
        assert_ne!(
            first.0, other.0,
            "{quantizer}: seeds 7 and 8 gave the same losses"
        );
    }
}
