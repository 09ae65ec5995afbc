//! What a run of a task is given: the preset it starts from, the data flags, the model's
//! options and the loop's settings. Plain data; the command line fills them (each field is a
//! flag of `recur train`, `eval`, `predict` or `generate`), a Rust caller sets what it needs.

use std::path::PathBuf;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cell::CellKind;
use crate::error::Result;
use crate::model::{HeadKind, Init, LossKind, Model, ModelConfig};
use crate::optim::OptimizerKind;
use crate::task::mnist::Dataset;
use crate::train::{Schedule, TrainConfig};

/// Which preset a run starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PresetName {
    /// The best fast setup found for the task.
    #[default]
    Default,
    /// The tutorial's own setup, to reproduce its figure.
    Seed,
}

/// Every setting a preset fixes. Each task's `preset` gives its values with their reasons;
/// flags override any of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// The recurrent cell.
    pub cell: CellKind,
    /// Hidden size of each layer, bottom first.
    pub hidden: Vec<usize>,
    /// Sequences (or streams) per step.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// The learning rate.
    pub lr: f64,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Clip the gradients to this global norm.
    pub clip: Option<f64>,
    /// Evaluate and checkpoint every this many epochs.
    pub eval_every: usize,
    /// Stop once the held-out error is at or below this.
    pub target_error: Option<f64>,
    /// bitcount: string length; addition: bits per training sequence.
    pub bits: usize,
    /// bitcount: reshuffle the training strings each epoch; text: shuffled mini-batches
    /// (else the tutorial's walk).
    pub shuffle: bool,
    /// bitcount: test strings per periodic evaluation.
    pub eval_size: usize,
    /// Training steps per epoch, where the task's epoch is not one pass over its data.
    pub iters_per_epoch: Option<usize>,
    /// Embedding size for symbol inputs (0 = the id fed as one float).
    pub embedding: usize,
    /// Whose initializers the model starts from: PyTorch's, or a TF 1.x tutorial's.
    pub init: Init,
}

impl Preset {
    /// An LSTM of these sizes trained with Adam at `lr`, cosine-annealed, clipped at norm 1,
    /// evaluated every 5 epochs: the starting point of the tasks on your own data.
    pub fn adam(hidden: usize, batch_size: usize, epochs: usize, lr: f64) -> Self {
        Preset {
            cell: CellKind::Lstm,
            hidden: vec![hidden],
            batch_size,
            epochs,
            optimizer: OptimizerKind::Adam,
            lr,
            schedule: Schedule::Cosine,
            clip: Some(1.0),
            eval_every: 5,
            target_error: None,
            bits: 0,
            shuffle: true,
            eval_size: 0,
            iters_per_epoch: None,
            embedding: 0,
            init: Init::PyTorch,
        }
    }
}

