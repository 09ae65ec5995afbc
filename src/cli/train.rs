//! `recur train <task>`: the preset, flag overrides, and the task's `train` from the registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};

use crate::cell::CellKind;
use crate::cli::ComputeArgs;
use crate::cli::progress::Progress;
use crate::optim::{OptimConfig, OptimizerKind};
use crate::task::{ModelOptions, PresetName, Setup, TASKS, TaskOptions, lookup};
use crate::train::{Schedule, TrainConfig};

/// The task names (and aliases) `recur train` accepts, with their one-line help.
fn task_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        TASKS
            .iter()
            .map(|t| t.info())
            .map(|i| PossibleValue::new(i.name).help(i.about).aliases(i.aliases.iter().copied())),
    )
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// What to train.
    #[arg(value_parser = task_names())]
    pub task: String,
    /// Starting values for every setting below; flags override them.
    #[arg(long, value_enum, default_value_t = PresetName::Default)]
    pub preset: PresetName,
    /// Recurrent cell: rnn, lstm or gru.
    #[arg(long)]
    pub cell: Option<CellKind>,
    /// Hidden size, or one per layer: `--hidden 24` or `--hidden 100,50,50`.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Learn the initial state (h0, c0) instead of starting from zeros (the addition
    /// tutorial's suggestion); stored as extra `init.*` tensors.
    #[arg(long)]
    pub learn_init: bool,
    /// Dropout on the outputs of every layer but the last, in training (as nn.LSTM's dropout).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Two directions per layer, as PyTorch's bidirectional=True: each layer also reads every
    /// sequence backwards and outputs both (2x hidden); a per-sequence head reads both final
    /// states. For tasks that see the whole sequence before answering (not text generation).
    #[arg(long)]
    pub bidirectional: bool,
    /// Number of stacked layers (repeats a single --hidden size).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Sequences per training step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule: constant or cosine (annealed to 0 over the run).
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// sgd, adam, adamw or rmsprop (PyTorch defaults otherwise).
    #[arg(long)]
    pub optimizer: Option<OptimizerKind>,
    /// SGD/RMSProp momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Clip gradients to this global L2 norm.
    #[arg(long)]
    pub clip: Option<f64>,
    /// Seed for initialization and batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to save the model (written atomically at every evaluation) [default: TASK.safetensors].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Append one JSON object per evaluation to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Evaluate and checkpoint every N epochs (0 = only at the end).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Early stopping: stop after N evaluations without a better held-out score, and keep
    /// the best model (saved as it improves).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Train for at most this many seconds, then evaluate, save and report as at the end.
    #[arg(long)]
    pub max_time: Option<f64>,
    /// Also evaluate and checkpoint every N training steps.
    #[arg(long)]
    pub eval_steps: Option<usize>,
    /// Stop once the held-out error is at or below this fraction (e.g. 0.001 = 0.1%).
    #[arg(long)]
    pub target_error: Option<f64>,
    /// Also checkpoint every N steps (`500`) or seconds (`30s`): the model file and its
    /// training state (`MODEL.state`), which `--resume` continues from.
    #[arg(long, value_name = "N|Ns")]
    pub checkpoint_every: Option<crate::train::Every>,
    /// Continue the run whose checkpoint is at --output (same task and flags): the model
    /// ends bit for bit as if the run had never stopped.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: TaskOptions,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

/// The most sequences per training step `--batch-size` may ask for (far more than fit in
/// memory for any but the smallest models).
const MAX_BATCH: usize = 1 << 20;

pub fn run(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let Some(kind) = lookup(&a.task) else { bail!("unknown task `{}`", a.task) };
    let p = kind.preset(a.preset, &a.data);
    let hidden = match (&a.hidden, a.layers) {
        (Some(h), Some(l)) if h.len() == 1 => vec![h[0]; l],
        (Some(h), Some(l)) if h.len() != l => bail!("--hidden lists {} sizes but --layers is {l}", h.len()),
        (Some(h), _) => h.clone(),
        (None, Some(l)) => vec![p.hidden[0]; l],
        (None, None) => p.hidden.clone(),
    };
    let mut optim = OptimConfig::new(a.optimizer.unwrap_or(p.optimizer), a.lr.unwrap_or(p.lr));
    if let Some(m) = a.momentum {
        optim.momentum = m;
    }
    let output = a.output.clone().unwrap_or_else(|| PathBuf::from(format!("{}.safetensors", kind.name())));
    let train = TrainConfig {
        epochs: a.epochs.unwrap_or(p.epochs),
        batch_size: a.batch_size.unwrap_or(p.batch_size),
        optim,
        schedule: a.schedule.unwrap_or(p.schedule),
        clip: a.clip.or(p.clip),
        seed: a.seed,
        threads: a.compute.threads,
        eval_every: a.eval_every.unwrap_or(p.eval_every),
        output: Some(output),
        metrics: a.metrics.clone(),
        target: a.target_error.or(p.target_error),
        patience: a.patience,
        class_weights: None,
        max_time: a.max_time,
        eval_every_steps: a.eval_steps,
        checkpoint_every: a.checkpoint_every,
        resume: a.resume,
    };
    if train.batch_size == 0 || train.epochs == 0 {
        bail!("--batch-size and --epochs must be at least 1");
    }
    if train.batch_size > MAX_BATCH {
        bail!("--batch-size {} is more than {MAX_BATCH} sequences per step", train.batch_size);
    }
    if !(train.optim.lr.is_finite() && train.optim.lr > 0.0) {
        bail!("--lr {} must be a positive number", train.optim.lr);
    }
    if let Some(c) = train.clip
        && !(c.is_finite() && c > 0.0)
    {
        bail!("--clip {c} must be a positive number (the largest allowed gradient norm)");
    }
    if let Some(t) = train.max_time
        && !(t.is_finite() && t > 0.0)
    {
        bail!("--max-time {t} must be a positive number of seconds");
    }
    if !(0.0..1.0).contains(&train.optim.momentum) {
        bail!("--momentum {} must be in [0, 1)", train.optim.momentum);
    }
    if a.dropout > 0.0 && hidden.len() == 1 {
        eprintln!(
            "recur: warning: --dropout applies between layers (and, in a language model, before the head); with one layer there is nothing between layers (as in PyTorch)"
        );
    }
    if a.momentum.is_some() && matches!(train.optim.kind, OptimizerKind::Adam | OptimizerKind::AdamW) {
        eprintln!(
            "recur: warning: --momentum has no effect with {} (its betas play that role)",
            train.optim.kind
        );
    }
    for flag in a.data.given().into_iter().filter(|f| !kind.info().flags.contains(f)) {
        eprintln!("recur: warning: {flag} does not apply to {} and is ignored", kind.name());
    }
    let model = ModelOptions {
        cell: a.cell.unwrap_or(p.cell),
        hidden,
        learn_init: a.learn_init,
        dropout: a.dropout,
        bidirectional: a.bidirectional,
    };
    let setup = Setup { preset_name: a.preset, preset: p, model, train, data: a.data };
    let mut progress = Progress::new(!a.quiet);
    let summary = kind.train(setup, &mut progress)?;
    outln!("{summary}")?;
    Ok(ExitCode::SUCCESS)
}
