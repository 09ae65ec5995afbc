//! `text`, from the tutorial "LSTM by Example using Tensorflow": predict the next word from
//! the previous three, then generate text by feeding predictions back.
//!
//! Tokens as the tutorial: words and punctuation marks are both symbols (a run of letters,
//! digits and apostrophes is a word; any other non-space character is a symbol of its own),
//! or every character with `char_level`. The vocabulary is ordered by frequency, ties by
//! first occurrence (today's `collections.Counter(words).most_common()`; the tutorial's
//! Python ordered ties by hash, so its ids past the frequent words differ). The built-in text
//! is the tutorial's fable (204 tokens, 112 symbols); any UTF-8 file works.
//!
//! A training example is a window of `window` symbols and the symbol after it. The tutorial
//! feeds each id as one float into an LSTM(512), one window per step, walking the text from a
//! random offset in strides of window+1 (`Walk::Tutorial`), and reports the running average
//! accuracy over 1000 steps (recur's `train_accuracy`): 91.2% after 50,000 (its code's
//! comments: 90.6%, and 95.2% with 2 layers). `--preset seed` does the same, from TensorFlow
//! 1.x's initial values as the tutorial's variables have them ([`Model::init_tf1`]). The
//! default instead looks ids up in an embedding and trains on shuffled mini-batches of every
//! window.

use crate::model::Seqs;
pub use crate::task::sample::{Sampling, pick};
use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;

use crate::cell::CellKind;
use crate::data::tokenize::{build_vocab, tokenize};
use crate::error::{Error, Result};
use crate::io::model_file::{ModelFile, describe};
use crate::model::{HeadKind, Init, LossKind, Model, Session, Targets};
use crate::optim::OptimizerKind;
use crate::task::{
    EvalOptions, GenerateOptions, Info, Preset, PresetName, Setup, TaskKind, TaskOptions, fit, lm, metric,
    ran,
};
use crate::train::{Batch, Metric, Observer, Schedule, Shuffled, Task};

/// The tutorial's text, shipped with recur.
pub const BELLING_THE_CAT: &str = include_str!("../../data/belling_the_cat.txt");

/// What the model file records: the vocabulary and how text is cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextSpec {
    /// `text`.
    pub name: String,
    /// Symbols in, one predicted.
    pub window: usize,
    /// Characters (true) or words and punctuation marks as symbols.
    pub char_level: bool,
    /// Id -> symbol.
    pub symbols: Vec<String>,
}

impl TextSpec {
    /// Symbol -> id.
    pub fn index(&self) -> HashMap<&str, u32> {
        self.symbols.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect()
    }
    /// Ids of `text`'s symbols; an unknown one is an error naming it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let index = self.index();
        tokenize(text, self.char_level)
            .iter()
            .map(|t| {
                index
                    .get(t.as_str())
                    .copied()
                    .ok_or_else(|| Error::Input(format!("word not in dictionary: {t}")))
            })
            .collect()
    }
    /// Text of ids: words joined by spaces, characters joined as they are.
    pub fn decode(&self, ids: &[u32]) -> String {
        let sep = if self.char_level { "" } else { " " };
        ids.iter().map(|&i| self.symbols[i as usize].as_str()).collect::<Vec<_>>().join(sep)
    }
}

/// How training windows are picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// The tutorial's: from a random offset in 0..=window+1, stride window+1, restart at the end.
    Tutorial,
    /// Shuffled mini-batches over every training window, reshuffled each epoch.
    Shuffled,
}

/// The task: ids of the text, which windows train and which validate.
pub struct Text {
    /// What the model file records.
    pub spec: TextSpec,
    /// The whole text as ids.
    pub ids: Vec<u32>,
    /// Start of every training window (its target is at start + window).
    pub train: Vec<usize>,
    /// Start of every held-out window.
    pub valid: Vec<usize>,
    /// How training windows are picked.
    pub walk: Walk,
    /// Steps per epoch for `Walk::Tutorial` (the tutorial's display step, 1000).
    pub iters_per_epoch: usize,
    offset: Option<usize>,
    order: Shuffled,
}

