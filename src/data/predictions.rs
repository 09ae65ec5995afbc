//! Running a `classify`, `regress` or `label` model over rows read from a file, scoring it
//! when the rows carry labels, and writing the predictions as CSV or JSON Lines: what
//! `recur predict --model M --input FILE [--output P.csv|P.jsonl]` does, minus the wiring.
//!
//! Deliberately not here: forecasting (it continues one series, [`crate::data::forecast`]) and
//! raw logits of any model on an array (`recur predict --input X.npy --output Y.npy`).

use std::fmt::Write as _;

use crate::data::classify::{Classify, ClassifySpec, Item};
use crate::data::encoding::Encoder;
use crate::data::npy_rows::TargetKind;
use crate::data::rows::{Kind, Table};
use crate::data::tagging::{Tagging, TaggingSpec};
use crate::error::{Error, Result};
use crate::model::{Model, Session};
use crate::train::Batch;

/// The task a model file records, for the tasks that read rows.
pub enum RowTask {
    /// `classify` and `regress`.
    Classify(ClassifySpec),
    /// `label`.
    Label(TaggingSpec),
}

impl RowTask {
    /// The row task recorded under a model file's `task`, if it is one.
    pub fn from_json(task: Option<&serde_json::Value>) -> Option<RowTask> {
        let t = task?;
        match t.get("name")?.as_str()? {
            "classify" | "regress" => serde_json::from_value(t.clone()).ok().map(RowTask::Classify),
            "label" => serde_json::from_value(t.clone()).ok().map(RowTask::Label),
            _ => None,
        }
    }
    /// How the model's inputs are encoded.
    pub fn encoder(&self) -> Result<Encoder> {
        match self {
            RowTask::Classify(s) => s.encoder(),
            RowTask::Label(s) => Ok(s.encoder()),
        }
    }
    /// What a targets array holds for this task (`--targets Y.npy`).
    pub fn target_kind(&self) -> TargetKind {
        match self {
            RowTask::Classify(s) if s.target.is_some() => TargetKind::Values,
            RowTask::Classify(_) => TargetKind::Classes,
            RowTask::Label(_) => TargetKind::Steps,
        }
    }
    /// The (label, sequence) columns a text file is read by.
    pub fn columns(&self) -> (&str, &str) {
        match self {
            RowTask::Classify(s) => (&s.label_column, &s.sequence_column),
            RowTask::Label(s) => (&s.label_column, &s.sequence_column),
        }
    }
}

/// What the model says about one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicted {
    /// The most likely class, its probability, and every class's (in the spec's order).
    Class { name: String, probability: f64, probs: Vec<f64> },
    /// A regression value in the targets' units.
    Value(f64),
    /// One label per step.
    Labels(Vec<String>),
}

/// One row's prediction; `line` as in [`crate::data::rows::Row`].
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub line: usize,
    pub predicted: Predicted,
}

/// All rows' predictions and, when the rows had labels, how well they matched.
pub struct Predictions {
    pub rows: Vec<Prediction>,
    /// E.g. `accuracy 97.00% on 100 labelled rows`.
    pub score: Option<String>,
    /// Class names, for the probabilities of [`Predicted::Class`].
    pub classes: Vec<String>,
    kind: Kind,
}

/// Runs `model` over every row of `table` in padded batches.
pub fn predict(
    model: &Model<f32>,
    sess: &mut Session<f32>,
    task: &RowTask,
    table: &Table,
) -> Result<Predictions> {
    match task {
        RowTask::Classify(spec) => predict_classes(model, sess, spec, table),
        RowTask::Label(spec) => predict_labels(model, sess, spec, table),
    }
}

/// A class (with every class's probability) or a value per row, scored when rows carry labels.
fn predict_classes(
    model: &Model<f32>,
    sess: &mut Session<f32>,
    spec: &ClassifySpec,
    table: &Table,
) -> Result<Predictions> {
    let kind = table.src.kind;
    let enc = spec.encoder()?;
    let width = enc.width();
    let items: Vec<Item> =
        table.rows.iter().map(|r| Ok((enc.encode(&table.src, r)?, 0.0))).collect::<Result<_>>()?;
    let (mut out, mut batch) = (Vec::with_capacity(items.len()), Batch::default());
    for chunk in items.chunks(256) {
        let refs: Vec<&Item> = chunk.iter().collect();
        Classify::pad(&refs, spec.target.is_some(), width, &mut batch);
        let o = sess.forward(model, batch.seqs(), None)?;
        match spec.target {
            Some((mean, sd)) => out.extend(o.logits.iter().map(|&v| Predicted::Value(v as f64 * sd + mean))),
            None => out.extend(o.logits.chunks(spec.classes.len()).map(|l| {
                let probs = softmax(l);
                let k = argmax(&probs);
                Predicted::Class { name: spec.classes[k].clone(), probability: probs[k], probs }
            })),
        }
    }
    let rows: Vec<Prediction> =
        table.rows.iter().zip(out).map(|(r, predicted)| Prediction { line: r.line, predicted }).collect();
    let score = score_rows(spec, table, &rows)?;
    Ok(Predictions { rows, score, classes: spec.classes.clone(), kind })
}

