//! Progress bar and warnings on stderr.

use crate::cli::plural::count;
use crate::pipeline::predict::Observer;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Draws a progress bar (only when stderr is a terminal and not `--quiet`) and prints
/// warnings above it.
pub struct Progress {
    bar: ProgressBar,
    spectra: AtomicUsize,
    started: Instant,
}

impl Progress {
    /// A bar over `total` units (files or spectra).
    pub fn new(total: usize, unit: &str, quiet: bool) -> Progress {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(total as u64)
        };
        let template = format!(
            "{{elapsed_precise}} [{{bar:20}}] {{pos}}/{{len}} {unit}, {{msg}}, ETA {{eta}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            spectra: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Seconds since the bar was created.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Observer for Progress {
    fn warn(&self, message: &str) {
        self.bar.suspend(|| eprintln!("warning: {message}"));
    }

    fn advance(&self, units: usize, spectra: usize) {
        let done = self.spectra.fetch_add(spectra, Ordering::Relaxed) + spectra;
        let rate = done as f64 / self.elapsed().max(1e-9);
        self.bar.set_message(format!(
            "{} at {rate:.0}/s",
            count(done, "spectrum", "spectra")
        ));
        self.bar.inc(units as u64);
    }
}
