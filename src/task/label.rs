//! Per-step labels (`recur train label`): a sequence column of symbols or numbers (one or
//! several features per step, as for `classify`) and a label column with one label per step:
//! one character each (`ARTM`, `HHEE`) or separated by spaces (`B-PER I-PER O`; a list in JSON
//! Lines; an integer array `[N, T]` for `.npy`). For sequence labelling such as tagging
//! residues. Variable lengths, padded and masked; a softmax over the labels at every step.

use std::io::Write;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::encoding::{Encoder, de_normalize, sort_classes, step_labels};
use crate::data::npy_rows::TargetKind;
use crate::data::rows::{Held, Row, Table};
use crate::error::{Error, Result};
use crate::io::model_file::ModelFile;
use crate::model::{HeadKind, LossKind, Model, Session};
use crate::task::rows::{RowTask, balanced_weights, read_data};
use crate::task::{Info, PredictOptions, Preset, PresetName, Setup, TaskKind, TaskOptions, fit, metric, ran};
use crate::train::{Batch, Metric, Observer, Shuffled, Task};

/// What the model file records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaggingSpec {
    /// `label`.
    pub name: String,
    /// The column (or JSON key) of the labels.
    pub label_column: String,
    /// The column (or JSON key) of the sequence.
    pub sequence_column: String,
    /// Input symbols (id = index); empty when the sequences are numbers.
    pub alphabet: Vec<String>,
    /// Labels (class = index).
    pub tags: Vec<String>,
    /// Per feature (mean, deviation), when the sequences are numbers.
    #[serde(default, deserialize_with = "de_normalize")]
    pub normalize: Option<Vec<(f64, f64)>>,
}

impl TaggingSpec {
    /// The recorded encoding.
    pub fn encoder(&self) -> Encoder {
        match &self.normalize {
            Some(n) => Encoder::Numbers(n.clone()),
            None => Encoder::Symbols(self.alphabet.clone()),
        }
    }

    /// A row's label ids, one per step of its `steps`.
    pub fn tags_of(&self, t: &Table, r: &Row, steps: usize) -> Result<Vec<u32>> {
        let labels = step_labels(r.label.as_deref().unwrap_or(""));
        if labels.len() != steps {
            let what = if self.normalize.is_some() { "steps" } else { "symbols" };
            let why = format!(
                "{steps} {what} but {} labels; the label column needs one label per step",
                labels.len()
            );
            return Err(t.src.label_err(r.line, why));
        }
        labels
            .iter()
            .map(|l| {
                self.tags.iter().position(|t| t == l).map(|i| i as u32).ok_or_else(|| {
                    let known = self.tags.join(" ");
                    t.src.label_err(r.line, format!("label `{l}` was not seen in training (known: {known})"))
                })
            })
            .collect()
    }
}

/// Encoded (inputs `[steps * width]`, labels `[steps]`) pairs.
type Tagged = (Vec<f32>, Vec<u32>);

/// The task: encoded sequences with a label per step, split for training and validation.
pub struct Tagging {
    /// What the model file records.
    pub spec: TaggingSpec,
    /// Training sequences with their labels.
    pub train: Vec<Tagged>,
    /// Held-out sequences with their labels.
    pub valid: Vec<Tagged>,
    /// Input floats per step (1 for symbol ids, else the features).
    pub width: usize,
    order: Shuffled,
}

impl Tagging {
    /// Splits `data` into training and validation rows unless `held` gives a file for them
    /// (there is no test set here), and fits the labels and the encoding on the training rows.
    pub fn load(data: Table, held: Held, columns: (&str, &str), rng: &mut ChaCha8Rng) -> Result<Self> {
        let (train_t, valid_t, _) = data.split(Held { test: None, test_fraction: 0.0, ..held }, rng)?;
        let mut tags: Vec<String> =
            train_t.rows.iter().flat_map(|r| step_labels(r.label.as_deref().unwrap_or(""))).collect();
        tags.sort();
        tags.dedup();
        sort_classes(&mut tags);
        if tags.len() < 2 {
            return Err(Error::format(&train_t.src.path, "the training rows use fewer than 2 labels"));
        }
        let encoder = Encoder::fit(&train_t)?;
        let (alphabet, normalize) = match &encoder {
            Encoder::Symbols(a) => (a.clone(), None),
            Encoder::Numbers(n) => (Vec::new(), Some(n.clone())),
        };
        let spec = TaggingSpec {
            name: "label".into(),
            label_column: columns.0.into(),
            sequence_column: columns.1.into(),
            alphabet,
            tags,
            normalize,
        };
        let width = encoder.width();
        let enc = |t: &Table| -> Result<Vec<Tagged>> {
            t.rows
                .iter()
                .map(|r| {
                    let x = encoder.encode(&t.src, r)?;
                    let y = spec.tags_of(t, r, x.len() / width)?;
                    Ok((x, y))
                })
                .collect()
        };
        let (train, valid) = (enc(&train_t)?, enc(&valid_t)?);
        let order = Shuffled::new((0..train.len()).collect());
        Ok(Tagging { spec, train, valid, width, order })
    }

