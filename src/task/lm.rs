//! The language-model mode of `text` (the default for a text file): every step predicts the
//! next symbol. The training text is cut into `--batch-size` parallel streams, and truncated
//! back-propagation runs over `--bptt` steps at a time, each stream's state carried from one
//! batch to the next without a gradient across the cut, as char-rnn and PyTorch's
//! `word_language_model` do. The held-out tail is streamed the same way, and reported as
//! nats per symbol (`valid_loss`), bits per symbol and perplexity.
//!
//! Ids are kept as one `u32` per symbol of the text and read in place: no window is ever
//! materialized.

use std::io::{BufRead, Write};

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cell::CellKind;
use crate::data::tokenize::Vocab;
use crate::error::{Error, Result};
use crate::io::model_file::{ModelFile, describe};
use crate::model::{HeadKind, Init, LossKind, Model, ModelConfig, Seqs, Session, State, Stepper};
use crate::optim::OptimizerKind;
use crate::task::sample::{Sampling, pick};
use crate::task::{EvalOptions, GenerateOptions, Preset, Setup, fit, metric, ran};
use crate::train::{Batch, Metric, Observer, Schedule, Task};

/// What the model file records about a language model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmSpec {
    /// `text`.
    pub name: String,
    /// Always true: tells a language model from the tutorial's window model.
    pub language_model: bool,
    /// Characters (true) or words and punctuation marks as symbols.
    pub char_level: bool,
    /// Id -> symbol.
    pub symbols: Vec<String>,
    /// The id of `<unk>`, when the vocabulary was cut (`--max-vocab`, `--min-count`).
    #[serde(default)]
    pub unk: Option<u32>,
}

impl LmSpec {
    /// The vocabulary the spec records.
    pub fn vocab(&self) -> Vocab {
        Vocab::from_symbols(self.symbols.clone(), self.unk)
    }
    /// Text of ids: words joined by spaces, characters as they are.
    pub fn decode(&self, ids: &[u32]) -> String {
        let sep = if self.char_level { "" } else { " " };
        ids.iter().map(|&i| self.symbols[i as usize].as_str()).collect::<Vec<_>>().join(sep)
    }
}

/// Held-out streams: how many rows the held-out tail is read in (each from a zero state).
pub const VALID_STREAMS: usize = 16;

/// A text as training and held-out ids, walked in parallel streams.
pub struct LanguageModel {
    /// What the model file records.
    pub spec: LmSpec,
    /// Ids of the training part (the text's head).
    pub train: Vec<u32>,
    /// Ids of the held-out tail.
    pub valid: Vec<u32>,
    /// Steps of back-propagation per batch.
    pub bptt: usize,
}

