//! Rows of labelled sequences read from a file, before any encoding: what `classify`, `regress`
//! and `label` train on and `recur predict --input` runs on. CSV/TSV (a label and a sequence
//! column) and JSON Lines (`{"x": ..., "y": ...}`) are read here; `.npy` arrays in
//! [`crate::data::npy_rows`]. Every row keeps where it came from, so an error found later
//! (while encoding, or a label unseen in training) names the file and the line.
//!
//! Deliberately not here: deciding whether a text sequence is symbols or numbers, and turning
//! it into model input; that needs the training data or the model ([`crate::data::encoding`]).

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// A sequence as the file gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Seq {
    /// A CSV field or a JSON string: symbols (`ARTM`) or numbers (`0.1 0.5`, `0.1 2;0.5 3`),
    /// decided by the training data or the model.
    Text(String),
    /// Numbers known as such (a JSON list, an array): `[steps][features]`.
    Numbers(Vec<Vec<f64>>),
}

/// One row read from a file.
#[derive(Clone, Debug)]
pub struct Row {
    /// The line (text files, 1-based, the header is line 1) or the index along the first axis
    /// (`.npy`, 0-based).
    pub line: usize,
    /// The label column's text (absent in a file to predict on).
    pub label: Option<String>,
    /// The sequence column.
    pub seq: Seq,
}

/// What kind of file rows came from; decides how a row's place is named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// CSV, or TSV for a `.tsv` file.
    Csv,
    /// JSON Lines.
    Jsonl,
    /// NumPy `.npy` arrays.
    Npy,
}

/// Where rows came from: the file and the sequence column, for error messages.
#[derive(Clone, Debug)]
pub struct Source {
    /// The file, for errors.
    pub path: PathBuf,
    /// Its format, which decides how a row is named in errors (line or index).
    pub kind: Kind,
    /// The sequence column's name (`x` for JSON Lines).
    pub column: String,
    /// Its 1-based position in a CSV/TSV header (0 otherwise).
    pub col: usize,
    /// The file the labels came from, when not this one (`.npy` targets).
    pub label_path: Option<PathBuf>,
}

impl Source {
    /// Names a row: `line 7, column 2` (CSV), `line 7` (JSON Lines), `index 6` (`.npy`).
    pub fn at(&self, line: usize) -> String {
        match self.kind {
            Kind::Csv => format!("line {line}, column {}", self.col),
            Kind::Jsonl => format!("line {line}"),
            Kind::Npy => format!("index {line}"),
        }
    }
    /// Names a step of a row: `line 7, column sequence, step 3`.
    pub fn at_step(&self, line: usize, step: usize) -> String {
        match self.kind {
            Kind::Npy => format!("index {line}, step {step}"),
            _ => format!("line {line}, column {}, step {step}", self.column),
        }
    }
    /// An error about the row on `line`.
    pub fn err(&self, line: usize, what: impl std::fmt::Display) -> Error {
        Error::format(&self.path, format!("{}: {what}", self.at(line)))
    }
    /// An error about a row's label, which has no column position worth naming.
    pub fn label_err(&self, line: usize, what: impl std::fmt::Display) -> Error {
        let at = if self.kind == Kind::Npy { format!("index {line}") } else { format!("line {line}") };
        Error::format(self.label_path.as_ref().unwrap_or(&self.path), format!("{at}: {what}"))
    }
}

/// Rows and where they came from.
#[derive(Clone, Debug)]
pub struct Table {
    /// Where the rows come from.
    pub src: Source,
    /// The rows, in file order.
    pub rows: Vec<Row>,
}

impl Table {
    /// The same source with other rows (a split of this table).
    pub fn with_rows(&self, rows: Vec<Row>) -> Table {
        Table { src: self.src.clone(), rows }
    }

    /// Splits off the held-out rows (after a seeded shuffle, so the same seed gives the same
    /// split): the fractions of this table that `held` does not give as files of their own.
    /// Returns `(train, valid, test)`.
    pub fn split(mut self, held: Held, rng: &mut ChaCha8Rng) -> Result<(Table, Table, Table)> {
        self.rows.shuffle(rng);
        let n = self.rows.len();
        let vf = if held.valid.is_some() { 0.0 } else { held.valid_fraction };
        let tf = if held.test.is_some() { 0.0 } else { held.test_fraction };
        let (n_valid, n_test) = ((n as f64 * vf).round() as usize, (n as f64 * tf).round() as usize);
        if !(0.0..1.0).contains(&vf) || !(0.0..1.0).contains(&tf) || n_valid + n_test >= n {
            return Err(Error::BadConfig {
                field: "valid-fraction/test-fraction".into(),
                value: format!("{vf}/{tf}"),
                reason: format!("must leave training rows of the {n}"),
            });
        }
        let held_rows = self.rows.split_off(n - n_valid - n_test);
        let (v, t) = held_rows.split_at(n_valid);
        let valid = held.valid.unwrap_or_else(|| self.with_rows(v.to_vec()));
        let test = held.test.unwrap_or_else(|| self.with_rows(t.to_vec()));
        Ok((self, valid, test))
    }
}

