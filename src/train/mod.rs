//! The training loop, written once for every task: batches from a [`Task`], loss and
//! gradients from a [`Session`], optional clipping, an optimizer step; evaluation every N
//! epochs, metrics as JSON lines, atomic checkpoints, progress reported to an [`Observer`],
//! and a stop with a clear error when the loss stops being finite (the checkpoint on disk
//! stays the last good one).
//!
//! Tasks own their data and their evaluation; this module owns nothing task-specific.

pub mod checkpoint;
pub mod metrics;

use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::io::model_file::{self, ModelFile};
use crate::model::Seqs;
use crate::model::{GradOptions, Model, Session, State, Targets};
use crate::optim::{OptimConfig, Optimizer};
pub use checkpoint::Every;
use checkpoint::{Checkpoint, Saver};
use metrics::{MetricsLog, Record};

/// One training batch, batch-first, with buffers reused between steps.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// `[B, T, I]`.
    pub input: Vec<f32>,
    /// B: sequences in the batch.
    pub batch: usize,
    /// T: steps of every sequence (the longest, when padded).
    pub steps: usize,
    /// Class targets (`ce`), `[B]` or `[B, T]`; empty otherwise.
    pub classes: Vec<u32>,
    /// Real targets (`bce`, `mse`), shaped like the logits; empty otherwise.
    pub dense: Vec<f32>,
    /// Real lengths when the sequences are padded to `steps`; empty when all are full.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// The targets, as the passes take them.
    pub fn targets(&self) -> Targets<'_, f32> {
        if self.dense.is_empty() { Targets::Classes(&self.classes) } else { Targets::Dense(&self.dense) }
    }
    /// The inputs as [`Seqs`], with their lengths when padded.
    pub fn seqs(&self) -> Seqs<'_, f32> {
        let lengths = (!self.lengths.is_empty()).then_some(&self.lengths[..]);
        Seqs { input: &self.input, batch: self.batch, steps: self.steps, lengths }
    }
}

/// Example indices walked in shuffled mini-batches, reshuffled at the start of every epoch
/// (step 0), the last batch possibly short: PyTorch's `DataLoader(shuffle=True)`. Shared by the
/// tasks that train on a fixed set of examples.
#[derive(Clone, Debug, Default)]
pub struct Shuffled {
    order: Vec<usize>,
}

impl Shuffled {
    /// A walk over these items (e.g. example indices).
    pub fn new(items: Vec<usize>) -> Self {
        Shuffled { order: items }
    }

    /// The items of batch `step` of the current epoch.
    pub fn batch(&mut self, step: usize, batch_size: usize, rng: &mut ChaCha8Rng) -> &[usize] {
        use rand::seq::SliceRandom;
        if step == 0 {
            self.order.shuffle(rng);
        }
        let n = self.order.len();
        let from = (step * batch_size) % n.max(1);
        &self.order[from..(from + batch_size).min(n)]
    }
}

/// A named held-out measurement, e.g. `("test_error", 0.0012)`.
pub type Metric = (String, f64);

/// A task's spec as the model file's `task` JSON. Specs are plain data (strings, numbers,
/// lists, string-keyed maps), which always serialize.
pub fn spec_json<S: serde::Serialize>(spec: &S) -> serde_json::Value {
    serde_json::to_value(spec).expect("specs are plain data")
}

/// What a task supplies to the loop.
pub trait Task {
    /// Training batches per epoch at this batch size.
    fn steps_per_epoch(&self, batch_size: usize) -> usize;
    /// Whether each stream's final state starts the next batch (truncated back-propagation
    /// through time: batch rows are streams that continue from one batch to the next; the
    /// state starts from zeros each epoch). False by default.
    fn carries_state(&self) -> bool {
        false
    }
    /// Fills `out` with batch `step` of `epoch` (both from 0).
    fn train_batch(
        &mut self,
        epoch: usize,
        step: usize,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Batch,
    );
    /// Held-out metrics; `final_eval` asks for the complete evaluation (it may be slower).
    fn evaluate(&self, model: &Model<f32>, sess: &mut Session<f32>, final_eval: bool) -> Result<Vec<Metric>>;
    /// What is stored in the model file's `task` metadata.
    fn task_json(&self) -> serde_json::Value;
}