impl LanguageModel {
    /// Cuts `text` into symbols with `vocab` and holds out its last `valid_fraction`.
    pub fn new(text: &str, char_level: bool, vocab: Vocab, valid_fraction: f64, bptt: usize) -> Result<Self> {
        if bptt == 0 {
            return Err(Error::BadConfig {
                field: "bptt".into(),
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
        let (mut ids, _) = vocab.encode(text, char_level);
        let split = ids.len() - (ids.len() as f64 * valid_fraction).round() as usize;
        let valid = ids.split_off(split);
        if ids.len() < 2 || (valid_fraction > 0.0 && valid.len() < 2) {
            return Err(Error::Input(format!(
                "the text has {} {}; a language model needs at least 2 to train on{}",
                ids.len() + valid.len(),
                if char_level { "characters" } else { "words" },
                if valid_fraction > 0.0 { " and 2 in the held-out tail" } else { "" }
            )));
        }
        let spec = LmSpec {
            name: "text".into(),
            language_model: true,
            char_level,
            symbols: vocab.symbols.clone(),
            unk: vocab.unk,
        };
        Ok(LanguageModel { spec, train: ids, valid, bptt })
    }

    /// Streams of the training ids at this batch size: how many and how long.
    fn streams(&self, batch_size: usize) -> (usize, usize) {
        let b = batch_size.clamp(1, self.train.len() / 2);
        (b, self.train.len() / b)
    }
}

/// Fills `out` with steps `t0..t0+steps` of `streams` streams of length `len` laid end to
/// end in `ids`: inputs `[streams, steps]` and the next symbols as targets.
fn stream_batch(ids: &[u32], streams: usize, len: usize, t0: usize, steps: usize, out: &mut Batch) {
    out.input.clear();
    out.classes.clear();
    out.dense.clear();
    out.lengths.clear();
    for s in 0..streams {
        let row = &ids[s * len + t0..s * len + t0 + steps + 1];
        out.input.extend(row[..steps].iter().map(|&i| i as f32));
        out.classes.extend_from_slice(&row[1..]);
    }
    out.batch = streams;
    out.steps = steps;
}

/// Mean cross-entropy (nats per symbol) of `model` predicting each id of `ids` from those
/// before it, read as `streams` streams with state carried over `bptt` steps at a time.
pub fn stream_loss(
    model: &Model<f32>,
    sess: &mut Session<f32>,
    ids: &[u32],
    streams: usize,
    bptt: usize,
) -> Result<f64> {
    let streams = streams.clamp(1, (ids.len() / 2).max(1));
    let len = ids.len() / streams;
    if len < 2 {
        return Err(Error::Input(format!("{} symbols are too few to score", ids.len())));
    }
    let (mut batch, mut state): (Batch, Option<State<f32>>) = (Batch::default(), None);
    let (mut loss, mut n) = (0.0f64, 0usize);
    let v = model.config.output_size;
    let mut t0 = 0;
    while t0 + 1 < len {
        let steps = bptt.min(len - 1 - t0);
        stream_batch(ids, streams, len, t0, steps, &mut batch);
        let out = sess.forward(model, Seqs::new(&batch.input, streams, steps), state.as_ref())?;
        for (row, &y) in out.logits.chunks(v).zip(&batch.classes) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let z: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
            loss += z.ln() + max - row[y as usize] as f64;
        }
        n += batch.classes.len();
        state = Some(out.state);
        t0 += steps;
    }
    Ok(loss / n as f64)
}

/// `valid_loss` (nats per symbol), `valid_bpc` (bits) and `valid_perplexity` of a mean loss.
pub fn loss_metrics(prefix: &str, loss: f64) -> Vec<Metric> {
    vec![
        (format!("{prefix}_loss"), loss),
        (format!("{prefix}_bits"), loss / std::f64::consts::LN_2),
        (format!("{prefix}_perplexity"), loss.exp()),
    ]
}

impl Task for LanguageModel {
    fn steps_per_epoch(&self, batch_size: usize) -> usize {
        let (_, len) = self.streams(batch_size);
        (len - 1).div_ceil(self.bptt)
    }

    fn train_batch(
        &mut self,
        _epoch: usize,
        step: usize,
        batch_size: usize,
        _rng: &mut rand_chacha::ChaCha8Rng,
        out: &mut Batch,
    ) {
        let (streams, len) = self.streams(batch_size);
        let t0 = step * self.bptt;
        stream_batch(&self.train, streams, len, t0, self.bptt.min(len - 1 - t0), out);
    }

    fn carries_state(&self) -> bool {
        true
    }

    fn evaluate(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        _final_eval: bool,
    ) -> Result<Vec<Metric>> {
        // Without a held-out tail, the training text's first streams stand in.
        let (prefix, ids) = match self.valid.len() {
            0 => ("train", &self.train[..self.train.len().min(1 << 16)]),
            _ => ("valid", &self.valid[..]),
        };
        Ok(loss_metrics(prefix, stream_loss(model, sess, ids, VALID_STREAMS, self.bptt)?))
    }

    fn task_json(&self) -> serde_json::Value {
        crate::train::spec_json(&self.spec)
    }
}

/// The language model's preset: two LSTM layers of 256 over embeddings of 128, batches of
/// 32 streams, Adam 2e-3 with the gradient clipped at norm 5 (char-rnn's and PyTorch's
/// `word_language_model`'s clip), an evaluation of the held-out tail every epoch.
pub fn preset() -> Preset {
    Preset {
        cell: CellKind::Lstm,
        hidden: vec![256, 256],
        batch_size: 32,
        epochs: 20,
        optimizer: OptimizerKind::Adam,
        lr: 2e-3,
        schedule: Schedule::Constant,
        clip: Some(5.0),
        eval_every: 1,
        target_error: None,
        bits: 0,
        shuffle: false,
        eval_size: 0,
        iters_per_epoch: None,
        embedding: 128,
        init: Init::PyTorch,
    }
}

/// `recur train text --text FILE`: a language model of the file.
pub fn train(s: &Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
    let d = &s.data;
    let path = d.text.as_deref().context("a language model needs --text FILE")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let vocab = Vocab::build(&text, d.char, d.max_vocab, d.min_count.unwrap_or(1));
    let bptt = d.bptt.unwrap_or(100);
    let mut task = LanguageModel::new(&text, d.char, vocab, d.valid_fraction.unwrap_or(0.1), bptt)
        .with_context(|| path.display().to_string())?;
    drop(text);
    let v = task.spec.symbols.len();
    // A tied head is as wide as the embedding: the embedding takes the top layer's width
    // unless given.
    let mut s = s.clone();
    let top = s.model.hidden.last().copied().unwrap_or(0) * if s.model.bidirectional { 2 } else { 1 };
    if d.tie_weights {
        match d.embedding {
            None => s.data.embedding = Some(top),
            Some(e) if e != top => anyhow::bail!(
                "--tie-weights makes the head share the embedding, so --embedding must equal the top layer's output ({top}), not {e}"
            ),
            Some(_) => {}
        }
    }
    let s = &s;
    if s.embedding() == 0 {
        anyhow::bail!(
            "a language model looks its symbols up in an embedding: --embedding must be at least 1"
        );
    }
    // --dropout applies between layers and before the head, as in `word_language_model`.
    let mc = s.symbol_model_config(v, v, HeadKind::Step, LossKind::CrossEntropy);
    let mut model =
        s.new_model(ModelConfig { head_dropout: mc.dropout, tie_weights: d.tie_weights, ..mc })?;
    let unit = if task.spec.char_level { "characters" } else { "words" };
    let unk = task.spec.unk.map_or(String::new(), |_| " (with <unk>)".into());
    let data = format!(
        "{}: {v} {unit}{unk}, {} to train on / {} held out, {} streams x bptt {bptt}",
        path.display(),
        task.train.len(),
        task.valid.len(),
        s.train.batch_size.clamp(1, task.train.len() / 2),
    );
    let report = fit("text", &mut model, &mut task, &s.train, &data, obs)?;
    let (prefix, what) = if task.valid.is_empty() { ("train", "training") } else { ("valid", "held-out") };
    let loss = metric(&report, &format!("{prefix}_loss"));
    Ok(format!(
        "done: {what} loss {loss:.4} nats per {} ({:.4} bits, perplexity {:.3}) after {}; {prefix}_loss {loss:.4}",
        &unit[..unit.len() - 1],
        loss / std::f64::consts::LN_2,
        loss.exp(),
        ran(&report, &s.train)
    ))
}

/// `recur eval --model M [--text FILE]`: the model's loss on every symbol of a text.
pub fn eval(
    file: &ModelFile,
    spec: &LmSpec,
    o: &EvalOptions,
    sess: &mut Session<f32>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let path = o.text.as_deref().context("give the text to score: --text FILE")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (ids, unknown) = spec.vocab().encode(&text, spec.char_level);
    if unknown > 0 {
        let fate = if spec.unk.is_some() { "scored as <unk>" } else { "left out" };
        eprintln!(
            "recur: warning: {unknown} symbols of {} are not in the model's vocabulary ({fate})",
            path.display()
        );
    }
    let loss = stream_loss(&file.model, sess, &ids, VALID_STREAMS, 100)
        .with_context(|| path.display().to_string())?;
    writeln!(
        out,
        "{}: {loss:.4} nats per symbol ({:.4} bits, perplexity {:.3}) on {} symbols of {}; valid_loss {loss:.4}",
        describe(&file.model.config),
        loss / std::f64::consts::LN_2,
        loss.exp(),
        ids.len(),
        path.display()
    )?;
    Ok(())
}

/// A language model reading one symbol at a time, its state carried.
struct Reader<'a> {
    stepper: Stepper<'a>,
    /// The logits after the last symbol read.
    logits: Vec<f32>,
    /// Whether anything was read yet.
    started: bool,
}

impl Reader<'_> {
    /// Reads `ids` one step each; the logits are those after the last.
    fn read(&mut self, ids: &[u32]) -> Result<()> {
        for &id in ids {
            let logits = self.stepper.step(&[id as f32])?;
            self.logits.clear();
            self.logits.extend_from_slice(logits);
            self.started = true;
        }
        Ok(())
    }
}

