//! `mnist`, from the tutorial "Understanding LSTM in Tensorflow (MNIST dataset)": classify a 28x28
//! digit by reading it one row per time step (28 steps of 28 pixels scaled to [0, 1]), with
//! the class from the last step.
//!
//! Data are the IDX files of MNIST (or Fashion-MNIST, same format), `.gz` or raw. The
//! tutorial trains on MNIST's 55,000 training images and reports 99.21% on the first 128 test
//! images (127 of 128). With only the 10,000-image test set at hand, `--split-test N` trains
//! on its first N images and evaluates on the rest; with the training
//! files present (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`), training
//! uses them and evaluation the full test set.

use crate::model::Seqs;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cell::CellKind;
use crate::data::images::{Images, read_set};
use crate::error::{Error, Result};
use crate::io::model_file::{ModelFile, describe};
use crate::model::probs::{argmax, probabilities, top_k};
use crate::model::{HeadKind, Init, LossKind, Model, Session, Targets};
use crate::optim::OptimizerKind;
use crate::task::{
    EvalOptions, Info, PredictOptions, Preset, PresetName, Setup, TaskKind, TaskOptions, fit, metric, ran,
};
use crate::train::{Batch, Metric, Observer, Schedule, Task};

/// Which dataset, for its class names and default location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// MNIST's handwritten digits.
    Mnist,
    /// Fashion-MNIST's ten kinds of clothing.
    Fashion,
}

impl Dataset {
    /// The names of classes 0..9.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            Dataset::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            Dataset::Fashion => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }
    /// Where the data is looked for without `--data-dir`.
    pub fn default_dir(self) -> PathBuf {
        match self {
            Dataset::Mnist => PathBuf::from("data/mnist"),
            Dataset::Fashion => PathBuf::from("/usr/share/datasets/fashion-mnist"),
        }
    }
}

/// What the model file records about the task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MnistSpec {
    /// `mnist`.
    pub name: String,
    /// Which data set, for its class names.
    pub dataset: Dataset,
    /// Where its IDX files are.
    pub data_dir: PathBuf,
    /// Train on the first N test images, evaluate on the rest.
    pub split_test: Option<usize>,
}

/// The task: a training set, a test set, and how to walk them.
pub struct Mnist {
    /// What the model file records.
    pub spec: MnistSpec,
    /// The images trained on.
    pub train: Images,
    /// The images evaluated on.
    pub test: Images,
    /// Training steps per epoch; `None` = one pass over the training set.
    pub iters_per_epoch: Option<usize>,
    order: Vec<u32>,
    cursor: usize,
}

impl Mnist {
    /// Loads the data named by `spec`. Without `split_test`, the training files must exist, and
    /// the error says which and where.
    pub fn load(spec: MnistSpec) -> Result<Self> {
        let dir = &spec.data_dir;
        let test = read_set(dir, "t10k").map_err(|e| match e {
            Error::Input(m) => Error::Input(format!(
                "{m}.\nPut the {:?} IDX files there, or name their directory with --data-dir DIR",
                spec.dataset
            )),
            other => other,
        })?;
        let (train, test) = match spec.split_test {
            Some(n) if n == 0 || n >= test.len() => {
                return Err(Error::BadConfig {
                    field: "split-test".into(),
                    value: n.to_string(),
                    reason: format!("must leave test images: 1..{}", test.len()),
                });
            }
            Some(n) => (test.slice(0..n), test.slice(n..test.len())),
            None => {
                let train = read_set(dir, "train").map_err(|e| match e {
                    Error::Input(m) => Error::Input(format!(
                        "{m}.\nThe training set is not there: put train-images-idx3-ubyte.gz and \
                         train-labels-idx1-ubyte.gz in {}, or train on part of the test set with \
                         --split-test 8000",
                        dir.display()
                    )),
                    other => other,
                })?;
                (train, test)
            }
        };
        let order = (0..train.len() as u32).collect();
        Ok(Mnist { spec, train, test, iters_per_epoch: None, order, cursor: 0 })
    }

    /// Logits of `images` (all of them), in batches.
    pub fn logits(model: &Model<f32>, sess: &mut Session<f32>, images: &Images) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(images.len() * 10);
        for start in (0..images.len()).step_by(1024) {
            let end = (start + 1024).min(images.len());
            let o = sess.forward(
                model,
                Seqs::new(&images.pixels[start * 784..end * 784], end - start, 28),
                None,
            )?;
            out.extend(o.logits);
        }
        Ok(out)
    }

    /// `[10][10]` counts: row = true class, column = predicted.
    pub fn confusion(&self, model: &Model<f32>, sess: &mut Session<f32>) -> Result<[[usize; 10]; 10]> {
        let logits = Self::logits(model, sess, &self.test)?;
        let mut m = [[0usize; 10]; 10];
        for (row, &y) in logits.chunks(10).zip(&self.test.labels) {
            m[y as usize][argmax(row)] += 1;
        }
        Ok(m)
    }
}

