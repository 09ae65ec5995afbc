//! Per-step labels from a CSV file (`recur train label`): a sequence column of symbols and a
//! label column holding one label character per symbol (`ARTM`, `HHEE`), for sequence
//! labelling such as tagging residues. Variable lengths, padded and masked; symbols through an
//! embedding; a softmax over the label alphabet at every step.

use std::path::Path;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::classify::{Row, read_rows};
use crate::error::{Error, Result};
use crate::model::{Model, Session};
use crate::train::{Batch, Metric, Shuffled, Task};

/// What the model file records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaggingSpec {
    pub name: String,
    pub label_column: String,
    pub sequence_column: String,
    /// Input symbols (id = index).
    pub alphabet: Vec<char>,
    /// Label symbols (class = index).
    pub tags: Vec<char>,
}

impl TaggingSpec {
    /// Symbol ids of a row's sequence.
    pub fn encode(&self, r: &Row, path: &Path) -> Result<Vec<f32>> {
        r.sequence
            .chars()
            .map(|c| {
                self.alphabet.iter().position(|&a| a == c).map(|i| i as f32).ok_or_else(|| {
                    Error::format(path, format!("line {}: symbol `{c}` was not in the training data", r.line))
                })
            })
            .collect()
    }
}

/// Encoded (symbols, tags) pairs.
type Tagged = (Vec<f32>, Vec<u32>);

pub struct Tagging {
    pub spec: TaggingSpec,
    pub train: Vec<Tagged>,
    pub valid: Vec<Tagged>,
    order: Shuffled,
}

impl Tagging {
    pub fn load(
        path: &Path,
        label_column: &str,
        sequence_column: &str,
        valid_fraction: f64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let mut rows = read_rows(path, label_column, sequence_column, true)?;
        for r in &rows {
            let (n, m) = (r.sequence.chars().count(), r.label.as_deref().unwrap_or("").chars().count());
            if n != m {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}: {n} symbols but {m} labels; the label column needs one label per symbol",
                        r.line
                    ),
                ));
            }
        }
        rows.shuffle(rng);
        let n_valid = ((rows.len() as f64 * valid_fraction).round() as usize).min(rows.len() - 1);
        let (train_rows, valid_rows) = rows.split_at(rows.len() - n_valid);
        let mut alphabet: Vec<char> = train_rows.iter().flat_map(|r| r.sequence.chars()).collect();
        alphabet.sort_unstable();
        alphabet.dedup();
        let mut tags: Vec<char> =
            train_rows.iter().flat_map(|r| r.label.as_deref().unwrap_or("").chars()).collect();
        tags.sort_unstable();
        tags.dedup();
        if tags.len() < 2 {
            return Err(Error::format(path, "the training rows use fewer than 2 labels"));
        }
        let spec = TaggingSpec {
            name: "label".into(),
            label_column: label_column.into(),
            sequence_column: sequence_column.into(),
            alphabet,
            tags,
        };
        let enc = |rows: &[Row]| -> Result<Vec<Tagged>> {
            rows.iter()
                .map(|r| {
                    let y = r
                        .label
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .map(|c| {
                            spec.tags.iter().position(|&t| t == c).map(|i| i as u32).ok_or_else(|| {
                                Error::format(
                                    path,
                                    format!("line {}: label `{c}` occurs only in held-out rows", r.line),
                                )
                            })
                        })
                        .collect::<Result<Vec<u32>>>()?;
                    Ok((spec.encode(r, path)?, y))
                })
                .collect()
        };
        let (train, valid) = (enc(train_rows)?, enc(valid_rows)?);
        let order = Shuffled::new((0..train.len()).collect());
        Ok(Tagging { spec, train, valid, order })
    }

    /// Pads into a batch: targets `[B, T]`, padded steps masked by the lengths.
    pub fn pad(items: &[&Tagged], out: &mut Batch) {
        let steps = items.iter().map(|(x, _)| x.len()).max().unwrap_or(1);
        out.input.clear();
        out.classes.clear();
        out.dense.clear();
        out.lengths.clear();
        for (x, y) in items {
            out.input.extend_from_slice(x);
            out.input.extend(std::iter::repeat_n(0.0, steps - x.len()));
            out.classes.extend_from_slice(y);
            out.classes.extend(std::iter::repeat_n(0, steps - y.len()));
            out.lengths.push(x.len());
        }
        out.batch = items.len();
        out.steps = steps;
    }

    /// Per-step accuracy over real steps.
    pub fn accuracy(model: &Model<f32>, sess: &mut Session<f32>, set: &[Tagged]) -> Result<f64> {
        let (mut right, mut seen, mut b) = (0usize, 0usize, Batch::default());
        for chunk in set.chunks(256) {
            let items: Vec<&Tagged> = chunk.iter().collect();
            Self::pad(&items, &mut b);
            let s = sess.evaluate_padded(model, b.seqs(), None, b.targets())?;
            right += s.correct;
            seen += s.count;
        }
        Ok(right as f64 / seen.max(1) as f64)
    }
}

impl Task for Tagging {
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
        let items: Vec<&Tagged> =
            self.order.batch(step, batch_size, rng).iter().map(|&i| &self.train[i]).collect();
        Self::pad(&items, out);
    }

    fn evaluate(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        _final_eval: bool,
    ) -> Result<Vec<Metric>> {
        let set = if self.valid.is_empty() { &self.train } else { &self.valid };
        let acc = Self::accuracy(model, sess, set)?;
        Ok(vec![("valid_step_error".into(), 1.0 - acc), ("valid_step_accuracy".into(), acc)])
    }

    fn task_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.spec).expect("plain struct")
    }
}
