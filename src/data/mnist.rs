//! Seed program (d), "Understanding LSTM in Tensorflow (MNIST dataset)": classify a 28x28
//! digit by reading it one row per time step (28 steps of 28 pixels scaled to [0, 1]), with
//! the class from the last step.
//!
//! Data are the IDX files of MNIST (or Fashion-MNIST, same format), `.gz` or raw. The
//! tutorial trains on MNIST's 55,000 training images and reports 99.21% on the first 128 test
//! images (127 of 128). This machine has only the genuine 10,000-image test set, so
//! `--split-test N` trains on its first N images and evaluates on the rest; with the training
//! files present (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`), training
//! uses them and evaluation the full test set.

use crate::model::Seqs;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::idx::{read_images, read_labels};
use crate::error::{Error, Result};
use crate::model::{Model, Session, Targets};
use crate::train::{Batch, Metric, Task};

/// Which dataset, for its class names and default location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    Mnist,
    Fashion,
}

impl Dataset {
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
            Dataset::Mnist => PathBuf::from("../shared/data/mnist"),
            Dataset::Fashion => PathBuf::from("/usr/share/datasets/fashion-mnist"),
        }
    }
}

/// What the model file records about the task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MnistSpec {
    pub name: String,
    pub dataset: Dataset,
    pub data_dir: PathBuf,
    /// Train on the first N test images, evaluate on the rest.
    pub split_test: Option<usize>,
}

/// Images as `[N, 28, 28]` floats in [0, 1] and their labels.
#[derive(Clone, Debug, Default)]
pub struct Images {
    pub pixels: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// `[28, 28]` pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * 784..(i + 1) * 784]
    }
    fn slice(&self, r: std::ops::Range<usize>) -> Images {
        Images { pixels: self.pixels[r.start * 784..r.end * 784].to_vec(), labels: self.labels[r].to_vec() }
    }
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(format!("{stem}.gz")), dir.join(stem)].into_iter().find(|p| p.exists())
}

/// Reads one images/labels pair and checks they agree.
pub fn read_set(dir: &Path, prefix: &str) -> Result<Images> {
    let missing = |what: &str| {
        Error::Input(format!(
            "{}: no {prefix}-{what} file (looked for {prefix}-{what}-idx{}-ubyte[.gz])",
            dir.display(),
            if what == "images" { 3 } else { 1 }
        ))
    };
    let ip = find(dir, &format!("{prefix}-images-idx3-ubyte")).ok_or_else(|| missing("images"))?;
    let lp = find(dir, &format!("{prefix}-labels-idx1-ubyte")).ok_or_else(|| missing("labels"))?;
    let (n, rows, cols, px) = read_images(&ip)?;
    if (rows, cols) != (28, 28) {
        return Err(Error::format(&ip, format!("images are {rows}x{cols}; this task reads 28x28")));
    }
    let labels = read_labels(&lp)?;
    if labels.len() != n {
        return Err(Error::format(
            &lp,
            format!("{} labels for {n} images in {}", labels.len(), ip.display()),
        ));
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::format(&lp, format!("label {bad} is not a class 0..9")));
    }
    Ok(Images {
        pixels: px.iter().map(|&p| p as f32 / 255.0).collect(),
        labels: labels.iter().map(|&l| l as u32).collect(),
    })
}

/// The task: a training set, a test set, and how to walk them.
pub struct Mnist {
    pub spec: MnistSpec,
    pub train: Images,
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
        let test = read_set(dir, "t10k")?;
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

pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (j, &v)| if v > row[best] { j } else { best })
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
