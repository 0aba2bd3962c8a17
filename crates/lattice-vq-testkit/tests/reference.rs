//! The quantizer suites on the reference backend (lattice-vq-core alone): the suites pass on
//! a correct implementation of the contract. The model suites need a convolutional network,
//! which the reference backend does not have.

use lattice_vq_testkit::reference::ReferenceBackend;

lattice_vq_testkit::conformance_tests!(
    backend: ReferenceBackend,
    suites: [core_parity, layouts, ema, bad_input],
);
