//! A progress bar on stderr that appears only for work that takes longer
//! than a second (indicatif).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// Implements [`Progress`] by drawing an indicatif bar once more than
/// [`DELAY`] has passed since creation.
pub struct CliProgress {
    label: String,
    start: Instant,
    bar: OnceLock<ProgressBar>,
}

/// How long work runs before a bar is shown.
pub const DELAY: Duration = Duration::from_secs(1);

impl CliProgress {
    /// A bar labelled with what is being done, e.g. "simulating".
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            start: Instant::now(),
            bar: OnceLock::new(),
        }
    }
    /// Remove the bar (if shown).
    pub fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn report(&self, done: u64, total: u64) {
        if self.start.elapsed() < DELAY && self.bar.get().is_none() {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let b = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(self.label.clone());
            b
        });
        bar.set_length(total);
        bar.set_position(done);
    }
}

impl Drop for CliProgress {
    fn drop(&mut self) {
        self.finish();
    }
}
