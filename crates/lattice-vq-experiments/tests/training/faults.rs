//! Training survives faults: a run killed with SIGKILL at many points (inside checkpoint
//! writes included) resumes with the same command and ends with the same weights and
//! metrics as a run never interrupted, bit for bit; a full disk is a typed error naming the
//! file and leaves the last complete checkpoint loadable.
//!
//! The kills are exact: `strace -e inject=SYSCALL:signal=KILL:when=N` kills the run at the
//! N-th call of a file-system syscall (rename, write, unlink, ...) of the thread that
//! trains, counted in an uninterrupted run first. The run is this test binary itself,
//! re-executed to run only [`child_run`] (the `train` example's code path:
//! `train::run::run`), so no other binary has to be built. Without strace, or without root
//! for the tmpfs, the tests fail when `CI` is set (scripts/test installs strace) and skip
//! otherwise.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lattice_vq_experiments::train::run::{make_backend, run};
use lattice_vq_experiments::train::{
    BackendKind, Protocol, QuantizerKind, TrainOptions, checkpoint,
};

use crate::support::smoke_options;

/// The variable that makes [`child_run`] train: the path of a `TrainOptions` JSON file.
const CHILD: &str = "LATTICE_VQ_FAULTS_CHILD_OPTIONS";

/// Not a test of its own: the training process the fault tests start and kill. It does
/// nothing unless [`CHILD`] is set.
#[test]
fn child_run() {
    let Some(path) = std::env::var_os(CHILD) else {
        return;
    };
    let options: TrainOptions =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let code = match run(&options) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            3
        }
    };
    std::process::exit(code);
}

fn skip_or_fail(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "fault tests cannot run in CI: {why}"
    );
    eprintln!("skipping fault test: {why}");
}

fn have_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The syscalls a kill is injected before: every way the loop changes a file.
const SYSCALLS: [&str; 7] = [
    "write",
    "rename",
    "unlink",
    "unlinkat",
    "mkdir",
    "openat",
    "ftruncate",
];

/// One training configuration, its uninterrupted outputs and syscall counts.
struct Scenario {
    name: &'static str,
    options: TrainOptions,
    /// `model.safetensors` bytes, `metrics.jsonl` and `result.json` without times or paths.
    reference: Outputs,
    /// Calls of each syscall by the thread that makes the most of them.
    calls: BTreeMap<String, usize>,
    /// That thread's renames as strace printed them, in order.
    renames: Vec<String>,
}

#[derive(Debug, PartialEq)]
struct Outputs {
    model: Vec<u8>,
    metrics: Vec<serde_json::Value>,
    result: serde_json::Value,
}