impl Text {
    /// `valid_fraction` of the text's tail is held out (its windows' targets lie there).
    pub fn new(text: &str, char_level: bool, window: usize, valid_fraction: f64) -> Result<Self> {
        let tokens = tokenize(text, char_level);
        if window == 0 {
            return Err(Error::BadConfig {
                field: "window".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if !(0.0..0.9).contains(&valid_fraction) {
            return Err(Error::BadConfig {
                field: "valid-fraction".into(),
                value: valid_fraction.to_string(),
                reason: "must be in [0, 0.9)".into(),
            });
        }
        let symbols = build_vocab(&tokens);
        let spec = TextSpec { name: "text".into(), window, char_level, symbols };
        let index = spec.index();
        let ids: Vec<u32> = tokens.iter().map(|t| index[t.as_str()]).collect();
        let split = ids.len() - (ids.len() as f64 * valid_fraction).round() as usize;
        let starts = 0..ids.len().saturating_sub(window);
        let train: Vec<usize> = starts.clone().filter(|s| s + window < split).collect();
        let valid: Vec<usize> = starts.filter(|s| s + window >= split).collect();
        if train.is_empty() || (valid_fraction > 0.0 && valid.is_empty()) {
            return Err(Error::Input(format!(
                "the text has {} {}; a window of {window} needs at least {} for training{}",
                ids.len(),
                if char_level { "characters" } else { "words" },
                window + 1,
                if valid_fraction > 0.0 { " and more for the held-out tail" } else { "" }
            )));
        }
        let order = Shuffled::new(train.clone());
        Ok(Text { spec, ids, train, valid, walk: Walk::Shuffled, iters_per_epoch: 1000, offset: None, order })
    }

    /// Every window of `text` under a trained model's vocabulary, to score it (all windows in
    /// `train`, none held out). A symbol the vocabulary lacks is an error naming it.
    pub fn with_vocabulary(spec: TextSpec, text: &str) -> Result<Self> {
        let ids = spec.encode(text)?;
        let window = spec.window;
        if ids.len() <= window {
            return Err(Error::Input(format!(
                "the text has {} symbols; a window of {window} needs at least {}",
                ids.len(),
                window + 1
            )));
        }
        let train: Vec<usize> = (0..ids.len() - window).collect();
        let order = Shuffled::new(train.clone());
        Ok(Text {
            spec,
            ids,
            train,
            valid: Vec::new(),
            walk: Walk::Shuffled,
            iters_per_epoch: 1000,
            offset: None,
            order,
        })
    }

    /// Inputs `[N, window]` (ids as floats) and next-symbol targets for windows `starts`.
    pub fn encode_windows(&self, starts: &[usize], input: &mut Vec<f32>, target: &mut Vec<u32>) {
        for &s in starts {
            input.extend(self.ids[s..s + self.spec.window].iter().map(|&i| i as f32));
            target.push(self.ids[s + self.spec.window]);
        }
    }

    /// The best accuracy any model can reach on the training windows: when one context is
    /// followed by different symbols, only the most frequent can be right.
    pub fn ceiling(&self) -> f64 {
        let mut next: HashMap<&[u32], HashMap<u32, usize>> = HashMap::new();
        for &s in &self.train {
            *next
                .entry(&self.ids[s..s + self.spec.window])
                .or_default()
                .entry(self.ids[s + self.spec.window])
                .or_default() += 1;
        }
        let best: usize = next.values().map(|m| m.values().max().copied().unwrap_or(0)).sum();
        best as f64 / self.train.len() as f64
    }

    /// (accuracy, mean cross-entropy) over windows.
    pub fn score(&self, model: &Model<f32>, sess: &mut Session<f32>, starts: &[usize]) -> Result<(f64, f64)> {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        self.encode_windows(starts, &mut x, &mut y);
        let s =
            sess.evaluate(model, Seqs::new(&x, starts.len(), self.spec.window), None, Targets::Classes(&y))?;
        Ok((s.correct as f64 / s.count as f64, s.loss / s.count as f64))
    }
}

impl Task for Text {
    fn steps_per_epoch(&self, batch_size: usize) -> usize {
        match self.walk {
            Walk::Tutorial => self.iters_per_epoch,
            Walk::Shuffled => self.train.len().div_ceil(batch_size.max(1)),
        }
    }

    fn train_batch(
        &mut self,
        _epoch: usize,
        step: usize,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Batch,
    ) {
        let w = self.spec.window;
        let mut starts = Vec::with_capacity(batch_size);
        match self.walk {
            Walk::Tutorial => {
                for _ in 0..batch_size {
                    let last = self.ids.len() - (w + 1);
                    let o = match self.offset {
                        Some(o) if o <= last => o,
                        _ => rng.random_range(0..=(w + 1).min(last)),
                    };
                    starts.push(o);
                    self.offset = Some(o + w + 1);
                }
            }
            Walk::Shuffled => {
                starts.extend_from_slice(self.order.batch(step, batch_size, rng));
            }
        }
        out.input.clear();
        out.classes.clear();
        out.dense.clear();
        self.encode_windows(&starts, &mut out.input, &mut out.classes);
        out.batch = starts.len();
        out.steps = w;
    }

    fn evaluate(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        _final_eval: bool,
    ) -> Result<Vec<Metric>> {
        let (acc, _) = self.score(model, sess, &self.train)?;
        let mut m = vec![("window_error".to_string(), 1.0 - acc), ("window_accuracy".to_string(), acc)];
        if !self.valid.is_empty() {
            let (vacc, ce) = self.score(model, sess, &self.valid)?;
            m.push(("valid_accuracy".to_string(), vacc));
            m.push(("valid_perplexity".to_string(), ce.exp()));
        }
        Ok(m)
    }

    fn task_json(&self) -> serde_json::Value {
        crate::train::spec_json(&self.spec)
    }
}

/// Extends `prompt` by `n` symbols, each predicted from the last `window` ones.
pub fn generate(
    model: &Model<f32>,
    spec: &TextSpec,
    prompt: &[u32],
    n: usize,
    how: Sampling,
) -> Result<Vec<u32>> {
    let w = spec.window;
    if prompt.len() < w {
        return Err(Error::Input(format!(
            "the prompt has {} {}; this model reads {w} at a time",
            prompt.len(),
            if spec.char_level { "characters" } else { "words" }
        )));
    }
    let mut sess = Session::new(1);
    let mut rng = ChaCha8Rng::seed_from_u64(how.seed);
    let mut ids = prompt.to_vec();
    for _ in 0..n {
        let x: Vec<f32> = ids[ids.len() - w..].iter().map(|&i| i as f32).collect();
        let logits = sess.forward(model, Seqs::new(&x, 1, w), None)?.logits;
        ids.push(pick(&logits, how, &mut rng));
    }
    Ok(ids.split_off(prompt.len()))
}

/// A text file trains a language model, unless the tutorial's window model is asked for
/// (`--window`, or `--preset seed`); the built-in fable trains the window model.
fn language_model(p: PresetName, d: &TaskOptions) -> bool {
    d.text.is_some() && d.window.is_none() && p == PresetName::Default
}

/// The registry's entry.
pub static TEXT: TextTask = TextTask;

/// `recur train text`.
pub struct TextTask;

/// The text of `--text FILE`, or the built-in fable, and how to name it.
fn read_text(path: Option<&Path>) -> anyhow::Result<(String, String)> {
    Ok(match path {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (BELLING_THE_CAT.to_string(), "the built-in fable".to_string()),
    })
}

impl TaskKind for TextTask {
    fn info(&self) -> &'static Info {
        &Info {
            name: "text",
            aliases: &["aesop"],
            about: "Predict the next word (or character) of a text, then generate.",
            flags: &[
                "--text",
                "--char",
                "--window",
                "--valid-fraction",
                "--embedding",
                "--iters-per-epoch",
                "--bptt",
                "--max-vocab",
                "--min-count",
                "--tie-weights",
            ],
        }
    }

    fn check(&self, file: &ModelFile) -> std::result::Result<(), String> {
        let language_model =
            file.task.as_ref().and_then(|t| t.get("language_model")).and_then(|v| v.as_bool());
        let (symbols, unk) = if language_model == Some(true) {
            let spec: lm::LmSpec = crate::task::read_spec(file)?;
            (spec.symbols.len(), spec.unk)
        } else {
            let spec: TextSpec = crate::task::read_spec(file)?;
            if spec.window == 0 {
                return Err("its window is 0 symbols".into());
            }
            (spec.symbols.len(), None)
        };
        if let Some(u) = unk.filter(|&u| u as usize >= symbols) {
            return Err(format!("<unk> is symbol {u} of only {symbols}"));
        }
        crate::task::outputs_fit(file, symbols, "symbols")
    }

    fn preset(&self, p: PresetName, d: &TaskOptions) -> Preset {
        if language_model(p, d) {
            return lm::preset();
        }
        match p {
            PresetName::Seed => Preset {
                bits: 0,
                cell: CellKind::Lstm, // rnn.BasicLSTMCell(n_hidden)
                hidden: vec![512],    // n_hidden = 512 (--layers 2 for the 2-layer variant)
                batch_size: 1,        // one window per step
                epochs: 50,           // training_iters = 50000, displayed every 1000
                // RMSPropOptimizer(learning_rate=0.001), with PyTorch's update (alpha 0.99,
                // eps 1e-8 outside the root).
                optimizer: OptimizerKind::RmsProp,
                lr: 1e-3,
                schedule: Schedule::Constant,
                clip: None,
                eval_every: 1, // display_step = 1000 iterations
                target_error: None,
                shuffle: false, // the tutorial's walk over the text
                eval_size: 0,
                iters_per_epoch: Some(1000), // display_step = 1000
                embedding: 0,                // the word id fed as one float
                // TF 1.x's variables: glorot_uniform kernels, forget_bias=1.0, and the
                // output layer's tf.random_normal weights and biases (Model::init_tf1).
                init: Init::Tf1,
            },
            PresetName::Default => Preset {
                eval_every: 25,
                embedding: 32, // words as learned vectors
                // Mini-batches of 16 over every window, 150 epochs.
                ..Preset::adam(128, 16, 150, 1e-2)
            },
        }
    }

    fn train(&self, s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
        if language_model(s.preset_name, &s.data) {
            return lm::train(&s, obs);
        }
        let d = &s.data;
        let (text, source) = read_text(d.text.as_deref())?;
        let window = d.window.unwrap_or(3);
        let mut task = Text::new(&text, d.char, window, d.valid_fraction.unwrap_or(0.0))
            .with_context(|| format!("cutting {source} into windows"))?;
        task.walk = if s.preset.shuffle { Walk::Shuffled } else { Walk::Tutorial };
        task.iters_per_epoch = d.iters_per_epoch.or(s.preset.iters_per_epoch).unwrap_or(1000);
        let vocab = task.spec.symbols.len();
        let mut model =
            s.new_model(s.symbol_model_config(vocab, vocab, HeadKind::Last, LossKind::CrossEntropy))?;
        let data = format!(
            "{source}: {} symbols, {} training windows of {window}, {} held out",
            vocab,
            task.train.len(),
            task.valid.len()
        );
        let report = fit("text", &mut model, &mut task, &s.train, &data, obs)?;
        let valid = match (metric(&report, "valid_accuracy"), metric(&report, "valid_perplexity")) {
            (a, p) if !a.is_nan() && !p.is_nan() => {
                format!("; held out: {:.2}% accuracy, perplexity {p:.2}", a * 100.0)
            }
            _ => String::new(),
        };
        Ok(format!(
            "done: window accuracy {:.2}% on {} training windows (the most any model can: {:.2}%){valid} after {}",
            metric(&report, "window_accuracy") * 100.0,
            task.train.len(),
            task.ceiling() * 100.0,
            ran(&report, &s.train)
        ))
    }

    fn eval(
        &self,
        file: &ModelFile,
        _path: &Path,
        o: &EvalOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        if let Some(spec) = lm::spec_of(file) {
            return lm::eval(file, &spec, o, sess, out);
        }
        let spec: TextSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        let (text, source) = read_text(o.text.as_deref())?;
        let task = Text::with_vocabulary(spec, &text).with_context(|| source.clone())?;
        let (acc, ce) = task.score(&file.model, sess, &task.train)?;
        writeln!(
            out,
            "{}: {:.2}% of the next {} right on all {} windows of {source} (perplexity {:.3})",
            describe(&file.model.config),
            acc * 100.0,
            if task.spec.char_level { "characters" } else { "words" },
            task.train.len(),
            ce.exp()
        )?;
        Ok(())
    }

    fn generate(
        &self,
        file: &ModelFile,
        path: &Path,
        o: &GenerateOptions,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        if let Some(spec) = lm::spec_of(file) {
            return lm::generate(file, &spec, o, input, out);
        }
        let spec: TextSpec =
            file.task.clone().and_then(|t| serde_json::from_value(t).ok()).with_context(|| {
                format!("{} is not a text model (train one with `recur train text`)", path.display())
            })?;
        if !(o.temperature.is_finite() && o.temperature >= 0.0) {
            anyhow::bail!("--temperature {} must be 0 (greedy) or positive", o.temperature);
        }
        let how = Sampling { temperature: o.temperature, top_k: o.top_k, top_p: o.top_p, seed: o.seed };
        let unit = if spec.char_level { "characters" } else { "words" };
        if o.interactive {
            loop {
                eprint!("{} {unit}: ", spec.window);
                let mut line = String::new();
                if input.read_line(&mut line).context("reading standard input")? == 0 {
                    break;
                }
                let line = line.trim_end_matches(['\n', '\r']);
                let ids = match spec.encode(line) {
                    Ok(ids) if ids.len() == spec.window => ids,
                    Ok(ids) => {
                        writeln!(out, "need {} {unit}, got {}", spec.window, ids.len())?;
                        continue;
                    }
                    Err(e) => {
                        writeln!(out, "{e}")?;
                        continue;
                    }
                };
                let next = generate(&file.model, &spec, &ids, o.length, how)?;
                writeln!(out, "{} {}", spec.decode(&ids), spec.decode(&next))?;
            }
            return Ok(());
        }
        let Some(prompt) = &o.prompt else { anyhow::bail!("give --prompt TEXT, or --interactive") };
        let ids = spec.encode(prompt)?;
        let next = generate(&file.model, &spec, &ids, o.length, how)?;
        let sep = if spec.char_level { "" } else { " " };
        writeln!(out, "{}{sep}{}", spec.decode(&ids), spec.decode(&next))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fable_has_the_tutorials_204_tokens_and_112_symbols() {
        let t = tokenize(BELLING_THE_CAT, false);
        assert_eq!(t.len(), 204);
        let v = build_vocab(&t);
        assert_eq!(v.len(), 112);
        // As the tutorial's dictionary: [",": 0], ["the": 1]; ties then by first occurrence.
        assert_eq!((v[0].as_str(), v[1].as_str(), v[111].as_str()), (",", "the", "remedies"));
    }

    #[test]
    fn punctuation_is_split_off_and_apostrophes_stay_in_words() {
        assert_eq!(tokenize("the cat's bell, ok.", false), ["the", "cat's", "bell", ",", "ok", "."]);
        assert_eq!(tokenize("ab c", true), ["a", "b", " ", "c"]);
    }

    #[test]
    fn windows_and_the_held_out_tail() {
        let t = Text::new(BELLING_THE_CAT, false, 3, 0.0).unwrap();
        assert_eq!((t.train.len(), t.valid.len()), (201, 0));
        // "the cat ." and "up and said" are each followed by two different words.
        assert_eq!(t.ceiling(), 199.0 / 201.0);
        let t = Text::new(BELLING_THE_CAT, false, 3, 0.1).unwrap();
        assert_eq!(t.train.len() + t.valid.len(), 201);
        assert!(t.train.iter().all(|s| s + 3 < 184) && t.valid.iter().all(|s| s + 3 >= 184));
        let e = Text::new("too short", false, 3, 0.0).err().unwrap().to_string();
        assert!(e.contains("the text has 2 words; a window of 3 needs at least 4"), "{e}");
    }

    #[test]
    fn the_seed_preset_starts_as_tensorflow_1() {
        use crate::task::ModelOptions;
        let d = TaskOptions::default();
        let p = TEXT.preset(PresetName::Seed, &d);
        assert_eq!(p.init, Init::Tf1);
        assert_eq!(TEXT.preset(PresetName::Default, &d).init, Init::PyTorch);
        let model = ModelOptions {
            cell: p.cell,
            hidden: vec![512, 512],
            learn_init: false,
            dropout: 0.0,
            bidirectional: false,
        };
        let train = crate::train::TrainConfig::default();
        let s = Setup { preset_name: PresetName::Seed, preset: p, model, train, data: d };
        let m = s.new_model(s.symbol_model_config(112, 112, HeadKind::Last, LossKind::CrossEntropy)).unwrap();
        // BasicLSTMCell's forget_bias=1.0, and the head's N(0, 1) (beyond nn.Linear's 1/sqrt(512)).
        for k in 0..2 {
            let b = m.param(&format!("rnn.bias_ih_l{k}")).unwrap();
            assert!(b[512..1024].iter().all(|&x| x == 1.0) && b[..512].iter().all(|&x| x == 0.0));
        }
        assert!(m.param("head.weight").unwrap().iter().any(|x| x.abs() > 1.0));
    }

    #[test]
    fn unknown_words_are_named() {
        let t = Text::new(BELLING_THE_CAT, false, 3, 0.0).unwrap();
        let e = t.spec.encode("had a dog").unwrap_err().to_string();
        assert_eq!(e, "word not in dictionary: dog");
        assert_eq!(t.spec.decode(&t.spec.encode("had a general").unwrap()), "had a general");
    }
}