/// The flags that say what data a task reads and how. Each task reads some of them (its
/// `flags`); the others do not apply to it.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct TaskOptions {
    /// Bits per string (bitcount, default 20) or per training sequence (addition, default 10).
    #[cfg_attr(feature = "cli", arg(long))]
    pub bits: Option<usize>,
    /// bitcount: training strings (the rest are the test set) [default: 10000].
    #[cfg_attr(feature = "cli", arg(long))]
    pub train_size: Option<usize>,
    /// bitcount: seed of the train/test shuffle [default: 0].
    #[cfg_attr(feature = "cli", arg(long))]
    pub data_seed: Option<u64>,
    /// bitcount: test strings per evaluation during training (0 = all; the final one uses all).
    #[cfg_attr(feature = "cli", arg(long))]
    pub eval_size: Option<usize>,
    /// addition, text, mnist: training steps per epoch (the addition tutorial's
    /// ITERATIONS_PER_EPOCH) [default: 100 for addition].
    #[cfg_attr(feature = "cli", arg(long))]
    pub iters_per_epoch: Option<usize>,
    /// addition: held-out pairs per validation [default: 1000].
    #[cfg_attr(feature = "cli", arg(long))]
    pub valid_size: Option<usize>,
    /// mnist: directory with the IDX files [default: data/mnist, or
    /// /usr/share/datasets/fashion-mnist for --dataset fashion].
    #[cfg_attr(feature = "cli", arg(long))]
    pub data_dir: Option<PathBuf>,
    /// mnist: mnist or fashion (Fashion-MNIST, with its class names) [default: mnist].
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub dataset: Option<Dataset>,
    /// mnist: train on the first N test images and evaluate on the rest (for when the
    /// training files are absent).
    #[cfg_attr(feature = "cli", arg(long))]
    pub split_test: Option<usize>,
    /// text: a UTF-8 file to learn [default: the tutorial's fable, built in].
    #[cfg_attr(feature = "cli", arg(long))]
    pub text: Option<PathBuf>,
    /// text: characters instead of words as symbols.
    #[cfg_attr(feature = "cli", arg(long))]
    pub char: bool,
    /// text: train the tutorial's window model on this many symbols in per prediction
    /// (instead of a language model on a --text file) [default: 3]; forecast: rows per
    /// window [default: 20].
    #[cfg_attr(feature = "cli", arg(long))]
    pub window: Option<usize>,
    /// text, classify, regress, label, forecast: hold out this fraction (text and forecast:
    /// of the tail) and report on it [default: 0 for text, 0.2 otherwise].
    #[cfg_attr(feature = "cli", arg(long))]
    pub valid_fraction: Option<f64>,
    /// text (language model): steps of back-propagation through time per batch; each
    /// stream's state carries over to the next batch [default: 100].
    #[cfg_attr(feature = "cli", arg(long))]
    pub bptt: Option<usize>,
    /// text (language model): keep the N most frequent symbols (counting `<unk>`, which
    /// stands for the rest).
    #[cfg_attr(feature = "cli", arg(long))]
    pub max_vocab: Option<usize>,
    /// text (language model): keep only symbols seen at least K times; the rest become `<unk>`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub min_count: Option<usize>,
    /// text (language model): the head shares the embedding table as its weight (fewer
    /// parameters; the embedding is then as wide as the top layer).
    #[cfg_attr(feature = "cli", arg(long))]
    pub tie_weights: bool,
    /// text, classify, regress, label: embedding size of symbol inputs (0 = feed each id as
    /// one float, as the next-word tutorial does).
    #[cfg_attr(feature = "cli", arg(long))]
    pub embedding: Option<usize>,
    /// classify, regress, label, forecast: the data file, one sequence per row (.csv, .tsv,
    /// .jsonl; or X.npy with --targets), or one time step per row (forecast).
    #[cfg_attr(feature = "cli", arg(long))]
    pub data: Option<PathBuf>,
    /// classify, regress, label: the column holding the label [default: label].
    #[cfg_attr(feature = "cli", arg(long))]
    pub label_column: Option<String>,
    /// classify, regress, label: the column holding the sequence (symbols like `ARTMC`,
    /// numbers `0.1 0.5`, or several features per step `0.1 2;0.5 3`) [default: sequence].
    #[cfg_attr(feature = "cli", arg(long))]
    pub sequence_column: Option<String>,
    /// classify, regress: rows held out as a test set, scored once at the end [default: 0].
    #[cfg_attr(feature = "cli", arg(long))]
    pub test_fraction: Option<f64>,
    /// forecast: the value columns [default: all but a t/time/date/step column].
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    pub columns: Vec<String>,
    /// forecast: rows predicted from each window [default: 1].
    #[cfg_attr(feature = "cli", arg(long))]
    pub horizon: Option<usize>,
    /// classify, label: `balanced` weighs each class's loss by N / (classes x its count), for
    /// imbalanced labels (PyTorch's CrossEntropyLoss(weight=...)).
    #[cfg_attr(feature = "cli", arg(long, value_parser = ["balanced"]))]
    pub class_weights: Option<String>,
    #[cfg_attr(feature = "cli", command(flatten))]
    /// Held-out files and `.npy` targets and lengths.
    pub files: FileOptions,
}

/// Data in files of their own: `.npy` targets and lengths, held-out files.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct FileOptions {
    /// classify, regress, label with --data X.npy: the targets, integer class ids [N], numbers
    /// [N], or integer labels per step [N, T].
    #[cfg_attr(feature = "cli", arg(long))]
    pub targets: Option<PathBuf>,
    /// With --data X.npy: integer lengths [N] of the sequences padded to X's steps.
    #[cfg_attr(feature = "cli", arg(long))]
    pub lengths: Option<PathBuf>,
    /// classify, regress, label, forecast: held-out rows from this file (same format as
    /// --data) instead of --valid-fraction.
    #[cfg_attr(feature = "cli", arg(long))]
    pub valid_data: Option<PathBuf>,
    /// With --valid-data V.npy: its targets.
    #[cfg_attr(feature = "cli", arg(long))]
    pub valid_targets: Option<PathBuf>,
    /// With --valid-data V.npy: its lengths.
    #[cfg_attr(feature = "cli", arg(long))]
    pub valid_lengths: Option<PathBuf>,
    /// classify, regress: test rows from this file, scored once at the end, instead of
    /// --test-fraction.
    #[cfg_attr(feature = "cli", arg(long))]
    pub test_data: Option<PathBuf>,
    /// With --test-data T.npy: its targets.
    #[cfg_attr(feature = "cli", arg(long))]
    pub test_targets: Option<PathBuf>,
    /// With --test-data T.npy: its lengths.
    #[cfg_attr(feature = "cli", arg(long))]
    pub test_lengths: Option<PathBuf>,
}

