//! `recur train <task>`: presets, flag overrides, and the call into [`recur::train`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cell::CellKind;
use crate::cli::ComputeArgs;
use crate::cli::presets::preset;
use crate::data::addition::Addition;
use crate::data::bitcount::BitCount;
use crate::data::mnist::{Dataset, Mnist, MnistSpec, format_confusion};
use crate::data::text::{BELLING_THE_CAT, Text, Walk};
use crate::io::model_file::describe;
use crate::model::{HeadKind, LossKind, Model, ModelConfig};
use crate::optim::{OptimConfig, OptimizerKind};
use crate::train::{Schedule, Task, TrainConfig, TrainReport, train};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TaskName {
    /// Count the 1s in 20-bit strings (seed program a).
    Bitcount,
    /// Add two binary numbers, one bit per step (seed program b).
    Addition,
    /// Classify 28x28 images read one row per step: MNIST or Fashion-MNIST (seed program d).
    Mnist,
    /// Predict the next word (or character) of a text, then generate (seed program c).
    #[value(alias = "aesop")]
    Text,
    /// Classify your own sequences from a CSV/TSV, JSON Lines or .npy file (--data), any lengths.
    Classify,
    /// Predict a number from each of your own sequences (--data, --label-column), MSE.
    Regress,
    /// Forecast the next values of a numeric time series in a CSV file (--data).
    Forecast,
    /// A label per time step: symbol or number sequences with one label per step (--data).
    Label,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetName {
    /// The best fast setup found for the task.
    Default,
    /// The tutorial's own setup, to reproduce its figure.
    Seed,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// What to train.
    pub task: TaskName,
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
    /// classify, label: `balanced` weighs each class's loss by N / (classes x its count), for
    /// imbalanced labels (PyTorch's CrossEntropyLoss(weight=...)).
    #[arg(long, value_parser = ["balanced"])]
    pub class_weights: Option<String>,
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
    /// Where to save the model (written atomically at every evaluation).
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
    /// Stop once the held-out error is at or below this fraction (e.g. 0.001 = 0.1%).
    #[arg(long)]
    pub target_error: Option<f64>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: TaskArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

#[derive(Args, Debug)]
pub struct TaskArgs {
    /// Bits per string (bitcount, default 20) or per training sequence (addition, default 10).
    #[arg(long)]
    pub bits: Option<usize>,
    /// bitcount: training strings (the rest are the test set) [default: 10000].
    #[arg(long)]
    pub train_size: Option<usize>,
    /// bitcount: seed of the train/test shuffle [default: 0].
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// bitcount: test strings per evaluation during training (0 = all; the final one uses all).
    #[arg(long)]
    pub eval_size: Option<usize>,
    /// addition: training steps per epoch (the tutorial's ITERATIONS_PER_EPOCH) [default: 100].
    #[arg(long)]
    pub iters_per_epoch: Option<usize>,
    /// addition: held-out pairs per validation [default: 1000].
    #[arg(long)]
    pub valid_size: Option<usize>,
    /// mnist: directory with the IDX files [default: ../shared/data/mnist, or
    /// /usr/share/datasets/fashion-mnist for --dataset fashion].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// mnist: mnist or fashion (Fashion-MNIST, with its class names).
    #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
    pub dataset: Dataset,
    /// mnist: train on the first N test images and evaluate on the rest (for when the
    /// training files are absent).
    #[arg(long)]
    pub split_test: Option<usize>,
    /// text: a UTF-8 file to learn [default: the tutorial's fable, built in].
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// text: characters instead of words as symbols.
    #[arg(long)]
    pub char: bool,
    /// text: symbols in per prediction [default: 3].
    #[arg(long)]
    pub window: Option<usize>,
    /// text: hold out this fraction of the text's tail; report accuracy and perplexity on it.
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// text, classify: embedding size (0 = feed each id as one float, as the tutorial does).
    #[arg(long)]
    pub embedding: Option<usize>,
    /// classify, regress, label, forecast: the data file, one sequence per row (.csv, .tsv,
    /// .jsonl; or X.npy with --targets), or one time step per row (forecast).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// classify: the column holding the label.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// classify: the column holding the sequence (symbols like `ARTMC`, numbers `0.1 0.5`, or
    /// several features per step `0.1 2;0.5 3`).
    #[arg(long, default_value = "sequence")]
    pub sequence_column: String,
    /// classify, regress: rows held out as a test set, scored once at the end [default: 0].
    #[arg(long)]
    pub test_fraction: Option<f64>,
    /// forecast: the value columns [default: all but a t/time/date/step column].
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// forecast: rows predicted from each window.
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    #[command(flatten)]
    pub files: crate::cli::train_files::FileArgs,
}

pub fn run(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let p = preset(a.task, a.preset);
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
    let output =
        a.output.clone().unwrap_or_else(|| PathBuf::from(format!("{:?}.safetensors", a.task).to_lowercase()));
    let mut cfg = TrainConfig {
        epochs: a.epochs.unwrap_or(p.epochs),
        batch_size: a.batch_size.unwrap_or(p.batch_size),
        optim,
        schedule: a.schedule.unwrap_or(p.schedule),
        clip: a.clip.or(p.clip),
        seed: a.seed,
        threads: a.compute.threads,
        eval_every: a.eval_every.unwrap_or(p.eval_every),
        output: Some(output.clone()),
        metrics: a.metrics.clone(),
        progress: !a.quiet,
        target: a.target_error.or(p.target_error),
        patience: a.patience,
        class_weights: None,
    };
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        bail!("--batch-size and --epochs must be at least 1");
    }
    if !(cfg.optim.lr.is_finite() && cfg.optim.lr > 0.0) {
        bail!("--lr {} must be a positive number", cfg.optim.lr);
    }
    if cfg.clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
        bail!(
            "--clip {} must be a positive number (the largest allowed gradient norm)",
            cfg.clip.unwrap_or(0.0)
        );
    }
    if !(0.0..1.0).contains(&cfg.optim.momentum) {
        bail!("--momentum {} must be in [0, 1)", cfg.optim.momentum);
    }
    if a.dropout > 0.0 && hidden.len() == 1 {
        eprintln!(
            "recur: warning: --dropout applies between layers; with one layer it does nothing (as in PyTorch)"
        );
    }
    if a.momentum.is_some() && matches!(cfg.optim.kind, OptimizerKind::Adam | OptimizerKind::AdamW) {
        eprintln!(
            "recur: warning: --momentum has no effect with {} (its betas play that role)",
            cfg.optim.kind
        );
    }
    let d = &a.data;
    let not_mnist = [("--data-dir", d.data_dir.is_some()), ("--split-test", d.split_test.is_some())];
    let ignored: Vec<(&str, bool)> = match a.task {
        TaskName::Bitcount => {
            [("--iters-per-epoch", d.iters_per_epoch.is_some()), ("--valid-size", d.valid_size.is_some())]
                .into_iter()
                .chain(not_mnist)
                .collect()
        }
        TaskName::Addition => [
            ("--train-size", d.train_size.is_some()),
            ("--data-seed", d.data_seed.is_some()),
            ("--eval-size", d.eval_size.is_some()),
        ]
        .into_iter()
        .chain(not_mnist)
        .collect(),
        TaskName::Text => vec![
            ("--train-size", d.train_size.is_some()),
            ("--data-seed", d.data_seed.is_some()),
            ("--eval-size", d.eval_size.is_some()),
            ("--valid-size", d.valid_size.is_some()),
            ("--bits", d.bits.is_some()),
            ("--data-dir", d.data_dir.is_some()),
            ("--split-test", d.split_test.is_some()),
        ],
        TaskName::Classify | TaskName::Regress | TaskName::Forecast | TaskName::Label => vec![
            ("--train-size", d.train_size.is_some()),
            ("--data-seed", d.data_seed.is_some()),
            ("--eval-size", d.eval_size.is_some()),
            ("--bits", d.bits.is_some()),
            ("--data-dir", d.data_dir.is_some()),
            ("--split-test", d.split_test.is_some()),
            ("--text", d.text.is_some()),
        ],
        TaskName::Mnist => vec![
            ("--train-size", d.train_size.is_some()),
            ("--data-seed", d.data_seed.is_some()),
            ("--eval-size", d.eval_size.is_some()),
            ("--valid-size", d.valid_size.is_some()),
            ("--bits", d.bits.is_some()),
        ],
    };
    for (flag, _) in ignored.iter().filter(|f| f.1) {
        eprintln!("recur: warning: {flag} does not apply to {:?} and is ignored", a.task);
    }
    let bits = d.bits.unwrap_or(p.bits);
    let cell = a.cell.unwrap_or(p.cell);
    let rng = &mut ChaCha8Rng::seed_from_u64(a.seed);
    match a.task {
        TaskName::Bitcount => {
            let mut task = BitCount::new(bits, d.train_size.unwrap_or(10_000), d.data_seed.unwrap_or(0))?;
            task.shuffle = p.shuffle;
            task.eval_size = d.eval_size.unwrap_or(p.eval_size);
            let mc = ModelConfig {
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
                ..ModelConfig::new(cell, 1, hidden, bits + 1, HeadKind::Last, LossKind::CrossEntropy)
            };
            let mut model = Model::<f32>::new(mc, rng)?;
            let data = format!("{} train / {} test strings", task.train.len(), task.test.len());
            let report = fit("bitcount", &mut model, &mut task, &cfg, &data)?;
            let err = report.metrics.first().map_or(f64::NAN, |m| m.1);
            let wrong = (err * task.test.len() as f64).round();
            outln!(
                "done: test error {:.4}% on all {} test strings ({wrong} wrong; {} of them have a count never seen in training) after {} epochs, {} steps, {:.1}s; saved {}",
                err * 100.0,
                task.test.len(),
                task.unseen_class_strings(),
                report.epochs,
                report.steps,
                report.seconds,
                output.display()
            )?;
        }
        TaskName::Addition => {
            let mut task = Addition::new(bits)?;
            task.iters_per_epoch = d.iters_per_epoch.or(p.iters_per_epoch).unwrap_or(100).max(1);
            task.valid_size = d.valid_size.unwrap_or(1000).max(1);
            let mc = ModelConfig {
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
                ..ModelConfig::new(cell, 2, hidden, 1, HeadKind::Step, LossKind::Bce)
            };
            let mut model = Model::<f32>::new(mc, rng)?;
            let data = format!("{bits}-bit sequences, fresh pairs each step, 1 in 10 pairs held out");
            let report = fit("addition", &mut model, &mut task, &cfg, &data)?;
            let m = |k: &str| report.metrics.iter().find(|(n, _)| n == k).map_or(f64::NAN, |x| x.1 * 100.0);
            outln!(
                "done: held-out sums {:.2}% right ({:.2}% of bits) at {bits} bits; {:.2}% / {:.2}% / {:.2}% at 16 / 32 / 64 bits; {} epochs, {} steps, {:.1}s; saved {}",
                m("valid_sum_accuracy"),
                m("valid_bit_accuracy"),
                m("sum16_accuracy"),
                m("sum32_accuracy"),
                m("sum64_accuracy"),
                report.epochs,
                report.steps,
                report.seconds,
                output.display()
            )?;
        }
        TaskName::Mnist => {
            let spec = MnistSpec {
                name: "mnist".into(),
                dataset: d.dataset,
                data_dir: d.data_dir.clone().unwrap_or_else(|| d.dataset.default_dir()),
                split_test: d.split_test,
            };
            let mut task = Mnist::load(spec)?;
            task.iters_per_epoch = d.iters_per_epoch.or(p.iters_per_epoch);
            let mc = ModelConfig {
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
                ..ModelConfig::new(cell, 28, hidden, 10, HeadKind::Last, LossKind::CrossEntropy)
            };
            let mut model = Model::<f32>::new(mc, rng)?;
            let data =
                format!("{:?} {} train / {} test images", d.dataset, task.train.len(), task.test.len());
            let report = fit("mnist", &mut model, &mut task, &cfg, &data)?;
            let mut sess = crate::model::Session::new(cfg.threads);
            let cm = task.confusion(&model, &mut sess)?;
            outln!(
                "confusion matrix on the test images:\n{}",
                format_confusion(&cm, &d.dataset.class_names())
            )?;
            let m = |k: &str| report.metrics.iter().find(|(n, _)| n == k).map(|x| x.1 * 100.0);
            let first = m("first128_accuracy").map_or(String::new(), |v| format!(" (first 128: {v:.2}%)"));
            outln!(
                "done: test accuracy {:.2}% on {} test images{first} after {} epochs, {} steps, {:.1}s; saved {}",
                m("test_accuracy").unwrap_or(f64::NAN),
                task.test.len(),
                report.epochs,
                report.steps,
                report.seconds,
                output.display()
            )?;
        }
        TaskName::Text => {
            let (text, source) = match &d.text {
                Some(path) => {
                    let t = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    (t, path.display().to_string())
                }
                None => (BELLING_THE_CAT.to_string(), "the built-in fable".to_string()),
            };
            let window = d.window.unwrap_or(3);
            let mut task = Text::new(&text, d.char, window, d.valid_fraction.unwrap_or(0.0))
                .with_context(|| format!("cutting {source} into windows"))?;
            task.walk = if p.shuffle { Walk::Shuffled } else { Walk::Tutorial };
            task.iters_per_epoch = d.iters_per_epoch.or(p.iters_per_epoch).unwrap_or(1000);
            let emb = d.embedding.unwrap_or(p.embedding);
            let vocab = task.spec.symbols.len();
            let mc = ModelConfig {
                vocab_size: (emb > 0).then_some(vocab),
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
                ..ModelConfig::new(cell, emb.max(1), hidden, vocab, HeadKind::Last, LossKind::CrossEntropy)
            };
            let mut model = Model::<f32>::new(mc, rng)?;
            let data = format!(
                "{source}: {} symbols, {} training windows of {window}, {} held out",
                vocab,
                task.train.len(),
                task.valid.len()
            );
            let report = fit("text", &mut model, &mut task, &cfg, &data)?;
            let m = |k: &str| report.metrics.iter().find(|(n, _)| n == k).map(|x| x.1);
            let valid = match (m("valid_accuracy"), m("valid_perplexity")) {
                (Some(a), Some(p)) => format!("; held out: {:.2}% accuracy, perplexity {p:.2}", a * 100.0),
                _ => String::new(),
            };
            outln!(
                "done: window accuracy {:.2}% on {} training windows (the most any model can: {:.2}%){valid} after {} epochs, {} steps, {:.1}s; saved {}",
                m("window_accuracy").unwrap_or(f64::NAN) * 100.0,
                task.train.len(),
                task.ceiling() * 100.0,
                report.epochs,
                report.steps,
                report.seconds,
                output.display()
            )?;
        }
        TaskName::Classify | TaskName::Regress | TaskName::Forecast | TaskName::Label => {
            crate::cli::train_files::run(&a, &p, &mut cfg, hidden, cell, &output, rng)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the run's header line and trains.
pub(super) fn fit<K: Task>(
    name: &str,
    model: &mut Model<f32>,
    task: &mut K,
    cfg: &TrainConfig,
    data: &str,
) -> anyhow::Result<TrainReport> {
    outln!(
        "{name}: {} ({} parameters), {data}, batch {}, {} {} ({:?}), {} threads",
        describe(&model.config),
        model.num_params(),
        cfg.batch_size,
        cfg.optim.kind,
        cfg.optim.lr,
        cfg.schedule,
        cfg.threads
    )?;
    Ok(train(model, task, cfg, |line| {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    })?)
}

/// Used by `eval` and `predict` to rebuild a task from a model file's metadata.
pub fn task_name(task: Option<&serde_json::Value>) -> anyhow::Result<String> {
    let t =
        task.context("the model file has no task metadata (was it saved by PyTorch?); use --input FILE.npy")?;
    Ok(t.get("name").and_then(|n| n.as_str()).unwrap_or("unknown").to_string())
}
