//! How `recur train` shows its progress: a bar on a terminal, or, when standard error is not
//! one (a log file, a pipe), a line every few seconds. Log lines go to standard output.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::train::{Observer, Progress as Step};

/// Seconds between progress lines when standard error is not a terminal.
const LINE_EVERY: f64 = 5.0;

/// A bar of steps with the running loss, speed and time left on a terminal; otherwise a
/// progress line on standard error every few seconds; nothing when `quiet`.
pub struct Progress {
    bar: ProgressBar,
    shown: bool,
    terminal: bool,
    /// When the last line was printed, and the step and symbol count then.
    last: (Instant, usize, usize),
    symbols: usize,
}

impl Progress {
    pub fn new(shown: bool) -> Self {
        Progress {
            bar: ProgressBar::hidden(),
            shown,
            terminal: std::io::stderr().is_terminal(),
            last: (Instant::now(), 0, 0),
            symbols: 0,
        }
    }

    /// `step 1200/20000 (6%)  loss 1.2345  950 seq/s  95000 symbols/s  eta 1m 10s`.
    fn line(&mut self, p: &Step) {
        let now = Instant::now();
        let dt = now.duration_since(self.last.0).as_secs_f64().max(1e-9);
        let (seq_rate, sym_rate) = (
            (p.step - self.last.1) as f64 / dt * p.sequences as f64,
            (self.symbols - self.last.2) as f64 / dt,
        );
        let eta = p.seconds / p.step as f64 * (p.total - p.step) as f64;
        eprintln!(
            "step {}/{} ({:.0}%)  loss {:.4}  {:.0} seq/s  {:.0} symbols/s  eta {}",
            p.step,
            p.total,
            100.0 * p.step as f64 / p.total.max(1) as f64,
            p.loss,
            seq_rate,
            sym_rate,
            clock(eta)
        );
        self.last = (now, p.step, self.symbols);
    }
}

/// `1h 02m`, `3m 05s`, `12s`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

impl Observer for Progress {
    fn start(&mut self, total_steps: usize) {
        self.last = (Instant::now(), 0, 0);
        if self.shown && self.terminal {
            self.bar = ProgressBar::new(total_steps as u64);
            self.bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps {per_sec} eta {eta} {msg}")
                    .expect("static template"),
            );
        }
    }
    fn step(&mut self, p: &Step) {
        self.symbols += p.symbols;
        if !self.shown {
            return;
        }
        if self.terminal {
            self.bar.inc(1);
            if p.step.is_multiple_of(20) {
                self.bar.set_message(format!("loss {:.4}", p.loss));
            }
        } else if self.last.0.elapsed().as_secs_f64() >= LINE_EVERY {
            self.line(p);
        }
    }
    fn log(&mut self, line: &str) {
        self.bar.suspend(|| {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        });
    }
    fn warn(&mut self, message: &str) {
        self.bar.suspend(|| eprintln!("recur: warning: {message}"));
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