/// Where a run is, after a training step.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Steps done (from 1).
    pub step: usize,
    /// Steps the run takes at most.
    pub total: usize,
    /// The mean training loss of the epoch so far.
    pub loss: f64,
    /// Sequences in this step's batch.
    pub sequences: usize,
    /// Time steps (symbols, for a language model) in this step's batch, padding left out.
    pub symbols: usize,
    /// Seconds since the run started.
    pub seconds: f64,
}

/// What a run reports as it goes: a progress display, a log. A closure `|line: &str| ...`
/// is an observer that receives only the log lines.
pub trait Observer {
    /// Before the first step, with the number of steps the run will take at most.
    fn start(&mut self, _total_steps: usize) {}
    /// After each training step.
    fn step(&mut self, _progress: &Progress) {}
    /// A line of the log: an evaluation's metrics, an early stop.
    fn log(&mut self, line: &str);
    /// Something went wrong that the run survives (a checkpoint that could not be written).
    fn warn(&mut self, message: &str) {
        self.log(&format!("warning: {message}"))
    }
    /// The run has ended, normally or with an error.
    fn finish(&mut self) {}
}

impl<F: FnMut(&str)> Observer for F {
    fn log(&mut self, line: &str) {
        self(line)
    }
}

/// How the learning rate changes over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine annealing from the rate to 0 over all steps (PyTorch `CosineAnnealingLR` with
    /// `T_max` = total steps, stepped every batch).
    Cosine,
}

impl Schedule {
    /// The rate for step `step` (from 0) of `total`.
    pub fn lr(self, base: f64, step: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Cosine => {
                base * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
            }
        }
    }
}

/// Settings of the loop itself (the model and the data are the task's and the caller's).
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Passes over the task's data (each `steps_per_epoch` steps).
    pub epochs: usize,
    /// Sequences (or streams) per step.
    pub batch_size: usize,
    /// The optimizer and its learning rate.
    pub optim: OptimConfig,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Clip gradients to this global norm.
    pub clip: Option<f64>,
    /// Seed of the batch order and dropout; with the thread count, a run repeats bit for bit.
    pub seed: u64,
    /// Threads a batch is split over.
    pub threads: usize,
    /// Evaluate (and checkpoint) every this many epochs; 0 = only at the end.
    pub eval_every: usize,
    /// Where the model is saved (atomically) at each evaluation and at the end.
    pub output: Option<PathBuf>,
    /// JSON lines appended per evaluation.
    pub metrics: Option<PathBuf>,
    /// Stop early once this metric (first of the task's) is at or below the value.
    pub target: Option<f64>,
    /// Early stopping: stop after this many evaluations without a better first metric (the
    /// task's held-out error), and keep (and save) the best model instead of the last.
    pub patience: Option<usize>,
    /// Per-class weights of the cross-entropy, for imbalanced labels.
    pub class_weights: Option<Vec<f64>>,
    /// Stop after this many seconds of training, then evaluate and save as at the end.
    pub max_time: Option<f64>,
    /// Also evaluate (and checkpoint) every this many steps.
    pub eval_every_steps: Option<usize>,
    /// Also checkpoint (without evaluating) every this many steps or seconds.
    pub checkpoint_every: Option<Every>,
    /// Continue from the training state beside `output` (see [`checkpoint`]): the result is
    /// bit for bit that of the run never stopped.
    pub resume: bool,
}

impl Default for TrainConfig {
    /// 10 epochs of batches of 32 with Adam at PyTorch's defaults (lr 1e-3), a constant rate,
    /// no clipping, seed 0, every core, an evaluation each epoch, nothing written.
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            optim: OptimConfig::new(crate::optim::OptimizerKind::Adam, 1e-3),
            schedule: Schedule::Constant,
            clip: None,
            seed: 0,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            eval_every: 1,
            output: None,
            metrics: None,
            target: None,
            patience: None,
            class_weights: None,
            max_time: None,
            eval_every_steps: None,
            checkpoint_every: None,
            resume: false,
        }
    }
}

impl TrainConfig {
    /// The settings that change what a run computes (not where it writes, how long it may
    /// take, or how often it checkpoints), as a resumed run must repeat them.
    fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": format!("{:?}", self.optim),
            "schedule": self.schedule,
            "clip": self.clip,
            "seed": self.seed,
            "threads": self.threads,
            "eval_every": self.eval_every,
            "eval_every_steps": self.eval_every_steps,
            "target": self.target,
            "patience": self.patience,
            "class_weights": self.class_weights,
        })
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// Epochs run (the last one possibly in part).
    pub epochs: usize,
    /// Training steps run.
    pub steps: usize,
    /// Wall-clock seconds, the final evaluation included.
    pub seconds: f64,
    /// The mean training loss of the last epoch.
    pub final_loss: f64,
    /// The last evaluation's metrics (the best one's, with early stopping).
    pub metrics: Vec<Metric>,
}