    /// Pads into a batch: targets `[B, T]`, padded steps masked by the lengths.
    pub fn pad(items: &[&Tagged], width: usize, out: &mut Batch) {
        let steps = items.iter().map(|(_, y)| y.len()).max().unwrap_or(1);
        out.input.clear();
        out.classes.clear();
        out.dense.clear();
        out.lengths.clear();
        for (x, y) in items {
            out.input.extend_from_slice(x);
            out.input.extend(std::iter::repeat_n(0.0, steps * width - x.len()));
            out.classes.extend_from_slice(y);
            out.classes.extend(std::iter::repeat_n(0, steps - y.len()));
            out.lengths.push(y.len());
        }
        out.batch = items.len();
        out.steps = steps;
    }

    /// Per-step accuracy over real steps.
    pub fn accuracy(&self, model: &Model<f32>, sess: &mut Session<f32>, set: &[Tagged]) -> Result<f64> {
        let (mut right, mut seen, mut b) = (0usize, 0usize, Batch::default());
        for chunk in set.chunks(256) {
            let items: Vec<&Tagged> = chunk.iter().collect();
            Self::pad(&items, self.width, &mut b);
            let s = sess.evaluate(model, b.seqs(), None, b.targets())?;
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
        Self::pad(&items, self.width, out);
    }

    fn evaluate(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        _final_eval: bool,
    ) -> Result<Vec<Metric>> {
        let set = if self.valid.is_empty() { &self.train } else { &self.valid };
        let acc = self.accuracy(model, sess, set)?;
        Ok(vec![("valid_step_error".into(), 1.0 - acc), ("valid_step_accuracy".into(), acc)])
    }

    fn task_json(&self) -> serde_json::Value {
        crate::train::spec_json(&self.spec)
    }
}
/// The registry's entry.
pub static LABEL: LabelTask = LabelTask;

/// `recur train label`.
pub struct LabelTask;

impl TaskKind for LabelTask {
    fn info(&self) -> &'static Info {
        &Info {
            name: "label",
            aliases: &[],
            about: "A label per time step: symbol or number sequences with one label per step (--data).",
            flags: &[
                "--data",
                "--label-column",
                "--sequence-column",
                "--valid-fraction",
                "--embedding",
                "--class-weights",
                "--targets",
                "--lengths",
                "--valid-data",
                "--valid-targets",
                "--valid-lengths",
            ],
        }
    }
    fn check(&self, file: &ModelFile) -> std::result::Result<(), String> {
        let spec: TaggingSpec = crate::task::read_spec(file)?;
        crate::task::outputs_fit(file, spec.tags.len(), "tags")
    }

    /// As `classify`'s: an LSTM of 64, Adam 1e-2, batches of 32, 30 epochs, embedding 16.
    fn preset(&self, _p: PresetName, _d: &TaskOptions) -> Preset {
        Preset { embedding: 16, ..Preset::adam(64, 32, 30, 1e-2) }
    }

    fn train(&self, mut s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
        let (data, held) = read_data(&s.data, TargetKind::Steps, "a label and a sequence column, or X.npy")?;
        if held.test.is_some() || s.data.test_fraction.is_some() {
            anyhow::bail!("label has no test set; hold rows out with --valid-data or --valid-fraction");
        }
        let path = data.src.path.clone();
        let mut task = Tagging::load(data, held, s.data.columns(), &mut s.data_rng())?;
        if s.data.class_weights.is_some() {
            let ys: Vec<u32> = task.train.iter().flat_map(|(_, y)| y.iter().copied()).collect();
            s.train.class_weights = Some(balanced_weights(&ys, task.spec.tags.len()));
        }
        let symbols = task.spec.normalize.is_none();
        let tags = task.spec.tags.len();
        let mc = if symbols {
            s.symbol_model_config(task.spec.alphabet.len(), tags, HeadKind::Step, LossKind::CrossEntropy)
        } else {
            s.model_config(task.width, tags, HeadKind::Step, LossKind::CrossEntropy)
        };
        let mut model = s.new_model(mc)?;
        let inputs = if symbols {
            format!("{} symbols", task.spec.alphabet.len())
        } else {
            format!("{} features per step", task.width)
        };
        let data = format!(
            "{}: {inputs}, {tags} labels, {} training / {} held-out sequences",
            path.display(),
            task.train.len(),
            task.valid.len()
        );
        let report = fit("label", &mut model, &mut task, &s.train, &data, obs)?;
        Ok(format!(
            "done: held-out per-step accuracy {:.2}% on {} sequences after {}",
            metric(&report, "valid_step_accuracy") * 100.0,
            task.valid.len(),
            ran(&report, &s.train)
        ))
    }

    fn predict_file(
        &self,
        file: &ModelFile,
        o: &PredictOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        let spec: TaggingSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        crate::task::rows::predict_file(file, RowTask::Label(spec), o, sess, out)
    }
}
