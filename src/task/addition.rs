//! `addition`, from the tutorial "Simple implementation of LSTM in Tensorflow in 50 lines":
//! add two binary numbers, one bit per time step.
//!
//! As the tutorial: both summands least-significant bit first, step t holds bit t of each
//! (2 features), and the target at step t is bit t of the sum (one sigmoid output per step,
//! binary cross-entropy). With `bits` = NUM_BITS the summands are drawn from
//! 0..=2^(bits-1)-1 so the sum always fits. Training draws fresh random pairs every step.
//!
//! Beyond the tutorial: one pair in ten (by a fixed hash) is held out and never drawn for
//! training, so validation measures pairs the model has not seen; whole-sum accuracy is
//! reported beside the tutorial's per-bit accuracy; and since the sequence length is a run-time
//! value, a model trained on 10-bit numbers is also evaluated on 16-, 32- and 64-bit numbers.

use crate::model::Seqs;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use std::io::Write;
use std::path::Path;

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::io::model_file::{ModelFile, describe};
use crate::model::{HeadKind, Init, LossKind, Model, Session};
use crate::optim::OptimizerKind;
use crate::task::{
    EvalOptions, Info, PredictOptions, Preset, PresetName, Setup, TaskKind, TaskOptions, fit, metric, ran,
};
use crate::train::{Batch, Metric, Observer, Schedule, Task};

/// What the model file records about the task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdditionSpec {
    /// `addition`.
    pub name: String,
    /// NUM_BITS of training: time steps per training sequence.
    pub bits: usize,
}

/// Generator and evaluator.
pub struct Addition {
    /// What the model file records.
    pub spec: AdditionSpec,
    /// Training steps per epoch (the tutorial's ITERATIONS_PER_EPOCH).
    pub iters_per_epoch: usize,
    /// Held-out pairs per validation (the tutorial uses one batch of 100).
    pub valid_size: usize,
}

/// Lengths for the length-generalization check.
pub const LONG_BITS: [usize; 3] = [16, 32, 64];

/// Whether the pair (a, b) is held out of training (about one in ten, fixed).
pub fn held_out(a: u64, b: u64) -> bool {
    // splitmix64 of the pair: a fixed, well-mixed hash.
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).is_multiple_of(10)
}

/// A random pair of `bits`-bit problems: summands in 0..=2^(bits-1)-1, from the training pairs
/// (`train`) or from the held-out ones.
pub fn sample_pair(rng: &mut ChaCha8Rng, bits: usize, train: bool) -> (u64, u64) {
    let max = if bits >= 65 { u64::MAX } else { (1u64 << (bits - 1)) - 1 };
    loop {
        let (a, b) = (rng.random_range(0..=max), rng.random_range(0..=max));
        if held_out(a, b) != train {
            return (a, b);
        }
    }
}

/// Appends inputs `[N, bits, 2]` (LSB first) and targets `[N, bits, 1]` (bits of the sum).
pub fn encode(pairs: &[(u64, u64)], bits: usize, input: &mut Vec<f32>, target: &mut Vec<f32>) {
    for &(a, b) in pairs {
        let sum = a as u128 + b as u128;
        for t in 0..bits {
            let bit = |x: u128| if t < 128 { ((x >> t) & 1) as f32 } else { 0.0 };
            input.push(bit(a as u128));
            input.push(bit(b as u128));
            target.push(bit(sum));
        }
    }
}

/// Reads a number from per-step logits (LSB first), a bit being 1 when its logit is > 0.
pub fn decode(logits: &[f32]) -> u128 {
    logits.iter().enumerate().filter(|(t, l)| **l > 0.0 && *t < 128).fold(0u128, |acc, (t, _)| acc | 1 << t)
}

/// Per-bit and whole-sum accuracy over pairs.
pub fn accuracy(
    model: &Model<f32>,
    sess: &mut Session<f32>,
    pairs: &[(u64, u64)],
    bits: usize,
) -> Result<(f64, f64)> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    encode(pairs, bits, &mut x, &mut y);
    let out = sess.forward(model, Seqs::new(&x, pairs.len(), bits), None)?;
    let (mut bit_ok, mut sum_ok) = (0usize, 0usize);
    for (logits, want) in out.logits.chunks(bits).zip(y.chunks(bits)) {
        let ok = logits.iter().zip(want).filter(|(l, w)| (**l > 0.0) == (**w > 0.5)).count();
        bit_ok += ok;
        sum_ok += (ok == bits) as usize;
    }
    Ok((bit_ok as f64 / (pairs.len() * bits) as f64, sum_ok as f64 / pairs.len() as f64))
}

