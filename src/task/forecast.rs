//! Forecasting a numeric time series from a CSV file: windows of `window` consecutive rows
//! predict the next `horizon` rows of every chosen column (one feature per column, normalized
//! with the training part's mean and deviation, stored in the model). The last
//! `valid_fraction` of the series is held out, or a series of its own (`--valid-data`): its
//! windows are scored by RMSE in the series' own units.

use crate::model::Seqs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::encoding::{TOO_LARGE, mean_deviation};
use crate::data::series::read_series;
use crate::error::{Error, Result};
use crate::io::model_file::ModelFile;
use crate::model::{HeadKind, LossKind, Model, Session};
use crate::task::predict::{is_jsonl, write_or_print};
use crate::task::{Info, PredictOptions, Preset, PresetName, Setup, TaskKind, TaskOptions, fit, ran};
use crate::train::{Batch, Metric, Observer, Shuffled, Task};

/// What the model file records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastSpec {
    /// `forecast`.
    pub name: String,
    /// The series' columns, one feature each.
    pub columns: Vec<String>,
    /// Rows read per prediction.
    pub window: usize,
    /// Rows predicted from each window.
    pub horizon: usize,
    /// Per column (mean, deviation) of the training part.
    pub normalize: Vec<(f64, f64)>,
}

impl ForecastSpec {
    /// Row `index` (0-based) of a series in its units, normalized with the training statistics
    /// (the model's input); a value whose normalized form overflows f32 is an error, not inf.
    pub fn norm_row(&self, index: usize, row: &[f64]) -> Result<Vec<f32>> {
        let cols = self.columns.iter().zip(&self.normalize);
        row.iter()
            .zip(cols)
            .map(|(x, (name, (m, s)))| {
                let v = ((x - m) / s) as f32;
                v.is_finite().then_some(v).ok_or_else(|| {
                    Error::Input(format!(
                        "row {} of the series, column `{name}`: {x:e} is too far from the training \
                         values (mean {m:.4}, deviation {s:.4})",
                        index + 1
                    ))
                })
            })
            .collect()
    }

    /// A model output row back in the series' units.
    pub fn denorm_row(&self, row: &[f32]) -> Vec<f64> {
        row.iter().zip(&self.normalize).map(|(v, (m, s))| *v as f64 * s + m).collect()
    }

    /// Continues `rows` (`[rows][columns]` in the series' units, at least `window` of them) by
    /// `ahead` rows, each window's `horizon` predictions fed back as if they were true.
    pub fn continue_series(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        rows: &[Vec<f64>],
        ahead: usize,
    ) -> Result<Vec<Vec<f64>>> {
        if rows.len() < self.window {
            return Err(Error::Input(format!(
                "a forecast needs {} rows before it (the model's window); there are {}",
                self.window,
                rows.len()
            )));
        }
        let first = rows.len() - self.window;
        let mut hist: Vec<Vec<f32>> = rows[first..]
            .iter()
            .enumerate()
            .map(|(i, r)| self.norm_row(first + i, r))
            .collect::<Result<_>>()?;
        let (cols, mut out) = (self.columns.len(), Vec::with_capacity(ahead));
        while out.len() < ahead {
            let x: Vec<f32> = hist[hist.len() - self.window..].iter().flatten().copied().collect();
            let o = sess.forward(model, Seqs::new(&x, 1, self.window), None)?;
            for row in o.logits.chunks(cols).take(ahead - out.len()) {
                out.push(self.denorm_row(row));
                hist.push(row.to_vec());
            }
        }
        Ok(out)
    }

    /// `step,<columns>`, one row per forecast step (1-based).
    pub fn to_csv(&self, next: &[Vec<f64>]) -> String {
        let mut out = format!("step,{}\n", self.columns.join(","));
        for (k, row) in next.iter().enumerate() {
            let vals: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
            out += &format!("{},{}\n", k + 1, vals.join(","));
        }
        out
    }

    /// `{"step": 1, "<column>": value, ...}`, one object per forecast step.
    pub fn to_jsonl(&self, next: &[Vec<f64>]) -> String {
        let mut out = String::new();
        for (k, row) in next.iter().enumerate() {
            let vals: Vec<String> = self
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    format!("{}: {}", serde_json::Value::from(c.as_str()), serde_json::Value::from(*v))
                })
                .collect();
            out += &format!("{{\"step\": {}, {}}}\n", k + 1, vals.join(", "));
        }
        out
    }
}

/// The task: the normalized series and which window starts train and validate.
pub struct Forecast {
    /// What the model file records.
    pub spec: ForecastSpec,
    /// `[rows][columns]`, normalized.
    pub series: Vec<Vec<f32>>,
    /// First rows of the training windows.
    pub train: Vec<usize>,
    /// First rows of the held-out windows.
    pub valid: Vec<usize>,
    order: Shuffled,
}