/// `recur generate` for a language model: the prompt is read once, then each symbol costs
/// one step; symbols are written as they come.
pub fn generate(
    file: &ModelFile,
    spec: &LmSpec,
    o: &GenerateOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let vocab = spec.vocab();
    let how = Sampling { temperature: o.temperature, top_k: o.top_k, top_p: o.top_p, seed: o.seed };
    if !(o.top_p > 0.0 && o.top_p <= 1.0) {
        anyhow::bail!("--top-p {} must be in (0, 1]", o.top_p);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    // One thread: at batch 1 a step is too short to share.
    let mut reader = Reader { stepper: Stepper::new(&file.model)?, logits: Vec::new(), started: false };
    let sep = if spec.char_level { "" } else { " " };
    let mut turn = |prompt: &str, reader: &mut Reader, out: &mut dyn Write| -> anyhow::Result<()> {
        let (mut ids, unknown) = vocab.encode(prompt, spec.char_level);
        if unknown > 0 {
            let fate = if spec.unk.is_some() { "read as <unk>" } else { "left out" };
            eprintln!("recur: warning: {unknown} symbols of the prompt are not in the vocabulary ({fate})");
        }
        if ids.is_empty() && !reader.started {
            // Nothing to start from: a line break if the text has them, else the most
            // frequent symbol.
            ids.push(vocab.id("\n").filter(|_| spec.char_level).unwrap_or(0));
        }
        reader.read(&ids)?;
        write!(out, "{}", spec.decode(&ids))?;
        for _ in 0..o.length {
            let next = pick(&reader.logits, how, &mut rng);
            write!(out, "{sep}{}", spec.symbols[next as usize])?;
            out.flush()?;
            reader.read(&[next])?;
        }
        writeln!(out)?;
        Ok(())
    };
    if !o.interactive {
        return turn(o.prompt.as_deref().unwrap_or(""), &mut reader, out);
    }
    // Each line continues from where the last turn left the state.
    loop {
        eprint!("> ");
        let mut line = String::new();
        if input.read_line(&mut line).context("reading standard input")? == 0 {
            return Ok(());
        }
        turn(line.trim_end_matches(['\n', '\r']), &mut reader, out)?;
    }
}

/// Whether a model file's task is a language model.
pub fn spec_of(file: &ModelFile) -> Option<LmSpec> {
    let t = file.task.as_ref()?;
    t.get("language_model").and_then(|v| v.as_bool()).filter(|&b| b)?;
    serde_json::from_value(t.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_cover_the_text_and_targets_are_the_next_symbols() {
        let vocab = Vocab::build("abcdefghij", true, None, 1);
        let mut lm = LanguageModel::new("abcdefghijabcdefghij", true, vocab, 0.0, 3).unwrap();
        // 2 streams of 10: steps 0..3, 3..6, 6..9 (the last target is symbol 9).
        assert_eq!(lm.steps_per_epoch(2), 3);
        let mut b = Batch::default();
        let rng = &mut rand::SeedableRng::seed_from_u64(0);
        lm.train_batch(0, 2, 2, rng, &mut b);
        assert_eq!((b.batch, b.steps), (2, 3));
        assert_eq!(b.input, [6.0, 7.0, 8.0, 6.0, 7.0, 8.0]);
        assert_eq!(b.classes, [7, 8, 9, 7, 8, 9]);
    }
}
