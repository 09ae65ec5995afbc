//! What the tasks on your own rows (`classify`, `regress`, `label`) share: reading a labelled
//! data file and its held-out files, class weights, and running a saved model over the rows
//! of a file, scoring it when the rows carry labels, and writing the predictions as CSV or
//! JSON Lines (`recur predict --model M --input FILE [--output P.csv|P.jsonl]`).

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::data::encoding::Encoder;
use crate::data::npy_rows::{TargetKind, is_npy, read_npy_table};
use crate::data::rows::{Held, Kind, Table, read_table};
use crate::error::Result;
use crate::io::model_file::ModelFile;
use crate::model::probs::{argmax, softmax};
use crate::model::{Model, Session};
use crate::task::classify::{Classify, ClassifySpec, Item};
use crate::task::label::{Tagging, TaggingSpec};
use crate::task::predict::{is_jsonl, predict_array, write_or_print};
use crate::task::{PredictOptions, TaskOptions};
use crate::train::Batch;

/// The spec of a saved row model.
pub enum RowTask {
    /// `classify` and `regress`.
    Classify(ClassifySpec),
    /// `label`.
    Label(TaggingSpec),
}

impl RowTask {
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
    Class {
        /// The most likely class.
        name: String,
        /// Its probability.
        probability: f64,
        /// Every class's probability, in the spec's class order.
        probs: Vec<f64>,
    },
    /// A regression value in the targets' units.
    Value(f64),
    /// One label per step.
    Labels(Vec<String>),
}

/// One row's prediction; `line` as in [`crate::data::rows::Row`].
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The row's line in its file (from 1), or its index in an array (from 0).
    pub line: usize,
    /// What the model says.
    pub predicted: Predicted,
}

/// All rows' predictions and, when the rows had labels, how well they matched.
pub struct Predictions {
    /// One prediction per row, in file order.
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

/// `recur predict --input FILE` for a row model: predictions for every row (or, with a `.npy`
/// `--output`, the raw logits of a `.npy` input, normalized as in training).
pub fn predict_file(
    file: &ModelFile,
    task: RowTask,
    o: &PredictOptions,
    sess: &mut Session<f32>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let Some(path) = o.input.as_deref() else { return Ok(false) };
    if o.output.as_deref().is_some_and(is_npy) && is_npy(path) {
        predict_array(file, path, o, Some(&task.encoder()?), sess, out)?;
        return Ok(true);
    }
    let table = if is_npy(path) {
        read_npy_table(path, o.targets.as_deref(), o.lengths.as_deref(), task.target_kind())?
    } else {
        if o.lengths.is_some() {
            bail!("--lengths is for .npy inputs; {} gives each sequence's own length", path.display());
        }
        if o.targets.is_some() {
            bail!("--targets is for .npy inputs; {} holds its labels in a column", path.display());
        }
        let (label, seq) = task.columns();
        read_table(path, label, seq, false)?
    };
    let p = predict(&file.model, sess, &task, &table)?;
    let output = o.output.as_deref();
    let text = if is_jsonl(output) { p.to_jsonl() } else { p.to_csv() };
    write_or_print(output, &text, &format!("{} predictions", p.rows.len()), out)?;
    if let Some(s) = &p.score {
        eprintln!("{s}");
    }
    Ok(true)
}

/// Reads a labelled data file: CSV/TSV/JSON Lines, or `.npy` with its targets and lengths.
fn read_labelled(
    d: &TaskOptions,
    path: &Path,
    targets: Option<&Path>,
    lengths: Option<&Path>,
    kind: TargetKind,
) -> anyhow::Result<Table> {
    if is_npy(path) {
        let y = targets.with_context(|| {
            format!(
                "{} is an array; give its targets too (--targets Y.npy, --valid-targets, --test-targets)",
                path.display()
            )
        })?;
        return Ok(read_npy_table(path, Some(y), lengths, kind)?);
    }
    if let Some(t) = targets.or(lengths) {
        bail!("{} is for .npy data; {} holds its own labels", t.display(), path.display());
    }
    let (label, seq) = d.columns();
    Ok(read_table(path, label, seq, true)?)
}

/// The training table and where its held-out rows come from.
pub fn read_data(d: &TaskOptions, kind: TargetKind, what: &str) -> anyhow::Result<(Table, Held)> {
    let f = &d.files;
    let path = d.data.clone().with_context(|| format!("needs --data FILE ({what})"))?;
    let data = read_labelled(d, &path, f.targets.as_deref(), f.lengths.as_deref(), kind)?;
    if f.valid_data.is_some() && d.valid_fraction.is_some() {
        bail!("give --valid-data or --valid-fraction, not both");
    }
    if f.test_data.is_some() && d.test_fraction.is_some() {
        bail!("give --test-data or --test-fraction, not both");
    }
    let other =
        |p: &Option<PathBuf>, t: &Option<PathBuf>, l: &Option<PathBuf>| -> anyhow::Result<Option<Table>> {
            p.as_deref().map(|p| read_labelled(d, p, t.as_deref(), l.as_deref(), kind)).transpose()
        };
    let held = Held {
        valid: other(&f.valid_data, &f.valid_targets, &f.valid_lengths)?,
        test: other(&f.test_data, &f.test_targets, &f.test_lengths)?,
        valid_fraction: d.valid_fraction.unwrap_or(0.2),
        test_fraction: d.test_fraction.unwrap_or(0.0),
    };
    Ok((data, held))
}

/// sklearn's "balanced" weights: N / (classes x count of each class); 0 for an absent class.
pub fn balanced_weights(ys: &[u32], classes: usize) -> Vec<f64> {
    let mut count = vec![0usize; classes];
    for &y in ys {
        count[y as usize] += 1;
    }
    count.iter().map(|&c| if c == 0 { 0.0 } else { ys.len() as f64 / (classes * c) as f64 }).collect()
}