impl TaskOptions {
    /// The flags that were given, by their command-line names (`--bits`, ...).
    pub fn given(&self) -> Vec<&'static str> {
        let f = &self.files;
        [
            ("--bits", self.bits.is_some()),
            ("--train-size", self.train_size.is_some()),
            ("--data-seed", self.data_seed.is_some()),
            ("--eval-size", self.eval_size.is_some()),
            ("--iters-per-epoch", self.iters_per_epoch.is_some()),
            ("--valid-size", self.valid_size.is_some()),
            ("--data-dir", self.data_dir.is_some()),
            ("--dataset", self.dataset.is_some()),
            ("--split-test", self.split_test.is_some()),
            ("--text", self.text.is_some()),
            ("--char", self.char),
            ("--window", self.window.is_some()),
            ("--valid-fraction", self.valid_fraction.is_some()),
            ("--embedding", self.embedding.is_some()),
            ("--bptt", self.bptt.is_some()),
            ("--max-vocab", self.max_vocab.is_some()),
            ("--min-count", self.min_count.is_some()),
            ("--tie-weights", self.tie_weights),
            ("--data", self.data.is_some()),
            ("--label-column", self.label_column.is_some()),
            ("--sequence-column", self.sequence_column.is_some()),
            ("--test-fraction", self.test_fraction.is_some()),
            ("--columns", !self.columns.is_empty()),
            ("--horizon", self.horizon.is_some()),
            ("--class-weights", self.class_weights.is_some()),
            ("--targets", f.targets.is_some()),
            ("--lengths", f.lengths.is_some()),
            ("--valid-data", f.valid_data.is_some()),
            ("--valid-targets", f.valid_targets.is_some()),
            ("--valid-lengths", f.valid_lengths.is_some()),
            ("--test-data", f.test_data.is_some()),
            ("--test-targets", f.test_targets.is_some()),
            ("--test-lengths", f.test_lengths.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The label and sequence column names.
    pub fn columns(&self) -> (&str, &str) {
        (
            self.label_column.as_deref().unwrap_or("label"),
            self.sequence_column.as_deref().unwrap_or("sequence"),
        )
    }
}

/// The recurrent layers every task's model is built with (the task adds input, head and loss).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelOptions {
    /// The recurrent cell.
    pub cell: CellKind,
    /// Hidden size of each layer, bottom first.
    pub hidden: Vec<usize>,
    /// Learn the initial state instead of starting from zeros.
    pub learn_init: bool,
    /// Dropout between layers, in training.
    pub dropout: f64,
    /// Two directions per layer.
    pub bidirectional: bool,
}

/// Everything a task's `train` is given.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Which preset `preset` came from.
    pub preset_name: PresetName,
    /// The preset's values (flags already applied to the loop's and the model's settings;
    /// a task reads its own fields, e.g. `bits`, through the data flags first).
    pub preset: Preset,
    /// The layers' options.
    pub model: ModelOptions,
    /// The loop's settings, flags and preset merged.
    pub train: TrainConfig,
    /// The data flags.
    pub data: TaskOptions,
}

impl Setup {
    /// A model of the chosen layers reading `input_size` features per step.
    pub fn model_config(
        &self,
        input_size: usize,
        output_size: usize,
        head: HeadKind,
        loss: LossKind,
    ) -> ModelConfig {
        let m = &self.model;
        ModelConfig {
            learn_init: m.learn_init,
            dropout: m.dropout,
            bidirectional: m.bidirectional,
            ..ModelConfig::new(m.cell, input_size, m.hidden.clone(), output_size, head, loss)
        }
    }