impl Forecast {
    /// Reads the series in `path`; holds out its last `valid_fraction`, or, given `valid_file`,
    /// scores the windows of that series instead (same columns, normalized with `path`'s
    /// statistics).
    pub fn load(
        path: &Path,
        columns: &[String],
        window: usize,
        horizon: usize,
        valid_fraction: f64,
        valid_file: Option<&Path>,
    ) -> Result<Self> {
        if !(0.0..1.0).contains(&valid_fraction) {
            return Err(Error::BadConfig {
                field: "valid-fraction".into(),
                value: valid_fraction.to_string(),
                reason: "must be at least 0 and below 1 (the held-out end of the series)".into(),
            });
        }
        let (names, mut rows) = read_series(path, columns)?;
        if window == 0 || horizon == 0 {
            return Err(Error::BadConfig {
                field: "window/horizon".into(),
                value: format!("{window}/{horizon}"),
                reason: "both must be at least 1".into(),
            });
        }
        let span = window + horizon;
        let mut n = rows.len();
        let mut split = n - (n as f64 * valid_fraction).round() as usize;
        if let Some(v) = valid_file {
            let (_, vrows) = read_series(v, &names)?;
            if vrows.len() < span {
                return Err(Error::Input(format!(
                    "{}: {} rows; a window of {window} and a horizon of {horizon} need {span} to score one",
                    v.display(),
                    vrows.len()
                )));
            }
            split = n;
            rows.extend(vrows);
            n = rows.len();
        }
        if split < span + 1 {
            return Err(Error::Input(format!(
                "{}: {n} rows; a window of {window} and a horizon of {horizon} need more than {span} for training",
                path.display()
            )));
        }
        let normalize: Vec<(f64, f64)> = names
            .iter()
            .enumerate()
            .map(|(c, name)| {
                mean_deviation(rows[..split].iter().map(|r| r[c]))
                    .ok_or_else(|| Error::format(path, format!("column `{name}`: {TOO_LARGE}")))
            })
            .collect::<Result<_>>()?;
        let series = rows
            .iter()
            .map(|r| r.iter().zip(&normalize).map(|(x, (m, s))| ((x - m) / s) as f32).collect())
            .collect();
        let train: Vec<usize> = (0..=split - span).collect();
        // Held-out windows predict held-out rows; from a file of its own, they also read only it.
        let first = if valid_file.is_some() { split } else { split.saturating_sub(window) };
        let valid: Vec<usize> = (first..n.saturating_sub(span - 1)).filter(|&s| s + span <= n).collect();
        let spec = ForecastSpec { name: "forecast".into(), columns: names, window, horizon, normalize };
        let order = Shuffled::new(train.clone());
        Ok(Forecast { spec, series, train, valid, order })
    }

    fn fill(&self, starts: &[usize], out: &mut Batch) {
        let (w, h) = (self.spec.window, self.spec.horizon);
        out.input.clear();
        out.dense.clear();
        out.classes.clear();
        out.lengths.clear();
        for &s in starts {
            for r in &self.series[s..s + w] {
                out.input.extend_from_slice(r);
            }
            for r in &self.series[s + w..s + w + h] {
                out.dense.extend_from_slice(r);
            }
        }
        out.batch = starts.len();
        out.steps = w;
    }

    /// RMSE over the held-out windows in the series' own units, averaged over columns.
    pub fn valid_rmse(&self, model: &Model<f32>, sess: &mut Session<f32>) -> Result<f64> {
        let set = if self.valid.is_empty() { &self.train } else { &self.valid };
        let mut b = Batch::default();
        self.fill(set, &mut b);
        let o = sess.forward(model, Seqs::new(&b.input, b.batch, b.steps), None)?;
        let cols = self.spec.columns.len();
        let mut sq = 0.0;
        for (i, (p, y)) in o.logits.iter().zip(&b.dense).enumerate() {
            let sd = self.spec.normalize[i % cols].1;
            sq += ((p - y) as f64 * sd).powi(2);
        }
        Ok((sq / b.dense.len().max(1) as f64).sqrt())
    }
}

impl Task for Forecast {
    fn steps_per_epoch(&self, batch_size: usize) -> usize {
        self.train.len().div_ceil(batch_size.max(1))
    }

    fn train_batch(
        &mut self,
        _epoch: usize,
        step: usize,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Batch,
    ) {
        let starts = self.order.batch(step, batch_size, rng).to_vec();
        self.fill(&starts, out);
    }

    fn evaluate(
        &self,
        model: &Model<f32>,
        sess: &mut Session<f32>,
        _final_eval: bool,
    ) -> Result<Vec<Metric>> {
        Ok(vec![("valid_rmse".into(), self.valid_rmse(model, sess)?)])
    }

    fn task_json(&self) -> serde_json::Value {
        crate::train::spec_json(&self.spec)
    }
}

/// The registry's entry.
pub static FORECAST: ForecastTask = ForecastTask;

/// `recur train forecast`.
pub struct ForecastTask;

/// The most rows `--ahead` may ask for (each is one pass over a window).
const MAX_AHEAD: usize = 1 << 20;

