//! The progress bar of `recur train` (on a terminal), and the log lines it prints to stdout.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use crate::train::Observer;

/// Shows a bar of steps with the running loss, speed and time left, hidden when standard
/// error is not a terminal or when `quiet`; log lines go to standard output above it.
pub struct Progress {
    bar: ProgressBar,
    shown: bool,
}

impl Progress {
    pub fn new(shown: bool) -> Self {
        Progress { bar: ProgressBar::hidden(), shown }
    }
}

impl Observer for Progress {
    fn start(&mut self, total_steps: usize) {
        if self.shown {
            self.bar = ProgressBar::new(total_steps as u64);
            self.bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps {per_sec} eta {eta} {msg}")
                    .expect("static template"),
            );
        }
    }
    fn step(&mut self, step: usize, loss: f64) {
        self.bar.inc(1);
        if step.is_multiple_of(20) {
            self.bar.set_message(format!("loss {loss:.4}"));
        }
    }
    fn log(&mut self, line: &str) {
        self.bar.suspend(|| {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        });
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