/// A label per step of each row, scored per step when rows carry labels.
fn predict_labels(
    model: &Model<f32>,
    sess: &mut Session<f32>,
    spec: &TaggingSpec,
    table: &Table,
) -> Result<Predictions> {
    let kind = table.src.kind;
    let enc = spec.encoder();
    let width = enc.width();
    let mut items = Vec::with_capacity(table.rows.len());
    for r in &table.rows {
        let x = enc.encode(&table.src, r)?;
        let steps = x.len() / width;
        items.push((x, vec![0u32; steps]));
    }
    let (mut rows, mut batch) = (Vec::with_capacity(items.len()), Batch::default());
    let (mut right, mut seen) = (0usize, 0usize);
    for (chunk, rchunk) in items.chunks(256).zip(table.rows.chunks(256)) {
        let refs: Vec<_> = chunk.iter().collect();
        Tagging::pad(&refs, width, &mut batch);
        let o = sess.forward(model, batch.seqs(), None)?;
        let v = spec.tags.len();
        for (i, (r, (_, y))) in rchunk.iter().zip(chunk).enumerate() {
            let logits = &o.logits[i * batch.steps * v..][..y.len() * v];
            let got: Vec<u32> = logits.chunks(v).map(|l| argmax(&softmax(l)) as u32).collect();
            if r.label.as_deref().is_some_and(|l| !l.is_empty()) {
                let want = spec.tags_of(table, r, y.len())?;
                right += got.iter().zip(&want).filter(|(a, b)| a == b).count();
                seen += want.len();
            }
            let labels = got.iter().map(|&k| spec.tags[k as usize].clone()).collect();
            rows.push(Prediction { line: r.line, predicted: Predicted::Labels(labels) });
        }
    }
    let score = (seen > 0).then(|| {
        format!("per-step accuracy {:.2}% on {seen} labelled steps", 100.0 * right as f64 / seen as f64)
    });
    Ok(Predictions { rows, score, classes: spec.tags.clone(), kind })
}

/// Accuracy or RMSE over the rows that carry a label; an unseen class is an error.
fn score_rows(spec: &ClassifySpec, table: &Table, rows: &[Prediction]) -> Result<Option<String>> {
    let (mut right, mut sq, mut n) = (0usize, 0.0f64, 0usize);
    for (r, p) in table.rows.iter().zip(rows) {
        let Some(l) = r.label.as_deref().filter(|l| !l.is_empty()) else { continue };
        spec.target_of(table, r)?; // a known class, or a number
        n += 1;
        match &p.predicted {
            Predicted::Value(v) => sq += (v - l.parse::<f64>().unwrap_or(f64::NAN)).powi(2),
            Predicted::Class { name, .. } => right += (name == l) as usize,
            Predicted::Labels(_) => {}
        }
    }
    Ok((n > 0).then(|| match spec.target {
        Some(_) => format!("RMSE {:.4} on {n} rows with targets", (sq / n as f64).sqrt()),
        None => format!("accuracy {:.2}% on {n} labelled rows", 100.0 * right as f64 / n as f64),
    }))
}

impl Predictions {
    /// The first column's name: `line` for text files, `index` for arrays.
    fn key(&self) -> &'static str {
        if self.kind == Kind::Npy { "index" } else { "line" }
    }

    /// CSV: `line,predicted,probability` (classes), `line,predicted` (values), `line,labels`.
    pub fn to_csv(&self) -> String {
        let key = self.key();
        let mut out = String::new();
        for (i, p) in self.rows.iter().enumerate() {
            let (head, row) = match &p.predicted {
                Predicted::Class { name, probability, .. } => {
                    ("predicted,probability", format!("{},{probability:.4}", csv_field(name)))
                }
                Predicted::Value(v) => ("predicted", format!("{v:.6}")),
                Predicted::Labels(l) => ("labels", csv_field(&join_labels(l))),
            };
            if i == 0 {
                let _ = writeln!(out, "{key},{head}");
            }
            let _ = writeln!(out, "{},{row}", p.line);
        }
        out
    }

    /// JSON Lines: `{"line": 3, "predicted": "binder", "probability": 0.98, "probs": {...}}`
    /// (classes), `{"line": 3, "predicted": 1.23}` (values), `{"line": 3, "predicted": "HHoH"}`
    /// (labels, space-separated when a label is longer than one character).
    pub fn to_jsonl(&self) -> String {
        let key = self.key();
        let q = |s: &str| serde_json::Value::from(s).to_string();
        // Probabilities from f32 logits: digits past the sixth are noise.
        let num = |v: f64| serde_json::Value::from((v * 1e6).round() / 1e6).to_string();
        let mut out = String::new();
        for p in &self.rows {
            let _ = write!(out, "{{\"{key}\": {}, \"predicted\": ", p.line);
            match &p.predicted {
                Predicted::Class { name, probability, probs } => {
                    let each: Vec<String> = self
                        .classes
                        .iter()
                        .zip(probs)
                        .map(|(c, p)| format!("{}: {}", q(c), num(*p)))
                        .collect();
                    let _ = write!(
                        out,
                        "{}, \"probability\": {}, \"probs\": {{{}}}",
                        q(name),
                        num(*probability),
                        each.join(", ")
                    );
                }
                Predicted::Value(v) => out += &serde_json::Value::from(*v).to_string(),
                Predicted::Labels(l) => out += &q(&join_labels(l)),
            }
            out += "}\n";
        }
        out
    }
}

/// Labels of single characters run together (`HHoH`), longer ones are space-separated.
pub fn join_labels(l: &[String]) -> String {
    if l.iter().all(|s| s.chars().count() == 1) { l.concat() } else { l.join(" ") }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Probabilities from logits, computed in f64 after subtracting the largest logit.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

/// The index of the largest value, the first on ties.
fn argmax(p: &[f64]) -> usize {
    p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best })
}

/// An error for a model whose task reads no rows.
pub fn not_a_row_task(path: &std::path::Path) -> Error {
    Error::Input(format!(
        "{}: a CSV, JSON Lines or .npy --input needs a model trained by `recur train classify`, \
         `regress` or `label`",
        path.display()
    ))
}
