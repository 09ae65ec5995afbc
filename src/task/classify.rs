//! Your own labelled sequences (`recur train classify|regress`): one sequence per row of a
//! CSV/TSV, JSON Lines or `.npy` file ([`crate::data::rows`], [`crate::data::npy_rows`]), with
//! a class or a number as its label. A sequence is symbols (`ARTMCNLIPK`, through an embedding)
//! or numbers, one or several features per step, normalized per feature with the training
//! rows' statistics ([`crate::data::encoding`]). Sequences may have any length: batches are
//! padded and masked, so padding never changes a result.
//!
//! Held-out rows come from the training file (`--valid-fraction`, `--test-fraction`) or from
//! files of their own (`--valid-data`, `--test-data`), encoded with the training file's spec.

use std::io::Write;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::encoding::{Encoder, TOO_LARGE, de_normalize, mean_deviation, sort_classes};
use crate::data::npy_rows::TargetKind;
use crate::data::rows::{Held, Row, Table};
use crate::error::{Error, Result};
use crate::io::model_file::ModelFile;
use crate::model::{HeadKind, LossKind, Model, Session};
use crate::task::rows::{RowTask, balanced_weights, read_data};
use crate::task::{Info, PredictOptions, Preset, PresetName, Setup, TaskKind, TaskOptions, fit, metric, ran};
use crate::train::{Batch, Metric, Observer, Shuffled, Task};

/// What the model file records: how to read and encode a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifySpec {
    /// `classify` or `regress`.
    pub name: String,
    /// The column (or JSON key) of the label.
    pub label_column: String,
    /// The column (or JSON key) of the sequence.
    pub sequence_column: String,
    /// Symbols (id = index), when the sequences are symbol strings.
    pub alphabet: Option<Vec<String>>,
    /// Per feature (mean, deviation) of the training values, when the sequences are numbers
    /// (files from before several features per step hold one pair; they load as one feature).
    #[serde(default, deserialize_with = "de_normalize")]
    pub normalize: Option<Vec<(f64, f64)>>,
    /// Class names (id = index); empty for regression.
    pub classes: Vec<String>,
    /// Regression: (mean, deviation) of the training targets, which the model predicts
    /// normalized.
    #[serde(default)]
    pub target: Option<(f64, f64)>,
}

impl ClassifySpec {
    /// The recorded encoding.
    pub fn encoder(&self) -> Result<Encoder> {
        match (&self.alphabet, &self.normalize) {
            (Some(a), _) => Ok(Encoder::Symbols(a.clone())),
            (None, Some(n)) if !n.is_empty() => Ok(Encoder::Numbers(n.clone())),
            _ => Err(Error::Input("the model records no encoding (alphabet or normalize)".into())),
        }
    }

    /// A row's target: its class id, or its value normalized (regression).
    pub fn target_of(&self, t: &Table, r: &Row) -> Result<f32> {
        let label = r.label.clone().unwrap_or_default();
        match self.target {
            Some((mean, sd)) => match label.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(((v - mean) / sd) as f32),
                _ => Err(t.src.label_err(r.line, format!("target `{label}` is not a number"))),
            },
            None if label.is_empty() => {
                Err(t.src.label_err(r.line, "the label is empty; every row needs its class"))
            }
            None => self.classes.iter().position(|c| *c == label).map(|i| i as f32).ok_or_else(|| {
                let known = self.classes.join(", ");
                t.src.label_err(r.line, format!("label `{label}` was not seen in training (known: {known})"))
            }),
        }
    }
}

/// Encodes every row of `t` with its target.
pub fn encode_table(spec: &ClassifySpec, enc: &Encoder, t: &Table) -> Result<Vec<Item>> {
    t.rows.iter().map(|r| Ok((enc.encode(&t.src, r)?, spec.target_of(t, r)?))).collect()
}

/// An encoded sequence and its target: a class id, or a normalized value for regression.
pub type Item = (Vec<f32>, f32);

/// The task: encoded training and validation sequences with their targets.
pub struct Classify {
    /// What the model file records.
    pub spec: ClassifySpec,
    /// Training sequences, encoded, with their targets.
    pub train: Vec<Item>,
    /// Held-out sequences, scored at every evaluation.
    pub valid: Vec<Item>,
    /// Rows scored once, at the end (`--test-fraction`, `--test-data`).
    pub test: Vec<Item>,
    /// Input floats per step (1 for symbol ids, else the features).
    pub width: usize,
    order: Shuffled,
}

