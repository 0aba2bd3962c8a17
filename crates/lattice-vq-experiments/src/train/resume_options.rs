//! A run folder belongs to one run: resuming its checkpoint with other options would
//! continue the old training and label the result with the new options.

use super::TrainOptions;
use super::checkpoint::{self, read_json};
use crate::error::{Error, Result};

/// Options that may differ between a run and its resumption: where it writes, how it shows
/// progress, how many threads it uses, how many epochs it runs in all (a finished run can
/// be extended; fewer epochs than done is refused by the loop state's check) and whether
/// training codes are counted after training. Everything else shapes the trained weights or
/// the recorded metrics.
pub const MAY_CHANGE: [&str; 5] = [
    "out_dir",
    "progress",
    "threads",
    "epochs",
    "count_train_codes",
];

/// Check that `options` may resume the checkpoints in `options.out_dir`: the folder has
/// none, or its `options.json` differs from `options` only in [`MAY_CHANGE`].
///
/// # Errors
/// [`Error::Invalid`] naming each option that differs (saved and new value), or saying that
/// checkpoints exist without an `options.json`; [`Error::Format`] for an unreadable one.
pub fn check(options: &TrainOptions) -> Result<()> {
    let out = &options.out_dir;
    if checkpoint::candidates(out)?.is_empty() {
        return Ok(());
    }
    let path = out.join("options.json");
    if !path.is_file() {
        return Err(Error::Invalid {
            what: "resume".into(),
            problem: format!(
                "{} holds checkpoints but no options.json, so the run they belong to is \
                 unknown: use another --out, or move the folder away to start over",
                out.display()
            ),
        });
    }
    // Read as options, then compared as JSON: a file that leaves out an optional field
    // (`"data_dir"` absent is `None`) holds the same options as one that spells it out.
    let saved: TrainOptions = read_json(&path)?;
    let saved = serde_json::to_value(&saved).expect("options serialize");
    let now = serde_json::to_value(options).expect("options serialize");
    let (Some(saved), Some(now)) = (saved.as_object(), now.as_object()) else {
        return Err(Error::Format {
            path,
            problem: "not a JSON object of training options".into(),
        });
    };
    let differences: Vec<String> = now
        .iter()
        .filter(|(key, _)| !MAY_CHANGE.contains(&key.as_str()))
        .filter(|(key, value)| saved.get(*key) != Some(value))
        .map(|(key, value)| {
            let before = saved.get(key).map_or("absent".into(), |v| v.to_string());
            format!("{key} {before} (now {value})")
        })
        .collect();
    if differences.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid {
        what: "resume".into(),
        problem: format!(
            "{} holds a run with other options: {}; rerun with that run's options to resume \
             it, or use another --out",
            out.display(),
            differences.join(", ")
        ),
    })
}
