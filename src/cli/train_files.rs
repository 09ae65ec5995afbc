//! `recur train classify|regress|label|forecast`: the tasks that learn from your own data
//! files (CSV/TSV, JSON Lines, `.npy`). Split from `train.rs`, which wires the tutorial tasks;
//! both share its flags, presets and [`fit`].

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cell::CellKind;
use crate::cli::presets::Preset;
use crate::cli::train::TaskArgs;
use crate::cli::train::{TaskName, TrainArgs, fit};
use crate::data::classify::Classify;
use crate::data::forecast::Forecast;
use crate::data::npy_rows::{TargetKind, is_npy, read_npy_table};
use crate::data::rows::{Held, Table, read_table};
use crate::data::tagging::Tagging;
use crate::model::{HeadKind, LossKind, Model, ModelConfig};
use crate::train::TrainConfig;

/// Flags for data in files of their own: `.npy` targets and lengths, held-out files.
#[derive(Args, Debug, Default)]
pub struct FileArgs {
    /// classify, regress, label with --data X.npy: the targets, integer class ids [N], numbers
    /// [N], or integer labels per step [N, T].
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// With --data X.npy: integer lengths [N] of the sequences padded to X's steps.
    #[arg(long)]
    pub lengths: Option<PathBuf>,
    /// classify, regress, label, forecast: held-out rows from this file (same format as
    /// --data) instead of --valid-fraction.
    #[arg(long)]
    pub valid_data: Option<PathBuf>,
    /// With --valid-data V.npy: its targets.
    #[arg(long)]
    pub valid_targets: Option<PathBuf>,
    /// With --valid-data V.npy: its lengths.
    #[arg(long)]
    pub valid_lengths: Option<PathBuf>,
    /// classify, regress: test rows from this file, scored once at the end, instead of
    /// --test-fraction.
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    /// With --test-data T.npy: its targets.
    #[arg(long)]
    pub test_targets: Option<PathBuf>,
    /// With --test-data T.npy: its lengths.
    #[arg(long)]
    pub test_lengths: Option<PathBuf>,
}

/// Reads a labelled data file: CSV/TSV/JSON Lines, or `.npy` with its targets and lengths.
fn read_labelled(
    d: &TaskArgs,
    path: &Path,
    targets: Option<&Path>,
    lengths: Option<&Path>,
    kind: TargetKind,
) -> anyhow::Result<Table> {
    if is_npy(path) {
        let y = targets.with_context(|| {
            format!(
                "{} is an array; give its targets too (--targets Y.npy, --valid-targets, --test-targets)",
                path.display()
            )
        })?;
        return Ok(read_npy_table(path, Some(y), lengths, kind)?);
    }
    if let Some(t) = targets.or(lengths) {
        bail!("{} is for .npy data; {} holds its own labels", t.display(), path.display());
    }
    Ok(read_table(path, &d.label_column, &d.sequence_column, true)?)
}

/// The training table and where its held-out rows come from.
fn read_data(d: &TaskArgs, kind: TargetKind, what: &str) -> anyhow::Result<(Table, Held)> {
    let f = &d.files;
    let path = d.data.clone().with_context(|| format!("needs --data FILE ({what})"))?;
    let data = read_labelled(d, &path, f.targets.as_deref(), f.lengths.as_deref(), kind)?;
    if f.valid_data.is_some() && d.valid_fraction.is_some() {
        bail!("give --valid-data or --valid-fraction, not both");
    }
    if f.test_data.is_some() && d.test_fraction.is_some() {
        bail!("give --test-data or --test-fraction, not both");
    }
    let other =
        |p: &Option<PathBuf>, t: &Option<PathBuf>, l: &Option<PathBuf>| -> anyhow::Result<Option<Table>> {
            p.as_deref().map(|p| read_labelled(d, p, t.as_deref(), l.as_deref(), kind)).transpose()
        };
    let held = Held {
        valid: other(&f.valid_data, &f.valid_targets, &f.valid_lengths)?,
        test: other(&f.test_data, &f.test_targets, &f.test_lengths)?,
        valid_fraction: d.valid_fraction.unwrap_or(0.2),
        test_fraction: d.test_fraction.unwrap_or(0.0),
    };
    Ok((data, held))
}

