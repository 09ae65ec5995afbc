//! Tasks: what recur trains. Each task has one file here that owns its data (generated, or
//! read through the format readers of [`crate::data`]), its presets with their reasons, the
//! model it needs, its metrics and summary, and how a saved model of it is evaluated and
//! used. [`TASKS`] is the registry: it maps a task's name, on the command line or in a model
//! file's `task` metadata, to the task, so `train`, `eval`, `predict` and `generate`
//! dispatch in one place.
//!
//! Adding a task: a file here with a unit struct implementing [`TaskKind`] (and a type
//! implementing [`crate::train::Task`] for the loop), and one line in [`TASKS`].

pub mod addition;
pub mod bitcount;
pub mod classify;
pub mod forecast;
pub mod label;
pub mod lm;
pub mod mnist;
pub mod options;
pub mod predict;
pub mod regress;
pub mod rows;
pub mod sample;
pub mod text;

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};

use crate::error::Error;
use crate::io::model_file::{ModelFile, describe};
use crate::model::{Model, Session};
use crate::train::{Observer, Task, TrainConfig, TrainReport, train};
pub use options::{
    EvalOptions, FileOptions, GenerateOptions, ModelOptions, PredictOptions, Preset, PresetName, Setup,
    TaskOptions,
};

/// Every task, in the order `recur train --help` lists them.
pub static TASKS: &[&dyn TaskKind] = &[
    &bitcount::BITCOUNT,
    &addition::ADDITION,
    &mnist::MNIST,
    &text::TEXT,
    &classify::CLASSIFY,
    &regress::REGRESS,
    &forecast::FORECAST,
    &label::LABEL,
];

/// The task of this name (or alias).
pub fn lookup(name: &str) -> Option<&'static dyn TaskKind> {
    TASKS.iter().copied().find(|t| t.name() == name || t.info().aliases.contains(&name))
}

/// The task the model file at `path` was trained on, from its `task` metadata, once
/// [`TaskKind::check`] has found that metadata to fit the model (else an [`Error::Format`]
/// naming the file).
pub fn of_file(file: &ModelFile, path: &Path) -> anyhow::Result<&'static dyn TaskKind> {
    let t = file.task.as_ref().with_context(|| {
        format!(
            "{}: the model file has no task metadata (was it saved by PyTorch?); use --input FILE.npy",
            path.display()
        )
    })?;
    let name = t.get("name").and_then(|n| n.as_str()).unwrap_or("unknown");
    let kind = lookup(name).with_context(|| {
        format!("{}: the model file's task `{name}` is not one recur knows", path.display())
    })?;
    kind.check(file).map_err(|why| {
        Error::format(
            path,
            format!(
                "the `{name}` task metadata does not fit the model ({}): {why}",
                describe(&file.model.config)
            ),
        )
    })?;
    Ok(kind)
}

/// A model file's task metadata as the task's own record, or why it does not read as one.
pub fn read_spec<T: serde::de::DeserializeOwned>(file: &ModelFile) -> Result<T, String> {
    serde_json::from_value(file.task.clone().unwrap_or_default()).map_err(|e| e.to_string())
}

/// `Err` unless the model has as many outputs as the task metadata gives `what` (classes,
/// symbols, tags, ...).
pub fn outputs_fit(file: &ModelFile, names: usize, what: &str) -> Result<(), String> {
    match file.model.config.output_size {
        n if n == names => Ok(()),
        n => {
            let s = if n == 1 { "" } else { "s" };
            Err(format!("the model has {n} output{s} but the metadata gives {names} ({what})"))
        }
    }
}

/// What the command line shows of a task.
pub struct Info {
    /// The name on the command line and in model files.
    pub name: &'static str,
    /// Other names the command line accepts.
    pub aliases: &'static [&'static str],
    /// One line for `recur train --help`.
    pub about: &'static str,
    /// The data flags (of [`TaskOptions`]) it reads; the others are reported as ignored.
    pub flags: &'static [&'static str],
}

/// A task: how to train it, and what a saved model of it can do. Every method but `train`
/// has a default that says the task does not do that.
pub trait TaskKind: Sync {
    /// Its name, help line and the flags it reads.
    fn info(&self) -> &'static Info;
    /// The name on the command line and in model files.
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// The settings a run starts from; `d` says what data it reads (a text file trains a
    /// language model, the fable the tutorial's window model).
    fn preset(&self, p: PresetName, d: &TaskOptions) -> Preset;
    /// Trains a model as `s` says, logging to `obs`; returns the summary to print.
    fn train(&self, s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String>;
    /// Re-measures a saved model on the task's held-out data. By default: a model of rows is
    /// measured on a file of them, by `recur predict`.
    fn eval(
        &self,
        _file: &ModelFile,
        path: &Path,
        _o: &EvalOptions,
        _sess: &mut Session<f32>,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        bail!(
            "a {} model is measured on a data file: recur predict --model {} --input FILE.csv \
             (with the label column, it reports the accuracy or RMSE)",
            self.name(),
            path.display()
        )
    }
    /// Runs a saved model on inputs given as arguments (or, for mnist, `--image`).
    fn predict(
        &self,
        _file: &ModelFile,
        _inputs: &[String],
        _o: &PredictOptions,
        _sess: &mut Session<f32>,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        bail!("task `{}` takes no command-line inputs here; use --input FILE.npy", self.name())
    }
    /// Runs a saved model on `--input` the task's own way; `false` leaves the file to the
    /// generic array path (any model on a `.npy` array).
    fn predict_file(
        &self,
        _file: &ModelFile,
        _o: &PredictOptions,
        _sess: &mut Session<f32>,
        _out: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// Checks a saved model's task metadata against the model, before any of the methods
    /// below runs: that it reads as this task's, and names as many classes (symbols, tags,
    /// columns) as the model has outputs, so that a damaged or hand-edited file is an error
    /// rather than a crash or wrong names. By default there is nothing to check.
    fn check(&self, _file: &ModelFile) -> Result<(), String> {
        Ok(())
    }
    /// Continues a text (`recur generate`).
    fn generate(
        &self,
        _file: &ModelFile,
        path: &Path,
        _o: &GenerateOptions,
        _input: &mut dyn BufRead,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        bail!("{} is not a text model (train one with `recur train text`)", path.display())
    }
}

/// Logs the run's header line (model, data, loop settings), then trains.
pub fn fit<K: Task>(
    name: &str,
    model: &mut Model<f32>,
    task: &mut K,
    cfg: &TrainConfig,
    data: &str,
    obs: &mut dyn Observer,
) -> anyhow::Result<TrainReport> {
    obs.log(&format!(
        "{name}: {} ({} parameters), {data}, batch {}, {} {} ({:?}), {} threads",
        describe(&model.config),
        model.num_params(),
        cfg.batch_size,
        cfg.optim.kind,
        cfg.optim.lr,
        cfg.schedule,
        cfg.threads
    ));
    Ok(train(model, task, cfg, obs)?)
}

/// A metric of a report by name (NaN when absent).
pub fn metric(report: &TrainReport, name: &str) -> f64 {
    report.metrics.iter().find(|(n, _)| n == name).map_or(f64::NAN, |m| m.1)
}

/// The end of every summary line: epochs, steps, time and where the model is.
pub fn ran(report: &TrainReport, cfg: &TrainConfig) -> String {
    let saved = cfg.output.as_ref().map_or(String::new(), |p| format!("; saved {}", p.display()));
    format!("{} epochs, {} steps, {:.1}s{saved}", report.epochs, report.steps, report.seconds)
}
