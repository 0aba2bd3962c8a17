//! The progress bars of training, validation and evaluation.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar with rate and ETA, or a hidden one.
pub(super) fn progress_bar(visible: bool, len: u64, message: String) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>22} [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar
}