impl TaskKind for ForecastTask {
    fn info(&self) -> &'static Info {
        &Info {
            name: "forecast",
            aliases: &[],
            about: "Forecast the next values of a numeric time series in a CSV file (--data).",
            flags: &["--data", "--columns", "--window", "--horizon", "--valid-fraction", "--valid-data"],
        }
    }
    fn check(&self, file: &ModelFile) -> std::result::Result<(), String> {
        let spec: ForecastSpec = crate::task::read_spec(file)?;
        let cols = spec.columns.len();
        if cols == 0 || spec.normalize.len() != cols {
            return Err(format!("{cols} columns with {} normalizations", spec.normalize.len()));
        }
        if spec.window == 0 || spec.horizon == 0 {
            return Err(format!("window {} and horizon {} must be at least 1", spec.window, spec.horizon));
        }
        let features = file.model.config.features();
        if features != cols {
            return Err(format!("{cols} columns but the model reads {features} features per step"));
        }
        crate::task::outputs_fit(file, cols.saturating_mul(spec.horizon), "values (columns x horizon)")
    }

    /// An LSTM of 32, Adam 1e-2 cosine-annealed, batches of 32 windows, 20 epochs.
    fn preset(&self, _p: PresetName, _d: &TaskOptions) -> Preset {
        Preset::adam(32, 32, 20, 1e-2)
    }

    fn train(&self, s: Setup, obs: &mut dyn Observer) -> anyhow::Result<String> {
        let d = &s.data;
        let path = d.data.clone().context("forecast needs --data FILE.csv (a numeric column per series)")?;
        let (window, horizon) = (d.window.unwrap_or(20), d.horizon.unwrap_or(1));
        let f = &d.files;
        if f.valid_data.is_some() && d.valid_fraction.is_some() {
            anyhow::bail!("give --valid-data or --valid-fraction, not both");
        }
        if f.test_data.is_some() || d.test_fraction.is_some() {
            anyhow::bail!("forecast has no test set; hold rows out with --valid-data or --valid-fraction");
        }
        let vf = if f.valid_data.is_some() { 0.0 } else { d.valid_fraction.unwrap_or(0.2) };
        let mut task = Forecast::load(&path, &d.columns, window, horizon, vf, f.valid_data.as_deref())?;
        let cols = task.spec.columns.len();
        let mut model = s.new_model(s.model_config(cols, cols * horizon, HeadKind::Last, LossKind::Mse))?;
        let data = format!(
            "{}: {:?}, windows of {window} -> next {horizon}, {} training / {} held-out windows",
            path.display(),
            task.spec.columns,
            task.train.len(),
            task.valid.len()
        );
        let report = fit("forecast", &mut model, &mut task, &s.train, &data, obs)?;
        let sds: Vec<String> = task.spec.normalize.iter().map(|(_, s)| format!("{s:.4}")).collect();
        Ok(format!(
            "done: held-out RMSE {:.4} (the series' deviation: {}) after {}",
            report.metrics.first().map_or(f64::NAN, |m| m.1),
            sds.join(", "),
            ran(&report, &s.train)
        ))
    }

    /// `--input series.csv`: forecasts `--ahead` rows past its end, feeding each prediction
    /// back; writes `step,<columns>` in the series' units (or JSON Lines for a `.jsonl`
    /// output). An array input goes the generic way (the logits of each window).
    fn predict_file(
        &self,
        file: &ModelFile,
        o: &PredictOptions,
        sess: &mut Session<f32>,
        out: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        let Some(path) = o.input.as_deref() else { return Ok(false) };
        if !path.extension().is_some_and(|e| e == "csv" || e == "tsv" || e == "jsonl") {
            return Ok(false);
        }
        if o.ahead > MAX_AHEAD {
            anyhow::bail!("--ahead {} is more than {MAX_AHEAD} rows", o.ahead);
        }
        let spec: ForecastSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
        let (_, rows) = read_series(path, &spec.columns)?;
        if rows.len() < spec.window {
            anyhow::bail!(
                "{}: {} rows; the model reads windows of {}",
                path.display(),
                rows.len(),
                spec.window
            );
        }
        let next = spec
            .continue_series(&file.model, sess, &rows, o.ahead)
            .with_context(|| path.display().to_string())?;
        let output = o.output.as_deref();
        let text = if is_jsonl(output) { spec.to_jsonl(&next) } else { spec.to_csv(&next) };
        write_or_print(output, &text, &format!("{} forecast rows", next.len()), out)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_too_far_from_training_is_an_error_not_inf() {
        let spec = ForecastSpec {
            name: "forecast".into(),
            columns: vec!["a".into(), "b".into()],
            window: 2,
            horizon: 1,
            normalize: vec![(1.0, 2.0), (0.0, 1.0)],
        };
        assert_eq!(spec.norm_row(0, &[3.0, -1.0]).unwrap(), [1.0, -1.0]);
        let e = spec.norm_row(6, &[3.0, 1e300]).unwrap_err().to_string();
        assert!(e.starts_with("row 7 of the series, column `b`: 1e300 is too far"), "{e}");
    }
}