    /// A model of the chosen layers reading symbol ids `0..vocab` through an embedding (or,
    /// with embedding size 0, each id as one float).
    pub fn symbol_model_config(
        &self,
        vocab: usize,
        output_size: usize,
        head: HeadKind,
        loss: LossKind,
    ) -> ModelConfig {
        let emb = self.embedding();
        ModelConfig {
            vocab_size: (emb > 0).then_some(vocab),
            ..self.model_config(emb.max(1), output_size, head, loss)
        }
    }

    /// The embedding size: the flag's, else the preset's.
    pub fn embedding(&self) -> usize {
        self.data.embedding.unwrap_or(self.preset.embedding)
    }

    /// A freshly initialized model, seeded by the run's seed, from the preset's initializers.
    pub fn new_model(&self, cfg: ModelConfig) -> Result<Model<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.train.seed);
        let mut model = Model::new(cfg, &mut rng)?;
        if self.preset.init == Init::Tf1 {
            model.init_tf1(&mut rng);
        }
        Ok(model)
    }

    /// A generator for the task's own data split, seeded by the run's seed.
    pub fn data_rng(&self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.train.seed ^ 0xda7a)
    }
}

/// `recur eval` options.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct EvalOptions {
    /// text models: score every window of this UTF-8 file [default: the built-in fable].
    #[cfg_attr(feature = "cli", arg(long))]
    pub text: Option<PathBuf>,
}

/// `recur predict` options.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct PredictOptions {
    /// A file to run the model on: rows (CSV/TSV, JSON Lines) or an array [batch, time,
    /// features] (.npy) for classify/regress/label models; any model runs on a .npy array
    /// with --output Y.npy (raw logits).
    #[cfg_attr(feature = "cli", arg(long))]
    pub input: Option<PathBuf>,
    /// With --input X.npy: integer lengths [batch] of its sequences padded to its steps.
    #[cfg_attr(feature = "cli", arg(long))]
    pub lengths: Option<PathBuf>,
    /// With --input X.npy for a classify/regress/label model: the true targets (as for
    /// `recur train --targets`), to report the accuracy or RMSE.
    #[cfg_attr(feature = "cli", arg(long))]
    pub targets: Option<PathBuf>,
    /// Write the outputs here instead of printing them: .npy (logits or --probs), .jsonl (one
    /// JSON object per input row) or else CSV.
    #[cfg_attr(feature = "cli", arg(long))]
    pub output: Option<PathBuf>,
    /// With --output: write probabilities (softmax, or sigmoid for bce) instead of logits.
    #[cfg_attr(feature = "cli", arg(long))]
    pub probs: bool,
    /// For a PyTorch-saved file (no recur metadata): where the head reads, `last` step (the
    /// default) or every `step`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub head: Option<HeadKind>,
    /// For a PyTorch-saved file: the head's loss, which decides --probs: `ce` (softmax, the
    /// default), `bce` (sigmoid) or `mse` (none).
    #[cfg_attr(feature = "cli", arg(long))]
    pub loss: Option<LossKind>,
    /// mnist: draw test image N (of the full t10k file) and classify it.
    #[cfg_attr(feature = "cli", arg(long))]
    pub image: Option<usize>,
    /// mnist: where the IDX files are, if not where the model was trained from.
    #[cfg_attr(feature = "cli", arg(long))]
    pub data_dir: Option<PathBuf>,
    /// forecast: rows to forecast past the end of the --input series (fed back as they come).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 10))]
    pub ahead: usize,
    /// How many of the most likely classes to print.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 3))]
    pub top: usize,
}

/// `recur generate` options.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct GenerateOptions {
    /// The text to continue (at least as many symbols as the model's window).
    #[cfg_attr(feature = "cli", arg(long))]
    pub prompt: Option<String>,
    /// How many symbols to generate (`--words` for word models).
    #[cfg_attr(feature = "cli", arg(long, visible_alias = "words", default_value_t = 32))]
    pub length: usize,
    /// 0 = greedy (always the most likely); higher samples more freely.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0.0))]
    pub temperature: f64,
    /// Sample only among the k most likely symbols (0 = all).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0))]
    pub top_k: usize,
    /// Sample only among the most likely symbols whose probabilities add up to p (nucleus
    /// sampling; 1 = all).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1.0))]
    pub top_p: f64,
    /// Seed for sampling.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1))]
    pub seed: u64,
    /// Read prompts from standard input, one per line, as the tutorial's "3 words:" loop.
    #[cfg_attr(feature = "cli", arg(long))]
    pub interactive: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            prompt: None,
            length: 32,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 1,
            interactive: false,
        }
    }
}
