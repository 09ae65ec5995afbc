//! Your own labelled sequences from a CSV or TSV file: one sequence per row, a label column
//! (a class, or a number for regression) and a sequence column. A sequence is either symbols (`ARTMCNLIPK`: each character a symbol,
//! looked up in an embedding) or numbers separated by spaces or `;` (`0.1 0.5 -2`: one feature
//! per step, normalized with the training split's mean and deviation). Sequences may have any
//! length: batches are padded and masked, so padding never changes a result.
//!
//! Deliberately not here yet (issue #4): JSON Lines and .npy inputs, several features per
//! step, regression/labelling/forecasting tasks.

use std::collections::HashMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Model, Session};
use crate::train::{Batch, Metric, Shuffled, Task};

/// What the model file records: how to read and encode a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifySpec {
    pub name: String,
    pub label_column: String,
    pub sequence_column: String,
    /// Symbols (id = index), when the sequences are symbol strings.
    pub alphabet: Option<Vec<String>>,
    /// (mean, deviation) of the training values, when the sequences are numbers.
    pub normalize: Option<(f64, f64)>,
    /// Class names (id = index); empty for regression.
    pub classes: Vec<String>,
    /// Regression: (mean, deviation) of the training targets, which the model predicts
    /// normalized.
    #[serde(default)]
    pub target: Option<(f64, f64)>,
}

/// One row read from the file.
#[derive(Clone, Debug)]
pub struct Row {
    pub line: usize,
    pub label: Option<String>,
    pub sequence: String,
}

/// Reads JSON Lines: one object per line, `{"x": "ARTM"}` (symbols) or `{"x": [0.1, 0.5]}`
/// (numbers, one per step), and the label `"y"` (a class name or a number), optional when
/// predicting. Rows come out as the CSV reader's, so everything downstream is shared.
fn read_jsonl(path: &Path, need_label: bool) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line = i + 1;
        let bad = |why: String| Error::format(path, format!("line {line}: {why}"));
        let v: serde_json::Value = serde_json::from_str(l).map_err(|e| bad(format!("not JSON: {e}")))?;
        let sequence = match v.get("x") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(k, x)| {
                    x.as_f64()
                        .map(|f| f.to_string())
                        .ok_or_else(|| bad(format!("x[{k}] = {x} is not a number")))
                })
                .collect::<Result<Vec<_>>>()?
                .join(" "),
            Some(other) => {
                return Err(bad(format!(
                    "\"x\" is {other}; expected a string of symbols or a list of numbers"
                )));
            }
            None => return Err(bad("no \"x\" (the sequence)".into())),
        };
        if sequence.is_empty() {
            return Err(bad("the sequence is empty".into()));
        }
        let label = match v.get("y") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(bad(format!("\"y\" is {other}; expected a class name or a number"))),
            None if need_label => return Err(bad("no \"y\" (the label)".into())),
            None => None,
        };
        rows.push(Row { line, label, sequence });
    }
    if rows.is_empty() {
        return Err(Error::format(path, "no rows"));
    }
    Ok(rows)
}