/// Where held-out rows come from: files of their own, or else fractions of the training file.
#[derive(Clone, Debug, Default)]
pub struct Held {
    /// Held-out rows from a file of their own (`--valid-data`).
    pub valid: Option<Table>,
    /// Test rows from a file of their own (`--test-data`).
    pub test: Option<Table>,
    /// Else, the fraction of the rows held out for validation.
    pub valid_fraction: f64,
    /// Else, the fraction of the rows held out as a test set.
    pub test_fraction: f64,
}

/// Reads the label (optional unless `need_label`) and sequence columns of a CSV (`,`) or TSV
/// (`.tsv`: tab) file, or the `y` and `x` of a JSON Lines file (`.jsonl`).
pub fn read_table(path: &Path, label_column: &str, sequence_column: &str, need_label: bool) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_table(&bytes, path, label_column, sequence_column, need_label)
}

/// [`read_table`] on the bytes of a file already in memory; `path` names the file in errors
/// and its extension picks the format (`.jsonl`, `.tsv`, else CSV).
pub fn parse_table(
    bytes: &[u8],
    path: &Path,
    label_column: &str,
    sequence_column: &str,
    need_label: bool,
) -> Result<Table> {
    if path.extension().is_some_and(|e| e == "jsonl") {
        let src =
            Source { path: path.into(), kind: Kind::Jsonl, column: "x".into(), col: 0, label_path: None };
        return Ok(Table { rows: parse_jsonl(bytes, path, need_label)?, src });
    }
    let tsv = path.extension().is_some_and(|e| e == "tsv");
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(if tsv { b'\t' } else { b',' })
        .flexible(false)
        .from_reader(bytes);
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
    let src = Source {
        path: path.into(),
        kind: Kind::Csv,
        column: sequence_column.into(),
        col: seq_i + 1,
        label_path: None,
    };
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Error::format(path, format!("line {line}: {e}"))
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let sequence = rec.get(seq_i).unwrap_or("").trim().to_string();
        if sequence.is_empty() {
            return Err(src.err(line, "the sequence is empty"));
        }
        let label = label_i.map(|i| rec.get(i).unwrap_or("").trim().to_string());
        rows.push(Row { line, label, seq: Seq::Text(sequence) });
    }
    if rows.is_empty() {
        return Err(Error::format(path, "no rows after the header"));
    }
    Ok(Table { src, rows })
}

/// Reads JSON Lines: one object per line, `{"x": "ARTM"}` (symbols), `{"x": [0.1, 0.5]}`
/// (numbers, one per step) or `{"x": [[0.1, 2], [0.5, 3]]}` (steps x features), and the label
/// `"y"`: a class name or a number, or for per-step labels a list (joined by spaces). `y` is
/// optional when predicting.
fn parse_jsonl(bytes: &[u8], path: &Path, need_label: bool) -> Result<Vec<Row>> {
    use serde_json::Value;
    let text = std::str::from_utf8(bytes).map_err(|e| Error::not_utf8(path, bytes, &e))?;
    // A byte-order mark, as some Windows editors write, is not part of the first object.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line = i + 1;
        let bad = |why: String| Error::format(path, format!("line {line}: {why}"));
        let v: Value = serde_json::from_str(l).map_err(|e| bad(format!("not JSON: {e}")))?;
        let num =
            |x: &Value, at: String| x.as_f64().ok_or_else(|| bad(format!("{at} = {x} is not a number")));
        let seq = match v.get("x") {
            Some(Value::String(s)) if !s.is_empty() => Seq::Text(s.clone()),
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut steps = Vec::with_capacity(a.len());
                for (k, step) in a.iter().enumerate() {
                    match step {
                        Value::Array(f) => {
                            let f: Vec<f64> = f
                                .iter()
                                .enumerate()
                                .map(|(j, x)| num(x, format!("x[{k}][{j}]")))
                                .collect::<Result<_>>()?;
                            steps.push(f);
                        }
                        x => steps.push(vec![num(x, format!("x[{k}]"))?]),
                    }
                }
                Seq::Numbers(steps)
            }
            Some(Value::String(_) | Value::Array(_)) => return Err(bad("the sequence is empty".into())),
            Some(other) => {
                return Err(bad(format!(
                    "\"x\" is {other}; expected a string of symbols or a list of numbers"
                )));
            }
            None => return Err(bad("no \"x\" (the sequence)".into())),
        };
        let scalar = |x: &Value| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let label = match v.get("y") {
            Some(Value::Array(a)) => {
                let each: Option<Vec<String>> = a.iter().map(scalar).collect();
                Some(each.ok_or_else(|| bad("\"y\" is a list with a non-label in it".into()))?.join(" "))
            }
            Some(y) => Some(scalar(y).ok_or_else(|| {
                bad(format!("\"y\" is {y}; expected a class name, a number or a list of labels"))
            })?),
            None if need_label => return Err(bad("no \"y\" (the label)".into())),
            None => None,
        };
        rows.push(Row { line, label, seq });
    }
    if rows.is_empty() {
        return Err(Error::format(path, "no rows"));
    }
    Ok(rows)
}