impl Classify {
    /// Splits `data` into training, validation (used every evaluation and for early stopping)
    /// and test (scored once at the end) rows, unless `held` gives them as files; fits the
    /// classes or target normalization and the encoding on the training rows.
    pub fn load(
        data: Table,
        held: Held,
        columns: (&str, &str),
        regress: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let (train_t, valid_t, test_t) = data.split(held, rng)?;
        let path = &train_t.src.path;
        let mut classes: Vec<String> = Vec::new();
        let mut target = None;
        if regress {
            let mut ys = Vec::with_capacity(train_t.rows.len());
            for r in &train_t.rows {
                let l = r.label.clone().unwrap_or_default();
                match l.parse::<f64>() {
                    Ok(v) if v.is_finite() => ys.push(v),
                    _ => return Err(train_t.src.label_err(r.line, format!("target `{l}` is not a number"))),
                }
            }
            let stats = mean_deviation(ys.iter().copied())
                .ok_or_else(|| Error::format(path, format!("the targets: {TOO_LARGE}")))?;
            target = Some(stats);
        } else {
            for r in &train_t.rows {
                let l = r.label.clone().unwrap_or_default();
                if l.is_empty() {
                    return Err(train_t
                        .src
                        .label_err(r.line, "the label is empty; every row needs its class"));
                }
                if !classes.contains(&l) {
                    classes.push(l);
                }
            }
            sort_classes(&mut classes);
            if classes.len() < 2 {
                return Err(Error::format(
                    path,
                    format!(
                        "the training rows have {} label(s); classification needs 2 or more",
                        classes.len()
                    ),
                ));
            }
        }
        let encoder = Encoder::fit(&train_t)?;
        let (alphabet, normalize) = match &encoder {
            Encoder::Symbols(a) => (Some(a.clone()), None),
            Encoder::Numbers(n) => (None, Some(n.clone())),
        };
        let spec = ClassifySpec {
            name: if regress { "regress" } else { "classify" }.into(),
            label_column: columns.0.into(),
            sequence_column: columns.1.into(),
            alphabet,
            normalize,
            classes,
            target,
        };
        let train = encode_table(&spec, &encoder, &train_t)?;
        let valid = encode_table(&spec, &encoder, &valid_t)?;
        let test = encode_table(&spec, &encoder, &test_t)?;
        let order = Shuffled::new((0..train.len()).collect());
        Ok(Classify { spec, width: encoder.width(), train, valid, test, order })
    }

    /// The alphabet's size, when the sequences are symbols.
    pub fn symbols(&self) -> Option<usize> {
        self.spec.alphabet.as_ref().map(|a| a.len())
    }

    /// Pads `items` (each `[steps * width]`) into a batch `[B, T, width]` (class targets, or
    /// real ones for regression).
    pub fn pad(items: &[&Item], regress: bool, width: usize, out: &mut Batch) {
        let width = width.max(1);
        let steps = items.iter().map(|(x, _)| x.len() / width).max().unwrap_or(1);
        out.input.clear();
        out.classes.clear();
        out.dense.clear();
        out.lengths.clear();
        for (x, y) in items {
            out.input.extend_from_slice(x);
            out.input.extend(std::iter::repeat_n(0.0, steps * width - x.len()));
            if regress {
                out.dense.push(*y);
            } else {
                out.classes.push(*y as u32);
            }
            out.lengths.push(x.len() / width);
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
            Self::pad(&items, regress, self.width, &mut batch);
            let s = sess.evaluate(model, batch.seqs(), None, batch.targets())?;
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
        Self::pad(&items, self.spec.target.is_some(), self.width, out);
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
        crate::train::spec_json(&self.spec)
    }
}

const FLAGS: &[&str] = &[
    "--data",
    "--label-column",
    "--sequence-column",
    "--valid-fraction",
    "--test-fraction",
    "--embedding",
    "--class-weights",
    "--targets",
    "--lengths",
    "--valid-data",
    "--valid-targets",
    "--valid-lengths",
    "--test-data",
    "--test-targets",
    "--test-lengths",
];

const CLASSIFY_INFO: Info = Info {
    name: "classify",
    aliases: &[],
    about: "Classify your own sequences from a CSV/TSV, JSON Lines or .npy file (--data), any lengths.",
    flags: FLAGS,
};

const REGRESS_INFO: Info = Info {
    name: "regress",
    aliases: &[],
    about: "Predict a number from each of your own sequences (--data, --label-column), MSE.",
    flags: FLAGS,
};

/// The registry's entry.
pub static CLASSIFY: ClassifyTask = ClassifyTask { regress: false };

/// `recur train classify` (and, with `regress`, `recur train regress`).
pub struct ClassifyTask {
    /// A number per sequence (MSE) instead of a class.
    pub regress: bool,
}

impl TaskKind for ClassifyTask {
    fn info(&self) -> &'static Info {
        if self.regress { &REGRESS_INFO } else { &CLASSIFY_INFO }
    }
    fn check(&self, file: &ModelFile) -> std::result::Result<(), String> {
        let spec: ClassifySpec = crate::task::read_spec(file)?;
        spec.encoder().map_err(|e| e.to_string())?;
        match spec.target {
            Some(_) => crate::task::outputs_fit(file, 1, "target"),
            None => crate::task::outputs_fit(file, spec.classes.len(), "classes"),
        }
    }