impl Addition {
    /// Sums of `bits` bits (4..=64) per training sequence, 100 steps an epoch, 1000 held-out pairs.
    pub fn new(bits: usize) -> Result<Self> {
        if !(4..=64).contains(&bits) {
            return Err(Error::BadConfig {
                field: "bits".into(),
                value: bits.to_string(),
                reason: "must be 4..=64 (below 4 too few pairs exist to hold one in ten out)".into(),
            });
        }
        Ok(Addition {
            spec: AdditionSpec { name: "addition".into(), bits },
            iters_per_epoch: 100,
            valid_size: 1000,
        })
    }

    /// The fixed held-out pairs of a given length (seeded, so every evaluation sees the same).
    pub fn held_out_pairs(&self, bits: usize, n: usize) -> Vec<(u64, u64)> {
        let mut rng = ChaCha8Rng::seed_from_u64(0xadd ^ bits as u64);
        (0..n).map(|_| sample_pair(&mut rng, bits, false)).collect()
    }

    /// Validation on held-out pairs of the training length, and with `long`, on 16/32/64 bits.
    pub fn metrics(&self, model: &Model<f32>, sess: &mut Session<f32>, long: bool) -> Result<Vec<Metric>> {
        let bits = self.spec.bits;
        let (bit_acc, sum_acc) = accuracy(model, sess, &self.held_out_pairs(bits, self.valid_size), bits)?;
        let mut m = vec![
            ("valid_sum_error".to_string(), 1.0 - sum_acc),
            ("valid_bit_accuracy".to_string(), bit_acc),
            ("valid_sum_accuracy".to_string(), sum_acc),
        ];
        if long {
            for b in LONG_BITS {
                let (_, acc) = accuracy(model, sess, &self.held_out_pairs(b, self.valid_size), b)?;
                m.push((format!("sum{b}_accuracy"), acc));
            }
        }
        Ok(m)
    }
}

impl Task for Addition {
    fn steps_per_epoch(&self, _batch_size: usize) -> usize {
        self.iters_per_epoch
    }

    fn train_batch(
        &mut self,
        _epoch: usize,
        _step: usize,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Batch,
    ) {
        let bits = self.spec.bits;
        let pairs: Vec<(u64, u64)> = (0..batch_size).map(|_| sample_pair(rng, bits, true)).collect();
        out.input.clear();
        out.dense.clear();
        out.classes.clear();
        encode(&pairs, bits, &mut out.input, &mut out.dense);
        out.batch = batch_size;
        out.steps = bits;
    }

    fn evaluate(&self, model: &Model<f32>, sess: &mut Session<f32>, final_eval: bool) -> Result<Vec<Metric>> {
        self.metrics(model, sess, final_eval)
    }

    fn task_json(&self) -> serde_json::Value {
        crate::train::spec_json(&self.spec)
    }
}

/// Parses a summand given on the command line.
pub fn parse_summand(s: &str) -> Result<u64> {
    s.trim().parse::<u64>().map_err(|_| {
        Error::Input(format!(
            "`{s}` is not a whole number from 0 to {} (the summands of `recur predict`)",
            u64::MAX
        ))
    })
}

/// The most held-out pairs `--valid-size` may ask for (each evaluation scores them all).
const MAX_VALID: usize = 1 << 20;

/// The registry's entry.
pub static ADDITION: AdditionTask = AdditionTask;

/// `recur train addition`.
pub struct AdditionTask;

