//! Training curves from the JSON-lines file that `recur train --metrics FILE` writes (one
//! object per evaluation: `epoch`, `step`, `seconds`, `train_loss` and the task's metrics,
//! see [`crate::train::metrics`]).
//!
//! Each metric goes to a panel by its name: `*loss*` to "loss", `*accuracy` to "accuracy" and
//! `*error` to "error" (both in percent, as training prints them), anything else (`valid_rmse`,
//! ...) to "other". Several files are overlaid, each curve labelled `file: metric`.
//! A last line without its newline is skipped: the file may be read while training appends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::chart::{Chart, Curve, PALETTE, Panel, Style};
use crate::error::{Error, Result};

/// What goes on the x axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XAxis {
    Epoch,
    Step,
    Seconds,
}

impl XAxis {
    pub fn key(self) -> &'static str {
        match self {
            XAxis::Epoch => "epoch",
            XAxis::Step => "step",
            XAxis::Seconds => "seconds",
        }
    }
}

/// The keys that are axes, not curves.
const AXES: [&str; 3] = ["epoch", "step", "seconds"];

/// One metrics file: its numeric values per evaluation, with line numbers for errors.
#[derive(Clone, Debug)]
pub struct MetricsFile {
    pub path: PathBuf,
    /// (line number, name -> value); non-numeric values (null, strings) are left out.
    pub records: Vec<(usize, BTreeMap<String, f64>)>,
}

impl MetricsFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, path)
    }

    /// [`MetricsFile::read`] on the bytes of a file already in memory; `path` names it.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            // A character cut at the end is in a line still being written, which is skipped.
            Err(e) if e.error_len().is_none() => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
            Err(e) => return Err(Error::not_utf8(path, bytes, &e)),
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut records = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                // Training may be appending this line right now.
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => continue,
                Err(e) => return Err(Error::format(path, format!("line {}: not JSON: {e}", i + 1))),
            };
            let obj = value.as_object().ok_or_else(|| {
                Error::format(path, format!("line {}: expected a JSON object {{\"epoch\": ...}}", i + 1))
            })?;
            let values = obj.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect();
            records.push((i + 1, values));
        }
        if records.is_empty() {
            return Err(Error::format(
                path,
                "no metrics in the file (it is written by `recur train ... --metrics FILE`, one line per evaluation)",
            ));
        }
        Ok(MetricsFile { path: path.into(), records })
    }

    /// The metric names in the file, sorted, without the axes.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .records
            .iter()
            .flat_map(|(_, r)| r.keys())
            .filter(|k| !AXES.contains(&k.as_str()))
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Loss,
    Accuracy,
    Error,
    Other,
}

fn kind(name: &str) -> Kind {
    if name.contains("loss") {
        Kind::Loss
    } else if name.ends_with("accuracy") {
        Kind::Accuracy
    } else if name.ends_with("error") {
        Kind::Error
    } else {
        Kind::Other
    }
}

/// The curves of `files` against `x`: every metric, or only those named in `only` (each of
/// which must be in at least one file).
pub fn chart(files: &[MetricsFile], x: XAxis, only: &[String]) -> Result<Chart> {
    let all: Vec<String> = {
        let mut v: Vec<String> = files.iter().flat_map(|f| f.names()).collect();
        v.sort();
        v.dedup();
        v
    };
    for name in only {
        if !all.contains(name) {
            let where_ = files.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(Error::Input(format!(
                "no metric `{name}` in {where_}; it has: {}",
                if all.is_empty() { "none".to_string() } else { all.join(", ") }
            )));
        }
    }
    let names: Vec<&String> = all.iter().filter(|n| only.is_empty() || only.contains(n)).collect();
    let labels = run_labels(files);
    let mut panels: BTreeMap<Kind, Vec<Curve>> = BTreeMap::new();
    let mut color = PALETTE.iter().cycle();
    for (file, run) in files.iter().zip(&labels) {
        let mut xs = Vec::with_capacity(file.records.len());
        for (line, r) in &file.records {
            xs.push(*r.get(x.key()).ok_or_else(|| {
                Error::format(&file.path, format!("line {line}: no `{}` for the x axis", x.key()))
            })?);
        }
        for &name in &names {
            let k = kind(name);
            let scale = if matches!(k, Kind::Accuracy | Kind::Error) { 100.0 } else { 1.0 };
            let points: Vec<(f64, f64)> = xs
                .iter()
                .zip(&file.records)
                .filter_map(|(&xv, (_, r))| r.get(name).map(|v| (xv, v * scale)))
                .collect();
            if points.is_empty() {
                continue;
            }
            let label = if files.len() > 1 { format!("{run}: {name}") } else { name.clone() };
            let style = if points.len() <= 60 { Style::LineDots } else { Style::Line };
            let color = *color.next().expect("cycle");
            panels.entry(k).or_default().push(Curve { label, color, style, points });
        }
    }
    let panels = panels
        .into_iter()
        .map(|(k, curves)| {
            // "other" holds metrics of any unit: name them when there are few.
            let mut others: Vec<&str> =
                names.iter().filter(|n| kind(n) == Kind::Other).map(|n| n.as_str()).collect();
            others.truncate(4);
            let others = if others.len() <= 3 { others.join(", ") } else { "other metrics".into() };
            let (title, y_desc) = match k {
                Kind::Loss => ("loss", "loss"),
                Kind::Accuracy => ("accuracy", "accuracy (%)"),
                Kind::Error => ("error", "error (%)"),
                Kind::Other => (others.as_str(), "value"),
            };
            let percent = matches!(k, Kind::Accuracy | Kind::Error);
            let allow_log = k != Kind::Accuracy;
            Panel { title: title.into(), y_desc: y_desc.into(), percent, allow_log, headroom: 0.0, curves }
        })
        .collect();
    Ok(Chart { x_desc: x.key().into(), x_integer: x != XAxis::Seconds, panels })
}