/// Reads the label (optional) and sequence columns of a CSV (`,`) or TSV (`.tsv`: tab) file,
/// or the `y` and `x` of a JSON Lines file (`.jsonl`).
pub fn read_rows(
    path: &Path,
    label_column: &str,
    sequence_column: &str,
    need_label: bool,
) -> Result<Vec<Row>> {
    if path.extension().is_some_and(|e| e == "jsonl") {
        return read_jsonl(path, need_label);
    }
    let tsv = path.extension().is_some_and(|e| e == "tsv");
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(if tsv { b'\t' } else { b',' })
        .flexible(false)
        .from_path(path)
        .map_err(|e| Error::format(path, e.to_string()))?;
    let headers = rdr.headers().map_err(|e| Error::format(path, e.to_string()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let names: Vec<&str> = headers.iter().collect();
    let seq_i = col(sequence_column).ok_or_else(|| {
        Error::format(
            path,
            format!("no column `{sequence_column}` (the header has {names:?}); use --sequence-column"),
        )
    })?;
    let label_i = col(label_column);
    if need_label && label_i.is_none() {
        return Err(Error::format(
            path,
            format!("no column `{label_column}` (the header has {names:?}); use --label-column"),
        ));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Error::format(path, format!("line {line}: {e}"))
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let sequence = rec.get(seq_i).unwrap_or("").trim().to_string();
        if sequence.is_empty() {
            return Err(Error::format(
                path,
                format!("line {line}, column {}: the sequence is empty", seq_i + 1),
            ));
        }
        let label = label_i.map(|i| rec.get(i).unwrap_or("").trim().to_string());
        rows.push(Row { line, label, sequence });
    }
    if rows.is_empty() {
        return Err(Error::format(path, "no rows after the header"));
    }
    Ok(rows)
}

/// Whether a sequence field holds numbers (it has separators) rather than symbols.
fn is_numeric(s: &str) -> bool {
    s.contains(|c: char| c.is_whitespace() || c == ';')
}

impl ClassifySpec {
    /// Encodes a row's sequence: symbol ids or normalized numbers, one per step.
    pub fn encode(&self, row: &Row, path: &Path, col: usize) -> Result<Vec<f32>> {
        let at = |what: String| Error::format(path, format!("line {}, column {col}: {what}", row.line));
        match (&self.alphabet, self.normalize) {
            (Some(alpha), _) => {
                if is_numeric(&row.sequence) {
                    return Err(at("numbers, but this model reads symbol strings".into()));
                }
                let index: HashMap<&str, usize> =
                    alpha.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
                row.sequence
                    .chars()
                    .map(|c| {
                        index.get(c.to_string().as_str()).map(|&i| i as f32).ok_or_else(|| {
                            at(format!(
                                "symbol `{c}` was not in the training data (known: {})",
                                alpha.concat()
                            ))
                        })
                    })
                    .collect()
            }
            (None, Some((mean, sd))) => row
                .sequence
                .split(|c: char| c.is_whitespace() || c == ';')
                .filter(|t| !t.is_empty())
                .enumerate()
                .map(|(k, t)| match t.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(((v - mean) / sd) as f32),
                    _ => Err(at(format!("value {} `{t}` is not a number", k + 1))),
                })
                .collect(),
            (None, None) => Err(at("the model records no encoding".into())),
        }
    }
}

/// An encoded sequence and its target: a class id, or a normalized value for regression.
pub type Item = (Vec<f32>, f32);

/// The task: encoded training and validation sequences with their targets.
pub struct Classify {
    pub spec: ClassifySpec,
    pub train: Vec<Item>,
    pub valid: Vec<Item>,
    /// Rows scored once, at the end (`--test-fraction`).
    pub test: Vec<Item>,
    order: Shuffled,
}

/// How many rows go to validation and to test.
#[derive(Clone, Copy, Debug)]
pub struct Split {
    pub valid_fraction: f64,
    pub test_fraction: f64,
}

impl Classify {
    /// Reads `path`, splits the rows (after a seeded shuffle) into training, validation (used
    /// every evaluation and for early stopping) and test (scored once at the end), and fits the
    /// encoding on the training rows.
    pub fn load(
        path: &Path,
        label_column: &str,
        sequence_column: &str,
        split: Split,
        regress: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let mut rows = read_rows(path, label_column, sequence_column, true)?;
        rows.shuffle(rng);
        let n = rows.len();
        let n_valid = (n as f64 * split.valid_fraction).round() as usize;
        let n_test = (n as f64 * split.test_fraction).round() as usize;
        if !(0.0..1.0).contains(&split.valid_fraction)
            || !(0.0..1.0).contains(&split.test_fraction)
            || n_valid + n_test >= n
        {
            return Err(Error::BadConfig {
                field: "valid-fraction/test-fraction".into(),
                value: format!("{}/{}", split.valid_fraction, split.test_fraction),
                reason: format!("must leave training rows of the {n}"),
            });
        }
        let (train_rows, held) = rows.split_at(n - n_valid - n_test);
        let (valid_rows, test_rows) = held.split_at(n_valid);
        let numeric = is_numeric(&train_rows[0].sequence);
        let seq_col = 1 + csv::Reader::from_path(path)
            .ok()
            .and_then(|mut r| {
                r.headers().ok().and_then(|h| h.iter().position(|x| x.trim() == sequence_column))
            })
            .unwrap_or(0);
        let mut classes: Vec<String> = Vec::new();
        for r in train_rows {
            let l = r.label.clone().unwrap_or_default();
            if !classes.contains(&l) {
                classes.push(l);
            }
        }
        classes.sort();
        let mut target = None;
        if regress {
            let mut ys = Vec::with_capacity(train_rows.len());
            for r in train_rows {
                let l = r.label.clone().unwrap_or_default();
                match l.parse::<f64>() {
                    Ok(v) if v.is_finite() => ys.push(v),
                    _ => {
                        return Err(Error::format(
                            path,
                            format!("line {}: target `{l}` is not a number", r.line),
                        ));
                    }
                }
            }
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            let sd =
                (ys.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / ys.len() as f64).sqrt().max(1e-12);
            target = Some((mean, sd));
            classes.clear();
        } else if classes.len() < 2 {
            return Err(Error::format(
                path,
                format!("the training rows have {} label(s); classification needs 2 or more", classes.len()),
            ));
        }
        let (alphabet, normalize) = if numeric {
            let vals: Vec<f64> = train_rows
                .iter()
                .flat_map(|r| {
                    r.sequence
                        .split(|c: char| c.is_whitespace() || c == ';')
                        .filter_map(|t| t.parse::<f64>().ok())
                })
                .collect();
            let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
            let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / vals.len().max(1) as f64;
            (None, Some((mean, var.sqrt().max(1e-12))))
        } else {
            let mut a: Vec<String> =
                train_rows.iter().flat_map(|r| r.sequence.chars().map(String::from)).collect();
            a.sort();
            a.dedup();
            (Some(a), None)
        };
        let spec = ClassifySpec {
            name: if regress { "regress" } else { "classify" }.into(),
            label_column: label_column.into(),
            sequence_column: sequence_column.into(),
            alphabet,
            normalize,
            classes,
            target,
        };
        let encode = |rows: &[Row]| -> Result<Vec<Item>> {
            rows.iter()
                .map(|r| {
                    let label = r.label.clone().unwrap_or_default();
                    let y = match spec.target {
                        Some((mean, sd)) => match label.parse::<f64>() {
                            Ok(v) if v.is_finite() => ((v - mean) / sd) as f32,
                            _ => {
                                let why = format!("line {}: target `{label}` is not a number", r.line);
                                return Err(Error::format(path, why));
                            }
                        },
                        None => {
                            let id = spec.classes.iter().position(|c| *c == label).ok_or_else(|| {
                                let why = format!(
                                    "line {}: label `{label}` occurs only in the held-out rows",
                                    r.line
                                );
                                Error::format(path, why)
                            })?;
                            id as f32
                        }
                    };
                    Ok((spec.encode(r, path, seq_col)?, y))
                })
                .collect()
        };
        let train = encode(train_rows)?;
        let valid = encode(valid_rows)?;
        let test = encode(test_rows)?;
        let order = Shuffled::new((0..train.len()).collect());
        Ok(Classify { spec, train, valid, test, order })
    }

    /// Features per step of the encoded sequences.
    pub fn symbols(&self) -> Option<usize> {
        self.spec.alphabet.as_ref().map(|a| a.len())
    }

    /// Pads `items` into a batch (class targets, or real ones for regression).
    pub fn pad(items: &[&Item], regress: bool, out: &mut Batch) {
        let steps = items.iter().map(|(x, _)| x.len()).max().unwrap_or(1);
        out.input.clear();
        out.classes.clear();
        out.dense.clear();
        out.lengths.clear();
        for (x, y) in items {
            out.input.extend_from_slice(x);
            out.input.extend(std::iter::repeat_n(0.0, steps - x.len()));
            if regress {
                out.dense.push(*y);
            } else {
                out.classes.push(*y as u32);
            }
            out.lengths.push(x.len());
        }
        out.batch = items.len();
        out.steps = steps;
    }

    /// Accuracy (classes) or root-mean-square error in target units (regression) over `set`,
    /// in padded batches.
    pub fn score(&self, model: &Model<f32>, sess: &mut Session<f32>, set: &[Item]) -> Result<f64> {
        let regress = self.spec.target.is_some();
        let (mut right, mut sq, mut batch) = (0usize, 0.0f64, Batch::default());
        for chunk in set.chunks(256) {
            let items: Vec<&Item> = chunk.iter().collect();
            Self::pad(&items, regress, &mut batch);
            let s = sess.evaluate_padded(model, batch.seqs(), None, batch.targets())?;
            right += s.correct;
            sq += s.loss;
        }
        let n = set.len().max(1) as f64;
        Ok(match self.spec.target {
            Some((_, sd)) => (sq / n).sqrt() * sd,
            None => right as f64 / n,
        })
    }
}

impl Task for Classify {
    fn steps_per_epoch(&self, batch_size: usize) -> usize {
        self.train.len().div_ceil(batch_size.max(1))
    }

    fn train_batch(
        &mut self,
        _epoch: usize,
        step: usize,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Batch,
    ) {
        let items: Vec<&Item> =
            self.order.batch(step, batch_size, rng).iter().map(|&i| &self.train[i]).collect();
        Self::pad(&items, self.spec.target.is_some(), out);
    }

    fn evaluate(&self, model: &Model<f32>, sess: &mut Session<f32>, final_eval: bool) -> Result<Vec<Metric>> {
        let set = if self.valid.is_empty() { &self.train } else { &self.valid };
        let v = self.score(model, sess, set)?;
        let mut m = match self.spec.target {
            Some(_) => vec![("valid_rmse".into(), v)],
            None => vec![("valid_error".into(), 1.0 - v), ("valid_accuracy".into(), v)],
        };
        if final_eval && !self.test.is_empty() {
            let t = self.score(model, sess, &self.test)?;
            m.push((if self.spec.target.is_some() { "test_rmse" } else { "test_accuracy" }.into(), t));
        }
        Ok(m)
    }

    fn task_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.spec).expect("plain struct")
    }
}
