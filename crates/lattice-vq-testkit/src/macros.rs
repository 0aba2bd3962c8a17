//! [`conformance_tests!`](crate::conformance_tests): one `#[test]` per check of the chosen
//! suites, in a module named after the suite, for one backend.

/// Instantiate the conformance suites for a backend: one `#[test]` per check, in one module
/// per suite (`core_parity::codes_and_points_equal_the_core_on_rows_and_images`, ...), so a
/// backend's test binary lists and filters them by the names the docs cite.
///
/// `backend` is an expression evaluated afresh in each test (it may do per-test setup, such
/// as tch's one thread per test); it is resolved in the invoking module (the generated
/// modules `use super::*`). `suites` lists any of `core_parity`, `layouts`, `ema`,
/// `bad_input` (these need [`Backend`](crate::Backend)), `finite` (needs
/// [`FiniteBackend`](crate::FiniteBackend); not in the default list yet), `models` and
/// `official_checkpoints` (these need [`ModelBackend`](crate::ModelBackend)); leave out
/// what a backend cannot run. Without `suites`, all six.
///
/// ```ignore
/// // crates/lattice-vq-candle/tests/lib.rs
/// mod support; // defines `CandleCpu`, implementing Backend and ModelBackend
/// use support::CandleCpu;
/// lattice_vq_testkit::conformance_tests!(backend: CandleCpu::new());
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (backend: $backend:expr $(,)?) => {
        $crate::conformance_tests!(
            backend: $backend,
            suites: [core_parity, layouts, ema, bad_input, models, official_checkpoints],
        );
    };
    (backend: $backend:expr, suites: [$($suite:ident),* $(,)?] $(,)?) => {
        $( $crate::__conformance_suite!($suite, $backend); )*
    };
}

/// One suite's module of tests (an implementation detail of
/// [`conformance_tests!`](crate::conformance_tests)).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_suite {
    (core_parity, $backend:expr) => {
        $crate::__conformance_tests!(
            core_parity,
            $backend,
            [
                codes_and_points_equal_the_core_on_rows_and_images,
                losses_and_basis_gradient_equal_the_core,
                encoder_gradient_is_the_straight_through_one,
                vq_ties_go_to_the_lowest_index,
                vq_losses_and_codebook_gradient_equal_the_reference,
            ]
        );
    };
    (layouts, $backend:expr) => {
        $crate::__conformance_tests!(
            layouts,
            $backend,
            [
                every_layout_quantizes_as_its_rows,
                decode_inverts_quantize_in_every_layout,
                decode_refuses_codes_of_another_rank_or_width,
            ]
        );
    };
    (ema, $backend:expr) => {
        $crate::__conformance_tests!(
            ema,
            $backend,
            [
                one_training_update_matches_the_formula,
                eval_mode_changes_nothing,
                training_updates_follow_the_reference_step,
            ]
        );
    };
    (bad_input, $backend:expr) => {
        $crate::__conformance_tests!(
            bad_input,
            $backend,
            [
                wrong_shapes_and_dtypes_are_errors,
                latents_of_another_float_dtype_are_errors_naming_both,
                non_finite_latents_are_named_by_row_and_column,
                lattice_rules_of_the_core_are_enforced,
                non_finite_codewords_are_errors_naming_the_codeword,
                large_finite_latents_find_the_codeword_they_equal,
                near_ties_and_duplicates_far_from_the_origin_follow_the_core,
            ]
        );
    };
    (finite, $backend:expr) => {
        $crate::__conformance_tests!(
            finite,
            $backend,
            [
                bounded_codes_points_and_indices_equal_the_core,
                fsq_codes_points_and_indices_equal_the_core,
                decode_gives_the_decoder_input_back,
                gradients_match_finite_differences,
                checkpoints_of_other_levels_are_refused,
                bad_tokens_and_latents_are_typed_errors,
            ]
        );
    };
    (models, $backend:expr) => {
        $crate::__conformance_tests!(
            models,
            $backend,
            [
                images_of_the_wrong_shape_are_errors,
                checkpoints_of_other_models_and_corrupt_files_are_errors,
            ]
        );
    };
    (official_checkpoints, $backend:expr) => {
        mod official_checkpoints {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_checkpoint_tests!(
                $backend,
                [
                    vq_matches_the_official_checkpoint,
                    vq_ema_matches_the_official_checkpoint,
                    sparse_lattice_matches_the_official_checkpoint,
                    dense_lattice_matches_the_official_checkpoint,
                ]
            );
        }
    };
    ($other:ident, $backend:expr) => {
        ::core::compile_error!(::core::concat!(
            "unknown conformance suite `",
            ::core::stringify!($other),
            "`: core_parity, layouts, ema, bad_input, finite, models or official_checkpoints"
        ));
    };
}

/// A module of tests, each calling its suite's function of the same name (an
/// implementation detail of [`conformance_tests!`](crate::conformance_tests)).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($suite:ident, $backend:expr, [$($test:ident),* $(,)?]) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $test() {
                    $crate::suites::$suite::$test(&$backend);
                }
            )*
        }
    };
}

/// The official-checkpoint tests, which also take the invoking crate's manifest folder (an
/// implementation detail of [`conformance_tests!`](crate::conformance_tests)).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checkpoint_tests {
    ($backend:expr, [$($test:ident),* $(,)?]) => {
        $(
            #[test]
            fn $test() {
                $crate::suites::official_checkpoints::$test(
                    &$backend,
                    ::core::env!("CARGO_MANIFEST_DIR"),
                );
            }
        )*
    };
}