impl TaskKind for AdditionTask {
    fn info(&self) -> &'static Info {
        &Info {
            name: "addition",
            aliases: &[],
            about: "Add two binary numbers, one bit per step.",
            flags: &["--bits", "--iters-per-epoch", "--valid-size"],
        }
    }

    fn check(&self, file: &ModelFile) -> std::result::Result<(), String> {
        let _: AdditionSpec = crate::task::read_spec(file)?;
        crate::task::outputs_fit(file, 1, "the sum's bit, per step")
    }

    fn preset(&self, p: PresetName, _d: &TaskOptions) -> Preset {
        match p {
            PresetName::Seed => Preset {
                bits: 10,             // NUM_BITS = 10
                cell: CellKind::Lstm, // BasicLSTMCell (RNN and GRU by --cell)
                hidden: vec![20],     // RNN_HIDDEN = 20
                batch_size: 16,       // BATCH_SIZE = 16
                epochs: 1000,         // for epoch in range(1000), 100 iterations each
                optimizer: OptimizerKind::Adam,
                lr: 0.01, // LEARNING_RATE = 0.01
                schedule: Schedule::Constant,
                clip: None,
                eval_every: 50, // the tutorial validates every epoch; every 50 keeps the log short
                target_error: None,
                shuffle: false,
                eval_size: 0,
                iters_per_epoch: Some(100), // ITERATIONS_PER_EPOCH = 100
                embedding: 0,
                init: Init::PyTorch,
            },
            // Batches of 64: fewer, better-averaged steps; 20 epochs = 2000 steps, seconds.
            PresetName::Default => Preset {
                bits: 10,
                shuffle: false,
                iters_per_epoch: Some(100),
                ..Preset::adam(20, 64, 20, 0.01)
            },
        }
    }

    fn train(&self, s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
        let d = &s.data;
        let bits = d.bits.unwrap_or(s.preset.bits);
        let mut task = Addition::new(bits)?;
        task.iters_per_epoch = d.iters_per_epoch.or(s.preset.iters_per_epoch).unwrap_or(100).max(1);
        task.valid_size = d.valid_size.unwrap_or(1000).max(1);
        if task.valid_size > MAX_VALID {
            anyhow::bail!("--valid-size {} is more than {MAX_VALID} held-out pairs", task.valid_size);
        }
        let mut model = s.new_model(s.model_config(2, 1, HeadKind::Step, LossKind::Bce))?;
        let data = format!("{bits}-bit sequences, fresh pairs each step, 1 in 10 pairs held out");
        let report = fit("addition", &mut model, &mut task, &s.train, &data, obs)?;
        let m = |k: &str| metric(&report, k) * 100.0;
        Ok(format!(
            "done: held-out sums {:.2}% right ({:.2}% of bits) at {bits} bits; {:.2}% / {:.2}% / {:.2}% at 16 / 32 / 64 bits; {}",
            m("valid_sum_accuracy"),
            m("valid_bit_accuracy"),
            m("sum16_accuracy"),
            m("sum32_accuracy"),
            m("sum64_accuracy"),
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
        let spec: AdditionSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        let task = Addition::new(spec.bits)?;
        let m = task.metrics(&file.model, sess, true)?;
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map_or(f64::NAN, |x| x.1 * 100.0);
        writeln!(
            out,
            "{}: held-out sums {:.2}% right ({:.2}% of bits) at {} bits; {:.2}% / {:.2}% / {:.2}% at 16 / 32 / 64 bits ({} pairs each)",
            describe(&file.model.config),
            get("valid_sum_accuracy"),
            get("valid_bit_accuracy"),
            spec.bits,
            get("sum16_accuracy"),
            get("sum32_accuracy"),
            get("sum64_accuracy"),
            task.valid_size
        )?;
        Ok(())
    }

    fn predict(
        &self,
        file: &ModelFile,
        inputs: &[String],
        _o: &PredictOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        if !inputs.len().is_multiple_of(2) {
            anyhow::bail!("give summands in pairs, e.g. `123 456`");
        }
        let spec: AdditionSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        for pair in inputs.chunks(2) {
            let (x, y) = (parse_summand(&pair[0])?, parse_summand(&pair[1])?);
            let want = x as u128 + y as u128;
            // Any length runs: one step per bit of the sum, at least the training length.
            let bits = (128 - want.leading_zeros() as usize).max(spec.bits);
            let (mut inp, mut tgt) = (Vec::new(), Vec::new());
            encode(&[(x, y)], bits, &mut inp, &mut tgt);
            let logits = sess.forward(&file.model, Seqs::new(&inp, 1, bits), None)?.logits;
            let got = decode(&logits);
            let shown: String = logits.iter().rev().map(|&l| if l > 0.0 { '1' } else { '0' }).collect();
            let verdict =
                if got == want { "correct".to_string() } else { format!("wrong: the sum is {want}") };
            writeln!(out, "{x} + {y} = {got}  (bits {shown}, {bits} steps; {verdict})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_lsb_first_with_the_sum_bits_as_targets() {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        encode(&[(3, 1)], 4, &mut x, &mut y);
        assert_eq!(x, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(y, [0.0, 0.0, 1.0, 0.0]);
        assert_eq!(decode(&[-1.0, -2.0, 3.0, -0.5]), 4);
    }

    #[test]
    fn held_out_pairs_are_a_tenth_and_never_drawn_for_training() {
        let n = (0..100u64)
            .flat_map(|a| (0..100u64).map(move |b| (a, b)))
            .filter(|&(a, b)| held_out(a, b))
            .count();
        assert!((800..1200).contains(&n), "{n} of 10000 held out");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!((0..5000).all(|_| {
            let (a, b) = sample_pair(&mut rng, 10, true);
            !held_out(a, b) && a < 512 && b < 512
        }));
        let (a, b) = sample_pair(&mut rng, 64, false);
        assert!(held_out(a, b));
        // The smallest allowed length still has pairs on both sides.
        let four: Vec<bool> = (0..8u64).flat_map(|a| (0..8u64).map(move |b| held_out(a, b))).collect();
        assert!(four.iter().any(|&h| h) && four.iter().any(|&h| !h));
        assert!(Addition::new(3).is_err());
    }

    #[test]
    fn summands_must_be_numbers() {
        let e = parse_summand("12a").unwrap_err().to_string();
        assert!(e.contains("`12a` is not a whole number"), "{e}");
        assert_eq!(parse_summand(" 579 ").unwrap(), 579);
    }
}
