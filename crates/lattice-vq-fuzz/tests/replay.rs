//! Every committed fuzz input, run through its target's entry function on the stable
//! toolchain: the corpora (`fuzz/corpus/<target>/`) and the crash inputs
//! (`fuzz/artifacts/<target>/`). A panic fails the test naming the file, unless the file is
//! listed in [`KNOWN`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use lattice_vq_fuzz::TARGETS;

/// Crash inputs whose fix belongs to code outside this crate's reach, so the suite stays
/// green until it lands: (target, file name under `fuzz/artifacts/<target>/`, what fails).
/// A listed file that stops panicking fails the test too, so that it is taken off the list.
const KNOWN: &[(&str, &str, &str)] = &[];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the folder does not exist).
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run every corpus and crash file of `target` through `entry`.
fn replay(target: &str, entry: fn(&[u8])) {
    let corpus = files("corpus", target);
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ holds no inputs");
    let mut panicked = Vec::new();
    let mut known_now_pass = Vec::new();
    for file in corpus.iter().chain(&files("artifacts", target)) {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let known = KNOWN.iter().any(|&(t, n, _)| t == target && n == name);
        let failed = catch_unwind(AssertUnwindSafe(|| entry(&bytes))).is_err();
        match (failed, known) {
            (true, false) => panicked.push(file.display().to_string()),
            (false, true) => known_now_pass.push(file.display().to_string()),
            _ => {}
        }
    }
    assert!(
        panicked.is_empty(),
        "{target}: these inputs panic (messages above):\n  {}",
        panicked.join("\n  ")
    );
    assert!(
        known_now_pass.is_empty(),
        "{target}: these known crash inputs no longer panic; take them off KNOWN in \
         tests/replay.rs:\n  {}",
        known_now_pass.join("\n  ")
    );
}

fn entry(target: &str) -> fn(&[u8]) {
    TARGETS
        .iter()
        .find(|&&(name, _)| name == target)
        .unwrap_or_else(|| panic!("no entry function for {target}"))
        .1
}

macro_rules! replay_tests {
    ($($(#[$attr:meta])* $target:ident),* $(,)?) => {
        $(
            $(#[$attr])*
            #[test]
            fn $target() {
                replay(stringify!($target), entry(stringify!($target)));
            }
        )*
    };
}

replay_tests!(
    idx,
    fashion_mnist,
    image_folder,
    celeba_partition,
    run_state,
    epoch_codes,
    checkpoint_candle,
    #[cfg(feature = "tch")]
    checkpoint_tch,
    core_lattice,
    core_counting,
);

/// Every fuzz target in `fuzz/fuzz_targets/` has an entry function here (the tch one with
/// the `tch` feature), so none is fuzzed without its inputs being replayed.
#[test]
fn every_fuzz_target_is_replayed() {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fuzz/fuzz_targets/") {
        let path = entry.expect("a folder entry").path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
            continue;
        };
        let replayed = TARGETS.iter().any(|&(t, _)| t == name);
        let needs_tch = name == "checkpoint_tch" && cfg!(not(feature = "tch"));
        if !(replayed || needs_tch) {
            missing.push(name.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "fuzz targets without a replay: {missing:?}"
    );
    for &(_, file, why) in KNOWN {
        assert!(!why.is_empty(), "{file}: say what fails");
    }
}