fn child(
    options: &TrainOptions,
    dir: &Path,
    strace: &[String],
) -> (std::process::ExitStatus, String) {
    let options_file = dir.join(format!(
        "{}.options.json",
        options.out_dir.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&options_file, serde_json::to_string(options).unwrap()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut command = if strace.is_empty() {
        Command::new(&exe)
    } else {
        let mut c = Command::new("strace");
        c.args(strace).arg("--").arg(&exe);
        c
    };
    let output = command
        .args([
            "--exact",
            "faults::child_run",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, &options_file)
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("CI")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A JSON value without the keys that hold times or this run's own paths.
fn without_times_and_paths(mut value: serde_json::Value) -> serde_json::Value {
    const VARYING: [&str; 4] = ["seconds", "train_seconds", "out_dir", "model"];
    match &mut value {
        serde_json::Value::Object(map) => {
            for key in VARYING {
                map.remove(key);
            }
            for v in map.values_mut() {
                *v = without_times_and_paths(v.take());
            }
        }
        serde_json::Value::Array(items) => {
            for v in items.iter_mut() {
                *v = without_times_and_paths(v.take());
            }
        }
        _ => {}
    }
    value
}

fn outputs(out: &Path) -> Outputs {
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| without_times_and_paths(serde_json::from_str(l).unwrap()))
        .collect();
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    Outputs {
        model: std::fs::read(out.join("model.safetensors")).unwrap(),
        metrics,
        result: without_times_and_paths(result),
    }
}

fn scenario(name: &'static str, work: &Path, edit: impl FnOnce(&mut TrainOptions)) -> Scenario {
    // Every run of a scenario is a folder in one existing parent, so each makes the same
    // syscalls (`create_dir_all` makes one folder, not two, in all of them).
    std::fs::create_dir_all(work.join(name)).unwrap();
    let mut options = smoke_options(
        &work.join(name).join("reference"),
        QuantizerKind::Lattice,
        BackendKind::Candle,
        4,
    );
    options.max_eval_images = Some(16);
    edit(&mut options);
    let trace = work.join(format!("{name}.trace"));
    let (status, stderr) = child(
        &options,
        work,
        &[
            "-f".into(),
            "-qq".into(),
            "-o".into(),
            trace.display().to_string(),
            "-e".into(),
            format!("trace={}", SYSCALLS.join(",")),
        ],
    );
    assert!(
        status.success(),
        "{name}: the reference run failed: {stderr}"
    );
    // The thread that trains is the one that renames (checkpoints, results); the test
    // harness's main thread loads libraries and prints, and the batch prefetcher reads.
    let mut per_thread: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let mut words = line.split_whitespace();
        let (Some(tid), Some(call)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(call) = call.split('(').next().filter(|c| SYSCALLS.contains(c)) {
            per_thread
                .entry(tid.to_string())
                .or_default()
                .entry(call.to_string())
                .or_default()
                .push(line.to_string());
        }
    }
    let trainer = per_thread
        .into_values()
        .max_by_key(|calls| calls.get("rename").map_or(0, Vec::len))
        .expect("a traced thread");
    let calls: BTreeMap<String, usize> =
        trainer.iter().map(|(c, l)| (c.clone(), l.len())).collect();
    let renames = trainer.get("rename").cloned().unwrap_or_default();
    Scenario {
        name,
        reference: outputs(&options.out_dir),
        options,
        calls,
        renames,
    }
}

/// `count` invocation numbers spread over `1..=calls` (all of them when there are fewer),
/// from `first` on.
fn spread(calls: usize, count: usize, first: usize) -> Vec<usize> {
    if calls < first {
        return Vec::new();
    }
    let span = calls - first + 1;
    if span <= count {
        return (first..=calls).collect();
    }
    (0..count)
        .map(|i| first + i * (span - 1) / (count - 1).max(1))
        .collect()
}

/// After a kill: every file the loop writes atomically is whole (the append-only metrics
/// are cut back to the checkpoint on resume).
fn check_nothing_half_written(out: &Path, what: &str) {
    for json in ["options.json", "result.json"] {
        let path = out.join(json);
        if path.exists() {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                "{what}: {json} is half-written"
            );
        }
    }
    if out.join("model.safetensors").exists() {
        crate::support::weights(&out.join("model.safetensors"));
    }
    for png in ["reconstructions.png", "loss.png", "codebook_usage.png"] {
        let path = out.join(png);
        if path.exists() {
            assert!(image::open(&path).is_ok(), "{what}: {png} is half-written");
        }
    }
    for files in checkpoint::candidates(out).unwrap() {
        checkpoint::read_state(&files)
            .unwrap_or_else(|e| panic!("{what}: {} is incomplete: {e}", files.dir.display()));
        crate::support::weights(&files.model());
        crate::support::weights(&files.optimizer());
    }
}

fn leftovers(out: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for dir in [out.to_path_buf(), out.join("checkpoints")] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name.starts_with(".tmp") {
                found.push(format!("{}/{name}", dir.display()));
            }
        }
    }
    found
}

