//! Metrics as JSON lines, one object per evaluation, appended and flushed as they happen so a
//! crashed run keeps its history and `recur plot` (or any tool) can read it while training.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One evaluation.
#[derive(Clone, Debug)]
pub struct Record {
    /// The epoch it was measured in (from 1).
    pub epoch: usize,
    /// Training steps done.
    pub step: usize,
    /// The mean training loss of the epoch so far.
    pub train_loss: f64,
    /// Seconds since the run started.
    pub seconds: f64,
    /// The task's held-out metrics, by name.
    pub metrics: Vec<(String, f64)>,
}

impl Record {
    /// `epoch 10  step 100  loss 0.1234  test_error 0.52%  3.1s`.
    pub fn line(&self) -> String {
        let mut s = format!("epoch {:>4}  step {:>7}  loss {:.5}", self.epoch, self.step, self.train_loss);
        for (k, v) in &self.metrics {
            if k.ends_with("error") || k.ends_with("accuracy") {
                s += &format!("  {k} {:.4}%", v * 100.0);
            } else if v.fract() == 0.0 && v.abs() < 1e15 {
                s += &format!("  {k} {}", *v as i64);
            } else {
                s += &format!("  {k} {v:.5}");
            }
        }
        s + &format!("  {:.1}s", self.seconds)
    }

    /// As one JSON object: `epoch`, `step`, `train_loss`, `seconds` and every metric.
    pub fn json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("epoch".into(), self.epoch.into());
        m.insert("step".into(), self.step.into());
        m.insert("train_loss".into(), self.train_loss.into());
        m.insert("seconds".into(), self.seconds.into());
        for (k, v) in &self.metrics {
            m.insert(k.clone(), (*v).into());
        }
        serde_json::Value::Object(m)
    }
}

/// An open JSON-lines file.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(MetricsLog { path: path.into(), file })
    }

    /// For a run resumed after step `step`: keeps the records up to that step (a stopped run
    /// may have logged a few more, which the resumed run logs again) and appends after them.
    pub fn resume(path: &Path, step: usize) -> Result<Self> {
        let old = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(path, e)),
        };
        let kept: String = old
            .lines()
            .filter(|line| {
                let v: Option<serde_json::Value> = serde_json::from_str(line).ok();
                v.and_then(|v| v.get("step")?.as_u64()).is_some_and(|s| s as usize <= step)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        crate::io::atomic::write_atomic(path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok(MetricsLog { path: path.into(), file })
    }

    /// Writes the record as one line and flushes it.
    pub fn append(&mut self, r: &Record) -> Result<()> {
        writeln!(self.file, "{}", r.json())
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}