/// Formats a confusion matrix with class names.
pub fn format_confusion(m: &[[usize; 10]; 10], names: &[&str; 10]) -> String {
    let w = names.iter().map(|n| n.len()).max().unwrap_or(1).max(5);
    let mut s = format!("{:>w$}  predicted ->\n{:>w$}", "true", "");
    for j in 0..10 {
        s += &format!(" {j:>5}");
    }
    s.push('\n');
    for (i, row) in m.iter().enumerate() {
        s += &format!("{:>w$}", names[i]);
        for v in row {
            s += &format!(" {v:>5}");
        }
        s.push('\n');
    }
    s
}

impl Task for Mnist {
    fn steps_per_epoch(&self, batch_size: usize) -> usize {
        self.iters_per_epoch.unwrap_or_else(|| self.train.len().div_ceil(batch_size.max(1)))
    }

    fn train_batch(
        &mut self,
        _epoch: usize,
        _step: usize,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Batch,
    ) {
        // Like next_batch: walk a shuffled order, reshuffling when it runs out.
        let b = batch_size.min(self.train.len());
        out.input.clear();
        out.classes.clear();
        out.dense.clear();
        for _ in 0..b {
            if self.cursor == 0 {
                self.order.shuffle(rng);
            }
            let i = self.order[self.cursor] as usize;
            self.cursor = (self.cursor + 1) % self.order.len();
            out.input.extend_from_slice(self.train.image(i));
            out.classes.push(self.train.labels[i]);
        }
        out.batch = b;
        out.steps = 28;
    }

    fn evaluate(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        _final_eval: bool,
    ) -> Result<Vec<Metric>> {
        let s = sess.evaluate(
            model,
            Seqs::new(&self.test.pixels, self.test.len(), 28),
            None,
            Targets::Classes(&self.test.labels),
        )?;
        let acc = s.correct as f64 / s.count as f64;
        let mut m = vec![("test_error".to_string(), 1.0 - acc), ("test_accuracy".to_string(), acc)];
        if self.spec.split_test.is_none() && self.test.len() >= 128 {
            // The tutorial's figure: the first 128 test images.
            let first = self.test.slice(0..128);
            let s = sess.evaluate(
                model,
                Seqs::new(&first.pixels, 128, 28),
                None,
                Targets::Classes(&first.labels),
            )?;
            m.push(("first128_accuracy".to_string(), s.correct as f64 / 128.0));
        }
        Ok(m)
    }

    fn task_json(&self) -> serde_json::Value {
        crate::train::spec_json(&self.spec)
    }
}

/// The registry's entry.
pub static MNIST: MnistTask = MnistTask;

/// `recur train mnist`.
pub struct MnistTask;