/// Short names for the runs in a legend: the file stems, or the paths where stems repeat.
fn run_labels(files: &[MetricsFile]) -> Vec<String> {
    let stems: Vec<String> = files
        .iter()
        .map(|f| {
            f.path.file_stem().map_or_else(|| f.path.display().to_string(), |s| s.to_string_lossy().into())
        })
        .collect();
    let mut sorted = stems.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() == stems.len() {
        stems
    } else {
        files.iter().map(|f| f.path.display().to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_records_and_skips_a_half_written_last_line() {
        let d = tempfile::tempdir().unwrap();
        let p = file(
            d.path(),
            "m.jsonl",
            "{\"epoch\":1,\"step\":10,\"train_loss\":0.5,\"valid_accuracy\":0.9,\"note\":\"x\"}\n\n{\"epoch\":2,\"step\":20,\"train_loss\":null}\n{\"epoch\":3,",
        );
        let m = MetricsFile::read(&p).unwrap();
        assert_eq!(m.records.len(), 2);
        assert_eq!(m.records[1].0, 3);
        assert_eq!(m.names(), ["train_loss", "valid_accuracy"]);
        let c = chart(&[m], XAxis::Epoch, &[]).unwrap();
        let titles: Vec<&str> = c.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["loss", "accuracy"]);
        assert_eq!(c.panels[0].curves[0].points, [(1.0, 0.5)]);
        assert_eq!(c.panels[1].curves[0].points, [(1.0, 90.0)]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "bad.jsonl", "{\"epoch\":1}\nepoch 2 loss 0.1\n");
        let e = MetricsFile::read(&p).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl: line 2: not JSON"), "{e}");
        let p = file(d.path(), "arr.jsonl", "[1, 2]\n");
        let e = MetricsFile::read(&p).unwrap_err().to_string();
        assert!(e.contains("arr.jsonl: line 1: expected a JSON object"), "{e}");
        let p = file(d.path(), "empty.jsonl", "\n");
        let e = MetricsFile::read(&p).unwrap_err().to_string();
        assert!(e.contains("empty.jsonl: no metrics"), "{e}");
        let p = file(d.path(), "nox.jsonl", "{\"step\":1,\"train_loss\":1}\n");
        let e = chart(&[MetricsFile::read(&p).unwrap()], XAxis::Epoch, &[]).unwrap_err().to_string();
        assert!(e.contains("nox.jsonl: line 1: no `epoch`"), "{e}");
    }

    #[test]
    fn only_picks_metrics_and_rejects_unknown_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "m.jsonl", "{\"epoch\":1,\"step\":5,\"train_loss\":0.5,\"valid_rmse\":0.2}\n");
        let m = MetricsFile::read(&p).unwrap();
        let c = chart(std::slice::from_ref(&m), XAxis::Step, &["valid_rmse".into()]).unwrap();
        assert_eq!(c.panels.len(), 1);
        assert_eq!(c.panels[0].title, "valid_rmse");
        assert_eq!(c.panels[0].curves[0].points, [(5.0, 0.2)]);
        let e = chart(&[m], XAxis::Epoch, &["valid_accuracy".into()]).unwrap_err().to_string();
        assert!(e.contains("no metric `valid_accuracy`") && e.contains("train_loss, valid_rmse"), "{e}");
    }

    #[test]
    fn several_runs_are_labelled_by_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("b")).unwrap();
        let a = file(d.path(), "a.jsonl", "{\"epoch\":1,\"train_loss\":0.5}\n");
        let b = file(d.path(), "b/a.jsonl", "{\"epoch\":1,\"train_loss\":0.4}\n");
        let c = file(d.path(), "c.jsonl", "{\"epoch\":1,\"train_loss\":0.3}\n");
        let read = |p: &PathBuf| MetricsFile::read(p).unwrap();
        let ch = chart(&[read(&a), read(&c)], XAxis::Epoch, &[]).unwrap();
        let labels: Vec<&str> = ch.panels[0].curves.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["a: train_loss", "c: train_loss"]);
        assert_ne!(ch.panels[0].curves[0].color, ch.panels[0].curves[1].color);
        let ch = chart(&[read(&a), read(&b)], XAxis::Epoch, &[]).unwrap();
        assert!(ch.panels[0].curves[1].label.contains("b/a.jsonl"), "{:?}", ch.panels[0].curves[1].label);
    }
}