/// Kill `scenario` at the `when`-th `call`, resume it, and compare with the reference.
fn kill_and_resume(scenario: &Scenario, work: &Path, call: &str, when: usize) {
    let what = format!("{} killed at {call} #{when}", scenario.name);
    let mut options = scenario.options.clone();
    options.out_dir = work.join(scenario.name).join(format!("{call}-{when}"));
    let (status, stderr) = child(
        &options,
        work,
        &[
            "-f".into(),
            "-qq".into(),
            "-o".into(),
            "/dev/null".into(),
            "-e".into(),
            format!("trace={call}"),
            "-e".into(),
            format!("inject={call}:signal=KILL:when={when}"),
        ],
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "{what}: not killed ({status}): {stderr}"
    );
    check_nothing_half_written(&options.out_dir, &what);
    let (status, stderr) = child(&options, work, &[]);
    assert!(status.success(), "{what}: the resumed run failed: {stderr}");
    assert!(
        leftovers(&options.out_dir).is_empty(),
        "{what}: left {:?}",
        leftovers(&options.out_dir)
    );
    let checkpoints = checkpoint::candidates(&options.out_dir).unwrap();
    assert_eq!(checkpoints.len(), 1, "{what}: one checkpoint kept");
    let resumed = outputs(&options.out_dir);
    assert!(
        resumed.model == scenario.reference.model,
        "{what}: final weights differ from the uninterrupted run's"
    );
    assert_eq!(
        resumed.metrics, scenario.reference.metrics,
        "{what}: metrics"
    );
    assert_eq!(resumed.result, scenario.reference.result, "{what}: result");
    std::fs::remove_dir_all(&options.out_dir).unwrap();
}

/// Kill points of one scenario: every rename (checkpoint folders, atomic files), and a
/// spread of writes (file contents, metrics lines), unlinks (old checkpoints, temporaries),
/// folder creation and truncation.
fn kill_points(scenario: &Scenario) -> Vec<(String, usize)> {
    let mut points = Vec::new();
    for (call, &calls) in &scenario.calls {
        let chosen = match call.as_str() {
            "rename" => spread(calls, 4, 1),
            // A few writes of the log to stderr vary from run to run: stay clear of the end.
            "write" => spread(calls.saturating_sub(4), 3, 1),
            "openat" => spread(calls.saturating_sub(4), 2, 1),
            _ => spread(calls, 1, calls),
        };
        points.extend(chosen.into_iter().map(|n| (call.clone(), n)));
    }
    points
}

#[test]
fn a_run_killed_anywhere_resumes_to_the_uninterrupted_result() {
    if !have_strace() {
        return skip_or_fail("strace not found (apt-get install strace)");
    }
    let work = tempfile::tempdir().unwrap();
    let scenarios = [
        // Mid-epoch checkpoints and resumption inside an epoch.
        scenario("fixed", work.path(), |o| {
            o.epochs = 2;
            o.max_steps_per_epoch = Some(3);
            o.checkpoint_every = 2;
        }),
        // D1: epochs 2 and 3 take no step, so their checkpoints share step 3 with epoch 1's.
        scenario("paper", work.path(), |o| {
            o.epochs = 3;
            o.protocol = Protocol::Paper;
            o.max_steps_per_epoch = Some(3);
            o.checkpoint_every = 2;
        }),
        // VQ-EMA's frozen epochs still move its codebook.
        scenario("paper-ema", work.path(), |o| {
            o.quantizer = QuantizerKind::VqEma;
            o.epochs = 2;
            o.protocol = Protocol::Paper;
            o.max_steps_per_epoch = Some(2);
            o.checkpoint_every = 1;
        }),
    ];
    let mut tried = 0;
    for scenario in &scenarios {
        let points = kill_points(scenario);
        eprintln!(
            "{}: syscalls {:?}, {} kill points {:?}",
            scenario.name,
            scenario.calls,
            points.len(),
            points
        );
        for (call, when) in points {
            kill_and_resume(scenario, work.path(), &call, when);
            tried += 1;
        }
    }
    eprintln!("{tried} kill points: each resumed to the uninterrupted result");
    assert!(tried >= 20, "only {tried} kill points");
}

