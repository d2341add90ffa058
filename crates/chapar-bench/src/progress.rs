//! Progress bars on stderr while a scenario runs. indicatif draws nothing when stderr is not a
//! terminal (CI logs stay clean), and `--no-progress` hides them everywhere.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static HIDDEN: AtomicBool = AtomicBool::new(false);

pub fn hide_all() {
    HIDDEN.store(true, Ordering::Relaxed);
}

fn hidden() -> bool {
    HIDDEN.load(Ordering::Relaxed)
}

/// A bar counting `len` items of a phase.
pub fn bar(len: u64, phase: &str) -> ProgressBar {
    if hidden() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>14} [{bar:36}] {pos}/{len} {per_sec:>12} {elapsed:>4} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix(phase.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar over the seconds of a timed phase.
pub fn timed(secs: u64, phase: &str) -> ProgressBar {
    if hidden() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(secs.max(1));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:36}] {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(phase.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
