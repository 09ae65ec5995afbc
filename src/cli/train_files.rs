//! `recur train classify|regress|label|forecast`: the tasks that learn from your own data
//! files (CSV/TSV, JSON Lines). Split from `train.rs`, which wires the tutorial tasks; both
//! share its flags, presets and [`fit`].

use std::path::Path;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cell::CellKind;
use crate::cli::presets::Preset;
use crate::cli::train::{TaskName, TrainArgs, fit};
use crate::data::classify::{Classify, Split};
use crate::data::forecast::Forecast;
use crate::data::tagging::Tagging;
use crate::model::{HeadKind, LossKind, Model, ModelConfig};
use crate::train::TrainConfig;

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
    let d = &a.data;
    match a.task {
        TaskName::Classify | TaskName::Regress => {
            let regress = a.task == TaskName::Regress;
            let path = d.data.clone().context("needs --data FILE.csv (a label and a sequence column)")?;
            let split = Split {
                valid_fraction: d.valid_fraction.unwrap_or(0.2),
                test_fraction: d.test_fraction.unwrap_or(0.0),
            };
            let mut task = Classify::load(
                &path,
                &d.label_column,
                &d.sequence_column,
                split,
                regress,
                &mut ChaCha8Rng::seed_from_u64(a.seed ^ 0xda7a),
            )?;
            let emb = d.embedding.unwrap_or(p.embedding);
            if a.class_weights.is_some() && !regress {
                let ys: Vec<u32> = task.train.iter().map(|(_, y)| *y as u32).collect();
                cfg.class_weights = Some(balanced_weights(&ys, task.spec.classes.len()));
            }
            let mc = ModelConfig {
                cell,
                input_size: if task.symbols().is_some() { emb.max(1) } else { 1 },
                hidden_sizes: hidden,
                output_size: if regress { 1 } else { task.spec.classes.len() },
                head: HeadKind::Last,
                loss: if regress { LossKind::Mse } else { LossKind::CrossEntropy },
                vocab_size: task.symbols(),
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
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
        }
        TaskName::Forecast => {
            let path =
                d.data.clone().context("forecast needs --data FILE.csv (a numeric column per series)")?;
            let window = d.window.unwrap_or(20);
            let mut task =
                Forecast::load(&path, &d.columns, window, d.horizon, d.valid_fraction.unwrap_or(0.2))?;
            let cols = task.spec.columns.len();
            let mc = ModelConfig {
                cell,
                input_size: cols,
                hidden_sizes: hidden,
                output_size: cols * d.horizon,
                head: HeadKind::Last,
                loss: LossKind::Mse,
                vocab_size: None,
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
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
        }
        TaskName::Label => {
            let path =
                d.data.clone().context("label needs --data FILE.csv (a label and a sequence column)")?;
            let mut task = Tagging::load(
                &path,
                &d.label_column,
                &d.sequence_column,
                d.valid_fraction.unwrap_or(0.2),
                &mut ChaCha8Rng::seed_from_u64(a.seed ^ 0xda7a),
            )?;
            if a.class_weights.is_some() {
                let ys: Vec<u32> = task.train.iter().flat_map(|(_, y)| y.iter().copied()).collect();
                cfg.class_weights = Some(balanced_weights(&ys, task.spec.tags.len()));
            }
            let mc = ModelConfig {
                cell,
                input_size: d.embedding.unwrap_or(p.embedding).max(1),
                hidden_sizes: hidden,
                output_size: task.spec.tags.len(),
                head: HeadKind::Step,
                loss: LossKind::CrossEntropy,
                vocab_size: Some(task.spec.alphabet.len()),
                learn_init: a.learn_init,
                dropout: a.dropout,
                bidirectional: a.bidirectional,
            };
            let mut model = Model::<f32>::new(mc, rng)?;
            let data = format!(
                "{}: {} symbols, {} labels, {} training / {} held-out sequences",
                path.display(),
                task.spec.alphabet.len(),
                task.spec.tags.len(),
                task.train.len(),
                task.valid.len()
            );
            let report = fit("label", &mut model, &mut task, cfg, &data)?;
            let acc =
                report.metrics.iter().find(|(n, _)| n == "valid_step_accuracy").map_or(f64::NAN, |x| x.1);
            outln!(
                "done: held-out per-step accuracy {:.2}% on {} sequences after {} epochs, {} steps, {:.1}s; saved {}",
                acc * 100.0,
                task.valid.len(),
                report.epochs,
                report.steps,
                report.seconds,
                output.display()
            )?;
        }
        other => anyhow::bail!("{other:?} is not a data-file task"),
    }
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