#[test]
fn d1_a_kill_while_a_stepless_epoch_checkpoints_keeps_the_previous_checkpoint() {
    if !have_strace() {
        return skip_or_fail("strace not found (apt-get install strace)");
    }
    let work = tempfile::tempdir().unwrap();
    // The repro: the paper's protocol, epochs 2.. take no step.
    let scenario = scenario("d1", work.path(), |o| {
        o.epochs = 3;
        o.protocol = Protocol::Paper;
        o.max_steps_per_epoch = Some(4);
        o.checkpoint_every = 2;
    });
    // The rename of a whole checkpoint folder into place (the only rename to a path with
    // `/checkpoints/step-` in it; its files are renamed inside the hidden folder).
    let completes_checkpoint = |line: &String| line.contains("/checkpoints/step-");
    for (index, line) in scenario.renames.iter().enumerate() {
        if !completes_checkpoint(line) {
            continue;
        }
        let when = index + 1;
        let mut options = scenario.options.clone();
        options.out_dir = work.path().join("d1").join(format!("rename-{when}"));
        let inject = format!("inject=rename:signal=KILL:when={when}");
        let args = [
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=rename",
            "-e",
            &inject,
        ];
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (status, _) = child(&options, work.path(), &args);
        assert_eq!(status.signal(), Some(9), "rename #{when}: not killed");
        // Once a checkpoint was renamed into place, one always is: a kill never destroys
        // the last (before the fix, a kill at the rename of a stepless epoch's checkpoint
        // left none, and the run silently retrained from step 0).
        let had_checkpoint = scenario.renames[..index].iter().any(completes_checkpoint);
        let latest = checkpoint::latest(&options.out_dir).unwrap();
        assert_eq!(
            latest.is_some(),
            had_checkpoint,
            "rename #{when} ({line}): checkpoint left {latest:?}"
        );
        let (status, stderr) = child(&options, work.path(), &[]);
        assert!(status.success(), "rename #{when}: {stderr}");
        let finished_before = options.out_dir.join("result.json").is_file()
            && stderr.contains("already holds this run's result");
        assert!(
            finished_before || stderr.contains("resuming from") == had_checkpoint,
            "rename #{when}: resumed from a checkpoint: {}",
            stderr.contains("resuming from")
        );
        assert_eq!(
            outputs(&options.out_dir),
            scenario.reference,
            "rename #{when}"
        );
    }
    let kills = scenario
        .renames
        .iter()
        .filter(|l| completes_checkpoint(l))
        .count();
    eprintln!("d1: killed at each of the {kills} renames of a checkpoint into place");
    assert!(kills >= 4, "checkpoints renamed: {:?}", scenario.renames);
}

/// A tmpfs of `mebibytes` at a new folder, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, mebibytes: usize) -> Option<Self> {
        std::fs::create_dir_all(&at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mebibytes}m"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self(at))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_an_error_naming_the_file_and_keeps_the_last_checkpoint() {
    let work = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for mebibytes in [1, 2, 3, 5] {
        let Some(disk) = Tmpfs::mount(work.path().join(format!("disk-{mebibytes}")), mebibytes)
        else {
            return skip_or_fail("cannot mount a tmpfs (needs root)");
        };
        let mut options = smoke_options(
            &disk.0.join("run"),
            QuantizerKind::Lattice,
            BackendKind::Candle,
            12,
        );
        options.epochs = 2;
        options.checkpoint_every = 2;
        let error = run(&options).expect_err("a run that cannot fit must fail");
        let message = error.to_string();
        assert!(
            message.contains(&disk.0.display().to_string())
                && message.contains("No space left on device"),
            "{mebibytes} MiB: the error names the file and the cause: {message}"
        );
        assert!(!message.contains("candle: candle"), "{message}");
        assert!(
            leftovers(&options.out_dir).is_empty(),
            "{mebibytes} MiB: temporaries left: {:?}",
            leftovers(&options.out_dir)
        );
        if let Some(latest) = checkpoint::latest(&options.out_dir).unwrap() {
            checkpoint::read_state(&latest).unwrap();
            let mut backend = make_backend(&options).unwrap();
            backend
                .load(&latest.model(), Some(&latest.optimizer()))
                .unwrap_or_else(|e| panic!("{mebibytes} MiB: the last checkpoint: {e}"));
        }
        eprintln!("{mebibytes} MiB tmpfs: {message}");
        cases += 1;
    }
    assert_eq!(cases, 4);
}
