//! `recur plot`: training curves from `--metrics` files, or a forecaster against its series
//! (`--model M --input series.csv`), into a PNG or SVG. The drawing is in `crate::plot`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgGroup, Args};

use crate::cli::ComputeArgs;
use crate::io::model_file::load;
use crate::model::Session;
use crate::plot::forecast::{self, Options};
use crate::plot::metrics::{MetricsFile, XAxis, chart};
use crate::plot::{Format, parse_size};
use crate::task::forecast::ForecastSpec;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["metrics", "model"])))]
pub struct PlotArgs {
    /// A metrics file written by `recur train ... --metrics FILE`; repeat to overlay runs.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with = "model")]
    pub metrics: Vec<PathBuf>,
    /// With --metrics: draw only these metrics (comma-separated), e.g. `train_loss,valid_error`.
    #[arg(long, value_delimiter = ',', value_name = "NAME", conflicts_with = "model")]
    pub only: Vec<String>,
    /// With --metrics: the x axis.
    #[arg(long, value_enum, default_value_t = XAxis::Epoch, conflicts_with = "model")]
    pub x: XAxis,
    /// A forecaster (`recur train forecast`) to draw against the series given by --input.
    #[arg(long, short, requires = "input")]
    pub model: Option<PathBuf>,
    /// With --model: the series CSV (the model's columns).
    #[arg(long, requires = "model")]
    pub input: Option<PathBuf>,
    /// With --model: rows of the series shown, counted from its end (0: all).
    #[arg(long, default_value_t = 300, requires = "model")]
    pub rows: usize,
    /// With --model: forecast the last N rows from the rows before them, feeding predictions
    /// back, and draw that against the truth (0: no such curve).
    #[arg(long, default_value_t = 50, requires = "model")]
    pub backtest: usize,
    /// With --model: also forecast N rows past the end of the series (as `recur predict --ahead`).
    #[arg(long, default_value_t = 0, requires = "model")]
    pub ahead: usize,
    /// The picture: `.png` or `.svg`.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Picture size in pixels, WIDTHxHEIGHT (default: 1000 wide, 300 high per panel).
    #[arg(long)]
    pub size: Option<String>,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(a: PlotArgs) -> anyhow::Result<ExitCode> {
    Format::from_path(&a.output)?; // before any work
    let size = a.size.as_deref().map(parse_size).transpose()?;
    let default_size = |panels: usize| (1000, 60 + 300 * panels.max(1) as u32);
    if let (Some(model), Some(input)) = (&a.model, &a.input) {
        let file = load(model)?;
        let spec: ForecastSpec = file
            .task
            .clone()
            .filter(|t| t.get("name").and_then(|n| n.as_str()) == Some("forecast"))
            .and_then(|t| serde_json::from_value(t).ok())
            .with_context(|| {
                format!("{}: not a forecaster (train one with `recur train forecast`)", model.display())
            })?;
        crate::task::of_file(&file, model)?;
        let mut sess = Session::new(a.compute.threads);
        let opts = Options { rows: a.rows, backtest: a.backtest, ahead: a.ahead };
        let p = forecast::plot(&file.model, &spec, &mut sess, input, opts)?;
        let size = size.unwrap_or_else(|| default_size(p.chart.panels.len()));
        p.chart.write(&a.output, size)?;
        let mut line = format!(
            "wrote {} ({}x{}): rows {}..{} of {}",
            a.output.display(),
            size.0,
            size.1,
            p.first_row,
            p.series_rows,
            p.series_rows
        );
        if let Some(r) = p.one_step_rmse {
            line += &format!("; one-step RMSE {r:.5}");
        }
        if let Some(r) = p.backtest_rmse {
            line += &format!("; the last {} rows fed back: RMSE {r:.5}", a.backtest);
        }
        outln!("{line}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let files = a.metrics.iter().map(|p| MetricsFile::read(p)).collect::<crate::Result<Vec<_>>>()?;
    let chart = chart(&files, a.x, &a.only)?;
    let size = size.unwrap_or_else(|| default_size(chart.panels.len()));
    chart.write(&a.output, size)?;
    let names: Vec<&str> =
        chart.panels.iter().flat_map(|p| p.curves.iter().map(|c| c.label.as_str())).collect();
    outln!("wrote {} ({}x{}): {}", a.output.display(), size.0, size.1, names.join(", "))?;
    Ok(ExitCode::SUCCESS)
}