/// Trains `model` on `task`; `obs` sees the progress and each evaluation line as it happens.
pub fn train<K: Task + ?Sized>(
    model: &mut Model<f32>,
    task: &mut K,
    cfg: &TrainConfig,
    obs: &mut dyn Observer,
) -> Result<TrainReport> {
    let result = run(model, task, cfg, obs);
    obs.finish();
    result
}

/// The loop's position and counters, as checkpoints keep them.
#[derive(Default)]
struct Loop {
    step: usize,
    loss_acc: f64,
    loss_n: usize,
    last_loss: f64,
    /// Training predictions right / made over the epoch (the tutorials' "average accuracy").
    right: usize,
    made: usize,
    metrics: Vec<Metric>,
    /// Early stopping: the best model so far, its metrics, and evaluations since it.
    best: Option<(f64, Vec<f32>, Vec<Metric>)>,
    since_best: usize,
    /// Each stream's state, carried from batch to batch within an epoch by tasks that ask.
    carried: Option<State<f32>>,
}

/// The model file's bytes for `model` trained on `task`.
fn model_bytes<K: Task + ?Sized>(model: &Model<f32>, task: &K) -> Result<Vec<u8>> {
    model_file::to_bytes(&ModelFile { model: model.clone(), task: Some(task.task_json()), inferred: false })
}

