//! A forecaster (`recur train forecast`) against the true series: the last rows of the series,
//! the model's one-step-ahead prediction of each row from the true window before it, a
//! forecast of the last `backtest` rows fed back from its own predictions (so its drift is seen
//! against the truth), and optionally `ahead` rows past the end (what `recur predict --ahead`
//! prints). One panel per column, in the series' own units.

use crate::model::Seqs;
use std::path::Path;

use super::chart::{Chart, Curve, PALETTE, Panel, Style};
use crate::data::series::read_series;
use crate::error::{Error, Result};
use crate::model::{Model, Session};
use crate::task::forecast::ForecastSpec;

/// What to draw.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Rows of the series shown, from the end (0: all).
    pub rows: usize,
    /// The last `backtest` rows are forecast from the rows before them, fed back (0: none).
    pub backtest: usize,
    /// Rows forecast past the end of the series (0: none).
    pub ahead: usize,
}

/// The chart and the numbers worth printing next to it.
#[derive(Clone, Debug)]
pub struct ForecastPlot {
    pub chart: Chart,
    /// The first row shown (0-based) and the series' length.
    pub first_row: usize,
    pub series_rows: usize,
    /// RMSE of the one-step predictions of the rows shown, in the series' units (over columns).
    pub one_step_rmse: Option<f64>,
    /// RMSE of the fed-back forecast of the last `backtest` rows.
    pub backtest_rmse: Option<f64>,
}

/// The prediction of each row `from.max(window)..` of `series` from the `window` true rows
/// before it (the first of the model's `horizon` rows), in the series' units.
pub fn one_step(
    model: &Model<f32>,
    spec: &ForecastSpec,
    sess: &mut Session<f32>,
    series: &[Vec<f64>],
    from: usize,
) -> Result<Vec<Vec<f64>>> {
    let cols = spec.columns.len();
    let normed: Vec<Vec<f32>> =
        series.iter().enumerate().map(|(i, r)| spec.norm_row(i, r)).collect::<Result<_>>()?;
    let targets: Vec<usize> = (from.max(spec.window)..series.len()).collect();
    let mut out = Vec::with_capacity(targets.len());
    for chunk in targets.chunks(256) {
        let x: Vec<f32> =
            chunk.iter().flat_map(|&t| normed[t - spec.window..t].iter().flatten()).copied().collect();
        let o = sess.forward(model, Seqs::new(&x, chunk.len(), spec.window), None)?;
        let per = o.logits.len() / chunk.len();
        out.extend(o.logits.chunks(per).map(|p| spec.denorm_row(&p[..cols])));
    }
    Ok(out)
}

fn rmse(pred: &[Vec<f64>], truth: &[Vec<f64>]) -> Option<f64> {
    let (mut sq, mut n) = (0.0, 0usize);
    for (p, t) in pred.iter().zip(truth) {
        for (a, b) in p.iter().zip(t) {
            sq += (a - b) * (a - b);
            n += 1;
        }
    }
    (n > 0).then(|| (sq / n as f64).sqrt())
}

/// Reads the series at `path` (the model's columns) and builds the chart.
pub fn plot(
    model: &Model<f32>,
    spec: &ForecastSpec,
    sess: &mut Session<f32>,
    path: &Path,
    opts: Options,
) -> Result<ForecastPlot> {
    let (_, series) = read_series(path, &spec.columns)?;
    let n = series.len();
    if n < spec.window {
        return Err(Error::format(path, format!("{n} rows; the model reads windows of {}", spec.window)));
    }
    if opts.backtest > 0 && n < spec.window + opts.backtest {
        return Err(Error::BadConfig {
            field: "backtest".into(),
            value: opts.backtest.to_string(),
            reason: format!(
                "{} has {n} rows; forecasting the last {} needs {} rows before them (the model's window)",
                path.display(),
                opts.backtest,
                spec.window
            ),
        });
    }
    for (i, row) in series.iter().enumerate() {
        spec.norm_row(i, row).map_err(|e| Error::format(path, e.to_string()))?;
    }
    let first = if opts.rows == 0 { 0 } else { n.saturating_sub(opts.rows) };
    let steps = one_step(model, spec, sess, &series, first)?;
    let step_from = first.max(spec.window);
    let one_step_rmse = rmse(&steps, &series[step_from..]);
    let back = if opts.backtest > 0 {
        spec.continue_series(model, sess, &series[..n - opts.backtest], opts.backtest)?
    } else {
        Vec::new()
    };
    let backtest_rmse = rmse(&back, &series[n - opts.backtest..]);
    let ahead =
        if opts.ahead > 0 { spec.continue_series(model, sess, &series, opts.ahead)? } else { Vec::new() };

    let curve = |label: String, color, style, from: usize, rows: &[Vec<f64>], c: usize| Curve {
        label,
        color,
        style,
        points: rows.iter().enumerate().map(|(i, r)| ((from + i) as f64, r[c])).collect(),
    };
    let panels = spec
        .columns
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let mut curves = vec![
                curve("series".into(), (170, 170, 170), Style::Wide, first, &series[first..], c),
                curve("one step ahead".into(), PALETTE[0], Style::Line, step_from, &steps, c),
            ];
            if !back.is_empty() {
                let label = format!("forecast from row {}, fed back", n - opts.backtest);
                curves.push(curve(label, PALETTE[1], Style::Line, n - opts.backtest, &back, c));
            }
            if !ahead.is_empty() {
                curves.push(curve("forecast past the end".into(), PALETTE[3], Style::Line, n, &ahead, c));
            }
            let headroom = 0.14 * curves.len() as f64;
            Panel {
                title: name.clone(),
                y_desc: name.clone(),
                percent: false,
                allow_log: false,
                headroom,
                curves,
            }
        })
        .collect();
    let chart = Chart { x_desc: "row".into(), x_integer: true, panels };
    Ok(ForecastPlot { chart, first_row: first, series_rows: n, one_step_rmse, backtest_rmse })
}