impl TaskKind for MnistTask {
    fn info(&self) -> &'static Info {
        &Info {
            name: "mnist",
            aliases: &[],
            about: "Classify 28x28 images read one row per step: MNIST or Fashion-MNIST.",
            flags: &["--data-dir", "--dataset", "--split-test", "--iters-per-epoch"],
        }
    }

    fn check(&self, file: &ModelFile) -> std::result::Result<(), String> {
        let spec: MnistSpec = crate::task::read_spec(file)?;
        crate::task::outputs_fit(file, spec.dataset.class_names().len(), "classes")
    }

    fn preset(&self, p: PresetName, _d: &TaskOptions) -> Preset {
        match p {
            PresetName::Seed => Preset {
                bits: 0,
                cell: CellKind::Lstm, // rnn.BasicLSTMCell
                hidden: vec![128],    // num_units = 128
                batch_size: 128,      // batch_size = 128
                epochs: 1,            // while iter < 800: one "epoch" of 800 iterations
                optimizer: OptimizerKind::Adam,
                lr: 1e-3, // learning_rate = 0.001
                schedule: Schedule::Constant,
                clip: None,
                eval_every: 0,
                target_error: None,
                shuffle: true, // next_batch shuffles
                eval_size: 0,
                iters_per_epoch: Some(800), // while iter < 800
                embedding: 0,
                init: Init::PyTorch,
            },
            // The tutorial's size (GEMM-bound, and accurate); batches of 64 give twice the
            // updates per epoch of 128; with cosine decay a larger start is safe.
            PresetName::Default => Preset { eval_every: 3, ..Preset::adam(128, 64, 12, 2e-3) },
        }
    }

    fn train(&self, s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
        let d = &s.data;
        let dataset = d.dataset.unwrap_or(Dataset::Mnist);
        let spec = MnistSpec {
            name: "mnist".into(),
            dataset,
            data_dir: d.data_dir.clone().unwrap_or_else(|| dataset.default_dir()),
            split_test: d.split_test,
        };
        let mut task = Mnist::load(spec)?;
        task.iters_per_epoch = d.iters_per_epoch.or(s.preset.iters_per_epoch);
        let mut model = s.new_model(s.model_config(28, 10, HeadKind::Last, LossKind::CrossEntropy))?;
        let data = format!("{dataset:?} {} train / {} test images", task.train.len(), task.test.len());
        let report = fit("mnist", &mut model, &mut task, &s.train, &data, obs)?;
        let cm = task.confusion(&model, &mut Session::new(s.train.threads))?;
        let first = match metric(&report, "first128_accuracy") {
            v if v.is_nan() => String::new(),
            v => format!(" (first 128: {:.2}%)", v * 100.0),
        };
        Ok(format!(
            "confusion matrix on the test images:\n{}\ndone: test accuracy {:.2}% on {} test images{first} after {}",
            format_confusion(&cm, &dataset.class_names()),
            metric(&report, "test_accuracy") * 100.0,
            task.test.len(),
            ran(&report, &s.train)
        ))
    }

    fn eval(
        &self,
        file: &ModelFile,
        _path: &Path,
        _o: &EvalOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let spec: MnistSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        let names = spec.dataset.class_names();
        let task = Mnist::load(spec)?;
        let cm = task.confusion(&file.model, sess)?;
        let right: usize = (0..10).map(|i| cm[i][i]).sum();
        writeln!(out, "confusion matrix on the test images:\n{}", format_confusion(&cm, &names))?;
        writeln!(
            out,
            "{}: test accuracy {:.2}% on {} test images ({} wrong)",
            describe(&file.model.config),
            100.0 * right as f64 / task.test.len() as f64,
            task.test.len(),
            task.test.len() - right
        )?;
        Ok(())
    }

    /// `--image N`: draws test image N and classifies it.
    fn predict(
        &self,
        file: &ModelFile,
        inputs: &[String],
        o: &PredictOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let Some(n) = o.image else {
            anyhow::bail!("an mnist model classifies a test image: give --image N (or --input X.npy)")
        };
        if !inputs.is_empty() {
            anyhow::bail!("give --image N or inputs, not both");
        }
        let spec: MnistSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        let dir = o.data_dir.clone().unwrap_or(spec.data_dir);
        let test = read_set(&dir, "t10k")?;
        if n >= test.len() {
            anyhow::bail!("--image {n}: the test set has images 0..{}", test.len() - 1);
        }
        let logits = sess.forward(&file.model, Seqs::new(test.image(n), 1, 28), None)?.logits;
        let p = probabilities(file.model.config.loss, &logits);
        let names = spec.dataset.class_names();
        writeln!(out, "{}", draw(test.image(n)))?;
        let top = top_k(&p, o.top);
        let mut line = format!(
            "test image {n}: predicted {} (true {})",
            names[top[0].0], names[test.labels[n] as usize]
        );
        for (c, pr) in &top {
            let _ = write!(line, "  p({})={pr:.4}", names[*c]);
        }
        writeln!(out, "{line}")?;
        Ok(())
    }
}

/// Draws a 28x28 image in the terminal, two characters per pixel, darker = more ink.
pub fn draw(pixels: &[f32]) -> String {
    const SHADES: &[u8] = b" .:-=+*#%@";
    let mut s = String::new();
    for row in pixels.chunks(28) {
        for &p in row {
            let c = SHADES[((p.clamp(0.0, 1.0) * (SHADES.len() - 1) as f32).round()) as usize] as char;
            s.push(c);
            s.push(c);
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist_small")
    }

    #[test]
    fn the_small_test_set_loads_scaled_to_unit_range() {
        let t = read_set(&small(), "t10k").unwrap();
        assert_eq!((t.len(), t.pixels.len()), (200, 200 * 784));
        assert_eq!(&t.labels[..3], &[7, 2, 1]);
        assert!(t.pixels.iter().all(|&p| (0.0..=1.0).contains(&p)) && t.pixels.contains(&1.0));
    }

    #[test]
    fn missing_training_files_name_what_to_do() {
        let spec =
            MnistSpec { name: "mnist".into(), dataset: Dataset::Mnist, data_dir: small(), split_test: None };
        let e = Mnist::load(spec).err().unwrap().to_string();
        assert!(e.contains("no train-images file") && e.contains("--split-test 8000"), "{e}");
    }

    #[test]
    fn split_test_trains_on_the_head_and_tests_on_the_tail() {
        let spec = MnistSpec {
            name: "mnist".into(),
            dataset: Dataset::Mnist,
            data_dir: small(),
            split_test: Some(150),
        };
        let m = Mnist::load(spec.clone()).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (150, 50));
        let e = Mnist::load(MnistSpec { split_test: Some(200), ..spec }).err().unwrap().to_string();
        assert!(e.contains("split-test = 200"), "{e}");
    }

    #[test]
    fn drawing_is_28_lines_of_56_characters() {
        let t = read_set(&small(), "t10k").unwrap();
        let d = draw(t.image(0));
        assert_eq!(d.lines().count(), 28);
        assert!(d.lines().all(|l| l.chars().count() == 56));
        assert!(d.contains("@@"));
    }
}