fn run<K: Task + ?Sized>(
    model: &mut Model<f32>,
    task: &mut K,
    cfg: &TrainConfig,
    obs: &mut dyn Observer,
) -> Result<TrainReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_da7a);
    let mut sess = Session::<f32>::new(cfg.threads);
    sess.dropout_seed = cfg.seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    sess.class_weights = cfg.class_weights.clone();
    let mut eval_sess = Session::<f32>::new(cfg.threads);
    let mut opt = Optimizer::<f32>::new(cfg.optim.clone());
    // A model path that cannot be written fails now, not at the first checkpoint.
    if let Some(out) = &cfg.output {
        crate::io::atomic::check_writable(out)?;
    }
    let per_epoch = task.steps_per_epoch(cfg.batch_size).max(1);
    let total = per_epoch.checked_mul(cfg.epochs).filter(|&t| t < 1 << 48).ok_or_else(|| {
        Error::Input(format!(
            "{} epochs of {per_epoch} steps are more steps than a run can count",
            cfg.epochs
        ))
    })?;
    let mut saver = cfg.output.as_deref().map(|path| Saver {
        path,
        run: serde_json::json!({
            "task": task.task_json(),
            "model": model.config,
            "parameters": model.params.len(),
            "train": cfg.identity(),
        }),
        on_disk: None,
        last_good: None,
        last_time: 0.0,
    });
    let mut l = Loop { last_loss: f64::NAN, ..Loop::default() };
    let (mut first_epoch, mut first_step, mut seconds_before) = (0, 0, 0.0);
    if cfg.resume {
        let saver =
            saver.as_mut().ok_or_else(|| Error::Input("--resume needs the model file to resume".into()))?;
        let ck = Checkpoint::load(saver.path)?;
        ck.check_run(&saver.run, &checkpoint::state_path(saver.path))?;
        let p = &ck.progress;
        (first_epoch, first_step, seconds_before) = (p.epoch, p.next_step, p.seconds);
        // Replay the batches before the checkpoint, so that the generator and the task's own
        // walk (shuffled orders, offsets) are where they were.
        let mut batch = Batch::default();
        for (e, s) in (0..p.epoch)
            .flat_map(|e| (0..per_epoch).map(move |s| (e, s)))
            .chain((0..p.next_step).map(|s| (p.epoch, s)))
        {
            task.train_batch(e, s, cfg.batch_size, &mut rng, &mut batch);
        }
        if rng.get_word_pos().to_string() != p.rng_word_pos {
            return Err(Error::Input(format!(
                "cannot resume from {}: replaying its batches did not reach the checkpointed position (the data differ)",
                checkpoint::state_path(saver.path).display()
            )));
        }
        model.params = ck.params;
        opt.restore(p.optim_step, ck.optim_m, ck.optim_v);
        sess.dropout_seed = p.dropout_seed;
        l = Loop {
            step: p.step,
            loss_acc: p.loss_acc,
            loss_n: p.loss_n,
            last_loss: p.last_loss.unwrap_or(f64::NAN),
            right: p.right,
            made: p.made,
            metrics: p.metrics.clone(),
            best: ck.best_params.map(|b| (p.best_score.unwrap_or(f64::INFINITY), b, p.best_metrics.clone())),
            since_best: p.since_best,
            carried: ck.carried,
        };
        saver.on_disk = std::fs::read(saver.path).ok().map(|b| checkpoint::checksum(&b));
        saver.last_good = Some(p.step);
        saver.last_time = p.seconds;
        obs.log(&format!("resumed from {} at step {} (epoch {})", saver.path.display(), p.step, p.epoch + 1));
    }
    let mut metrics_log = match (&cfg.metrics, cfg.resume) {
        (Some(p), true) => Some(MetricsLog::resume(p, l.step)?),
        (Some(p), false) => Some(MetricsLog::create(p)?),
        (None, _) => None,
    };
    obs.start(total);
    let start = Instant::now();
    let elapsed = || seconds_before + start.elapsed().as_secs_f64();
    let mut batch = Batch::default();
    let carry = task.carries_state();
    let mut epochs_run = first_epoch;
    'epochs: for epoch in first_epoch..cfg.epochs {
        let from = if epoch == first_epoch { first_step } else { 0 };
        if from == 0 {
            (l.carried, l.loss_acc, l.loss_n, l.right, l.made) = (None, 0.0, 0, 0, 0);
        }
        epochs_run = epoch + 1;
        for s in from..per_epoch {
            task.train_batch(epoch, s, cfg.batch_size, &mut rng, &mut batch);
            let seqs = batch.seqs();
            // Nothing reads the gradients but clipping, which works on pending ones too, and
            // the update.
            let opts = GradOptions { fused_update: true, final_state: carry, ..Default::default() };
            let sum = sess.loss_and_grad(model, seqs, l.carried.as_ref(), batch.targets(), opts)?;
            if carry {
                l.carried = Some(sess.final_state(model));
            }
            let loss = sum.mean();
            l.step += 1;
            let step = l.step;
            if !loss.is_finite() {
                return Err(Error::Diverged { step, loss });
            }
            if let Some(max) = cfg.clip {
                let norm = sess.clip_grad_norm(model, max);
                if !norm.is_finite() {
                    return Err(Error::DivergedGrad { step, norm });
                }
            }
            opt.config.lr = cfg.schedule.lr(cfg.optim.lr, step - 1, total);
            sess.update(model, &mut opt);
            l.loss_acc += loss;
            l.loss_n += 1;
            l.right += sum.correct;
            l.made += sum.count;
            obs.step(&Progress {
                step,
                total,
                loss: l.loss_acc / l.loss_n as f64,
                sequences: batch.batch,
                symbols: batch.lengths.iter().sum::<usize>().max(batch.batch * batch.steps),
                seconds: elapsed(),
            });
            l.last_loss = l.loss_acc / l.loss_n as f64;
            // The budget is this invocation's: a resumed run gets it afresh.
            let out_of_time = cfg.max_time.is_some_and(|t| start.elapsed().as_secs_f64() >= t);
            let epoch_end = s + 1 == per_epoch;
            let last = out_of_time || (epoch_end && epoch + 1 == cfg.epochs);
            let due = (epoch_end && cfg.eval_every > 0 && (epoch + 1) % cfg.eval_every == 0)
                || cfg.eval_every_steps.is_some_and(|n| n > 0 && step.is_multiple_of(n));
            // Where a resumed run would start after this step.
            let (next_epoch, next_step) = if epoch_end { (epoch + 1, 0) } else { (epoch, s + 1) };
            let snapshot = |l: &Loop, opt: &Optimizer<f32>, sess: &Session<f32>, rng: &ChaCha8Rng| {
                let (m, v) = opt.moments();
                Checkpoint {
                    progress: checkpoint::Progress {
                        epoch: next_epoch,
                        next_step,
                        step: l.step,
                        loss_acc: l.loss_acc,
                        loss_n: l.loss_n,
                        right: l.right,
                        made: l.made,
                        last_loss: Some(l.last_loss),
                        metrics: l.metrics.clone(),
                        since_best: l.since_best,
                        best_score: l.best.as_ref().map(|b| b.0),
                        best_metrics: l.best.as_ref().map_or(Vec::new(), |b| b.2.clone()),
                        dropout_seed: sess.dropout_seed,
                        optim_step: opt.step,
                        rng_word_pos: rng.get_word_pos().to_string(),
                        seconds: elapsed(),
                    },
                    params: model.params.clone(),
                    optim_m: m.to_vec(),
                    optim_v: v.to_vec(),
                    carried: if epoch_end { None } else { l.carried.clone() },
                    best_params: l.best.as_ref().map(|b| b.1.clone()),
                    ..Checkpoint::default()
                }
            };
            if !(due || last) {
                let checkpoint_due = match cfg.checkpoint_every {
                    Some(Every::Steps(n)) => step.is_multiple_of(n),
                    Some(Every::Seconds(t)) => saver.as_ref().is_some_and(|sv| elapsed() - sv.last_time >= t),
                    None => false,
                };
                if let Some(sv) = saver.as_mut().filter(|_| checkpoint_due) {
                    // Without early stopping the model file follows the latest parameters.
                    let bytes = cfg.patience.is_none().then(|| model_bytes(model, &*task)).transpose()?;
                    if let Err(e) = sv.save(snapshot(&l, &opt, &sess, &rng), bytes, elapsed()) {
                        obs.warn(&format!("checkpoint at step {step} failed: {e}; {}", sv.kept()));
                    }
                }
                continue;
            }
            if out_of_time && !(epoch_end && epoch + 1 == cfg.epochs) {
                obs.log(&format!(
                    "time budget of {}s reached after {step} steps",
                    cfg.max_time.unwrap_or(0.0)
                ));
            }
            l.metrics = task.evaluate(model, &mut eval_sess, last)?;
            let mut shown = l.metrics.clone();
            if l.made > 0 {
                shown.push(("train_accuracy".into(), l.right as f64 / l.made as f64));
            }
            let rec = Record {
                epoch: epoch + 1,
                step,
                train_loss: l.last_loss,
                seconds: elapsed(),
                metrics: shown,
            };
            obs.log(&rec.line());
            if let Some(m) = metrics_log.as_mut() {
                m.append(&rec)?;
            }
            let score = l.metrics.first().map_or(f64::INFINITY, |m| m.1);
            let improved = l.best.as_ref().is_none_or(|b| score < b.0);
            if cfg.patience.is_some() {
                if improved {
                    l.best = Some((score, model.params.clone(), l.metrics.clone()));
                    l.since_best = 0;
                } else {
                    l.since_best += 1;
                }
            }
            let stop_early = cfg.patience.is_some_and(|p| l.since_best >= p);
            let reached = cfg.target.is_some_and(|t| l.metrics.first().is_some_and(|m| m.1 <= t));
            if reached {
                // One complete evaluation for the record, then stop.
                l.metrics = task.evaluate(model, &mut eval_sess, true)?;
                let rec = Record {
                    epoch: epoch + 1,
                    step,
                    train_loss: l.last_loss,
                    seconds: elapsed(),
                    metrics: l.metrics.clone(),
                };
                obs.log(&format!("target reached; {}", rec.line()));
                if let Some(m) = metrics_log.as_mut() {
                    m.append(&rec)?;
                }
            }
            let end = last || stop_early || reached;
            // With early stopping the file holds the best model; otherwise the latest.
            if let Some(sv) = saver.as_mut() {
                let bytes =
                    (cfg.patience.is_none() || improved).then(|| model_bytes(model, &*task)).transpose()?;
                let mut ck = snapshot(&l, &opt, &sess, &rng);
                if end && !out_of_time {
                    // A finished run resumes to its end; one out of time continues.
                    (ck.progress.epoch, ck.progress.next_step) = (cfg.epochs, 0);
                }
                if let Err(e) = sv.save(ck, bytes, elapsed()) {
                    if end {
                        return Err(Error::Input(format!("could not save the model: {e}; {}", sv.kept())));
                    }
                    obs.warn(&format!("checkpoint at step {step} failed: {e}; {}", sv.kept()));
                }
            }
            if stop_early {
                obs.log(&format!("early stop: no better held-out score in {} evaluations", l.since_best));
            }
            if end {
                break 'epochs;
            }
        }
    }
    if let Some((_, params, m)) = l.best {
        // Keep the best model, as saved.
        model.params = params;
        l.metrics = m;
    }
    Ok(TrainReport {
        epochs: epochs_run,
        steps: l.step,
        seconds: elapsed(),
        final_loss: l.last_loss,
        metrics: l.metrics,
    })
}