/// Trains one of the data-file tasks and prints its summary line.
pub(super) fn run(
    a: &TrainArgs,
    p: &Preset,
    cfg: &mut TrainConfig,
    hidden: Vec<usize>,
    cell: CellKind,
    output: &Path,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<()> {
    match a.task {
        TaskName::Classify | TaskName::Regress => train_classify(a, p, cfg, hidden, cell, output, rng),
        TaskName::Forecast => train_forecast(a, cfg, hidden, cell, output, rng),
        TaskName::Label => train_label(a, p, cfg, hidden, cell, output, rng),
        other => anyhow::bail!("{other:?} is not a data-file task"),
    }
}

/// `classify` and `regress`: a class or a number per sequence.
fn train_classify(
    a: &TrainArgs,
    p: &Preset,
    cfg: &mut TrainConfig,
    hidden: Vec<usize>,
    cell: CellKind,
    output: &Path,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<()> {
    let d = &a.data;
    let regress = a.task == TaskName::Regress;
    let kind = if regress { TargetKind::Values } else { TargetKind::Classes };
    let (data, held) = read_data(d, kind, "a label and a sequence column, or X.npy")?;
    let path = data.src.path.clone();
    let mut task = Classify::load(
        data,
        held,
        (&d.label_column, &d.sequence_column),
        regress,
        &mut ChaCha8Rng::seed_from_u64(a.seed ^ 0xda7a),
    )?;
    let emb = d.embedding.unwrap_or(p.embedding);
    if a.class_weights.is_some() && !regress {
        let ys: Vec<u32> = task.train.iter().map(|(_, y)| *y as u32).collect();
        cfg.class_weights = Some(balanced_weights(&ys, task.spec.classes.len()));
    }
    let mc = ModelConfig {
        vocab_size: task.symbols(),
        learn_init: a.learn_init,
        dropout: a.dropout,
        bidirectional: a.bidirectional,
        ..ModelConfig::new(
            cell,
            if task.symbols().is_some() { emb.max(1) } else { task.width },
            hidden,
            if regress { 1 } else { task.spec.classes.len() },
            HeadKind::Last,
            if regress { LossKind::Mse } else { LossKind::CrossEntropy },
        )
    };
    let mut model = Model::<f32>::new(mc, rng)?;
    let what = match task.spec.target {
        Some((mean, sd)) => format!("targets mean {mean:.4}, deviation {sd:.4}"),
        None => format!("{} classes", task.spec.classes.len()),
    };
    let data = format!(
        "{}: {what}, {} training / {} held-out sequences",
        path.display(),
        task.train.len(),
        task.valid.len()
    );
    let name = if regress { "regress" } else { "classify" };
    let report = fit(name, &mut model, &mut task, cfg, &data)?;
    let m = |k: &str| report.metrics.iter().find(|(n, _)| n == k).map_or(f64::NAN, |x| x.1);
    let result = match task.spec.target {
        Some((_, sd)) => {
            format!("held-out RMSE {:.4} (the targets' deviation is {sd:.4})", m("valid_rmse"))
        }
        None => format!("held-out accuracy {:.2}%", m("valid_accuracy") * 100.0),
    };
    let test = match (task.test.len(), task.spec.target) {
        (0, _) => String::new(),
        (n, Some(_)) => format!("; test RMSE {:.4} on {n}", m("test_rmse")),
        (n, None) => format!("; test accuracy {:.2}% on {n}", m("test_accuracy") * 100.0),
    };
    outln!(
        "done: {result} on {} sequences{test} after {} epochs, {} steps, {:.1}s; saved {}",
        task.valid.len(),
        report.epochs,
        report.steps,
        report.seconds,
        output.display()
    )?;
    Ok(())
}

/// `forecast`: the next rows of a series from windows of it.
fn train_forecast(
    a: &TrainArgs,
    cfg: &mut TrainConfig,
    hidden: Vec<usize>,
    cell: CellKind,
    output: &Path,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<()> {
    let d = &a.data;
    let path = d.data.clone().context("forecast needs --data FILE.csv (a numeric column per series)")?;
    let window = d.window.unwrap_or(20);
    let f = &d.files;
    if f.valid_data.is_some() && d.valid_fraction.is_some() {
        bail!("give --valid-data or --valid-fraction, not both");
    }
    if f.test_data.is_some() || d.test_fraction.is_some() {
        bail!("forecast has no test set; hold rows out with --valid-data or --valid-fraction");
    }
    let vf = if f.valid_data.is_some() { 0.0 } else { d.valid_fraction.unwrap_or(0.2) };
    let mut task = Forecast::load(&path, &d.columns, window, d.horizon, vf, f.valid_data.as_deref())?;
    let cols = task.spec.columns.len();
    let mc = ModelConfig {
        learn_init: a.learn_init,
        dropout: a.dropout,
        bidirectional: a.bidirectional,
        ..ModelConfig::new(cell, cols, hidden, cols * d.horizon, HeadKind::Last, LossKind::Mse)
    };
    let mut model = Model::<f32>::new(mc, rng)?;
    let data = format!(
        "{}: {:?}, windows of {window} -> next {}, {} training / {} held-out windows",
        path.display(),
        task.spec.columns,
        d.horizon,
        task.train.len(),
        task.valid.len()
    );
    let report = fit("forecast", &mut model, &mut task, cfg, &data)?;
    let sds: Vec<String> = task.spec.normalize.iter().map(|(_, s)| format!("{s:.4}")).collect();
    outln!(
        "done: held-out RMSE {:.4} (the series' deviation: {}) after {} epochs, {} steps, {:.1}s; saved {}",
        report.metrics.first().map_or(f64::NAN, |m| m.1),
        sds.join(", "),
        report.epochs,
        report.steps,
        report.seconds,
        output.display()
    )?;
    Ok(())
}

/// `label`: a label per step.
fn train_label(
    a: &TrainArgs,
    p: &Preset,
    cfg: &mut TrainConfig,
    hidden: Vec<usize>,
    cell: CellKind,
    output: &Path,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<()> {
    let d = &a.data;
    let (data, held) = read_data(d, TargetKind::Steps, "a label and a sequence column, or X.npy")?;
    if held.test.is_some() || d.test_fraction.is_some() {
        bail!("label has no test set; hold rows out with --valid-data or --valid-fraction");
    }
    let path = data.src.path.clone();
    let mut task = Tagging::load(
        data,
        held,
        (&d.label_column, &d.sequence_column),
        &mut ChaCha8Rng::seed_from_u64(a.seed ^ 0xda7a),
    )?;
    if a.class_weights.is_some() {
        let ys: Vec<u32> = task.train.iter().flat_map(|(_, y)| y.iter().copied()).collect();
        cfg.class_weights = Some(balanced_weights(&ys, task.spec.tags.len()));
    }
    let symbols = task.spec.normalize.is_none();
    let mc = ModelConfig {
        vocab_size: symbols.then_some(task.spec.alphabet.len()),
        learn_init: a.learn_init,
        dropout: a.dropout,
        bidirectional: a.bidirectional,
        ..ModelConfig::new(
            cell,
            if symbols { d.embedding.unwrap_or(p.embedding).max(1) } else { task.width },
            hidden,
            task.spec.tags.len(),
            HeadKind::Step,
            LossKind::CrossEntropy,
        )
    };
    let mut model = Model::<f32>::new(mc, rng)?;
    let inputs = if symbols {
        format!("{} symbols", task.spec.alphabet.len())
    } else {
        format!("{} features per step", task.width)
    };
    let data = format!(
        "{}: {inputs}, {} labels, {} training / {} held-out sequences",
        path.display(),
        task.spec.tags.len(),
        task.train.len(),
        task.valid.len()
    );
    let report = fit("label", &mut model, &mut task, cfg, &data)?;
    let acc = report.metrics.iter().find(|(n, _)| n == "valid_step_accuracy").map_or(f64::NAN, |x| x.1);
    outln!(
        "done: held-out per-step accuracy {:.2}% on {} sequences after {} epochs, {} steps, {:.1}s; saved {}",
        acc * 100.0,
        task.valid.len(),
        report.epochs,
        report.steps,
        report.seconds,
        output.display()
    )?;
    Ok(())
}

/// sklearn's "balanced" weights: N / (classes x count of each class); 0 for an absent class.
fn balanced_weights(ys: &[u32], classes: usize) -> Vec<f64> {
    let mut count = vec![0usize; classes];
    for &y in ys {
        count[y as usize] += 1;
    }
    count.iter().map(|&c| if c == 0 { 0.0 } else { ys.len() as f64 / (classes * c) as f64 }).collect()
}