    /// An LSTM of 64 trained with Adam 1e-2 in batches of 32 for 30 epochs; symbols as
    /// learned vectors of 16 (numbers are fed as they are).
    fn preset(&self, _p: PresetName, _d: &TaskOptions) -> Preset {
        Preset { embedding: 16, ..Preset::adam(64, 32, 30, 1e-2) }
    }

    fn train(&self, mut s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
        let regress = self.regress;
        let kind = if regress { TargetKind::Values } else { TargetKind::Classes };
        let (data, held) = read_data(&s.data, kind, "a label and a sequence column, or X.npy")?;
        let path = data.src.path.clone();
        let mut task = Classify::load(data, held, s.data.columns(), regress, &mut s.data_rng())?;
        if s.data.class_weights.is_some() && !regress {
            let ys: Vec<u32> = task.train.iter().map(|(_, y)| *y as u32).collect();
            s.train.class_weights = Some(balanced_weights(&ys, task.spec.classes.len()));
        }
        let (outputs, loss) =
            if regress { (1, LossKind::Mse) } else { (task.spec.classes.len(), LossKind::CrossEntropy) };
        let mc = match task.symbols() {
            Some(v) => s.symbol_model_config(v, outputs, HeadKind::Last, loss),
            None => s.model_config(task.width, outputs, HeadKind::Last, loss),
        };
        let mut model = s.new_model(mc)?;
        let what = match task.spec.target {
            Some((mean, sd)) => format!("targets mean {mean:.4}, deviation {sd:.4}"),
            None => format!("{} classes", task.spec.classes.len()),
        };
        let data = format!(
            "{}: {what}, {} training / {} held-out sequences",
            path.display(),
            task.train.len(),
            task.valid.len()
        );
        let report = fit(self.name(), &mut model, &mut task, &s.train, &data, obs)?;
        let m = |k: &str| metric(&report, k);
        let result = match task.spec.target {
            Some((_, sd)) => {
                format!("held-out RMSE {:.4} (the targets' deviation is {sd:.4})", m("valid_rmse"))
            }
            None => format!("held-out accuracy {:.2}%", m("valid_accuracy") * 100.0),
        };
        let test = match (task.test.len(), task.spec.target) {
            (0, _) => String::new(),
            (n, Some(_)) => format!("; test RMSE {:.4} on {n}", m("test_rmse")),
            (n, None) => format!("; test accuracy {:.2}% on {n}", m("test_accuracy") * 100.0),
        };
        Ok(format!("done: {result} on {} sequences{test} after {}", task.valid.len(), ran(&report, &s.train)))
    }

    fn predict_file(
        &self,
        file: &ModelFile,
        o: &PredictOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        let spec: ClassifySpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        crate::task::rows::predict_file(file, RowTask::Classify(spec), o, sess, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_written_before_several_features_still_load() {
        // A numeric classify spec as recur wrote it with one (mean, deviation) for all values.
        let old = r#"{"name": "classify", "label_column": "label", "sequence_column": "sequence",
            "alphabet": null, "normalize": [0.25, 2.0], "classes": ["down", "up"]}"#;
        let spec: ClassifySpec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.encoder().unwrap(), Encoder::Numbers(vec![(0.25, 2.0)]));
        assert_eq!(spec.target, None);
        // A symbol labelling spec with its alphabet and tags as characters.
        let old = r#"{"name": "label", "label_column": "label", "sequence_column": "sequence",
            "alphabet": ["A", "B"], "tags": ["H", "o"]}"#;
        let spec: crate::task::label::TaggingSpec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.encoder(), Encoder::Symbols(vec!["A".into(), "B".into()]));
        assert_eq!(spec.tags, ["H", "o"]);
    }
}
