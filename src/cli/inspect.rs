//! `recur inspect --model M`: what a model file holds: its architecture, task, and every
//! tensor's shape and statistics; `--tensor NAME` prints one tensor's values or writes them
//! to a .npy file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::cli::ModelArg;
use crate::io::model_file::{describe, load};
use crate::io::npy;
use crate::model::inspect::summarize;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Print this tensor's values (e.g. `rnn.weight_hh_l0`), one row of the last dimension
    /// per line.
    #[arg(long)]
    pub tensor: Option<String>,
    /// With --tensor: write it to this float32 .npy file instead of printing it.
    #[arg(long, short, requires = "tensor")]
    pub output: Option<PathBuf>,
    /// Print one JSON object (config, task, tensors with statistics) instead of a table.
    #[arg(long, conflicts_with = "tensor")]
    pub json: bool,
}

pub fn run(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let file = load(&a.model.model)?;
    let m = &file.model;
    if let Some(name) = &a.tensor {
        let Some(spec) = m.specs.iter().find(|s| &s.name == name) else {
            let names: Vec<&str> = m.specs.iter().map(|s| s.name.as_str()).collect();
            bail!("{}: no tensor `{name}`; it has {}", a.model.model.display(), names.join(", "));
        };
        let values = &m.params[spec.range()];
        if let Some(out) = &a.output {
            npy::write_f32(out, &spec.shape, values)?;
            outln!("wrote {name} {:?} to {}", spec.shape, out.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        let width = spec.shape.last().copied().unwrap_or(1).max(1);
        for row in values.chunks(width) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
            outln!("{}", cells.join(" "))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let tensors = summarize(m);
    if a.json {
        let v = serde_json::json!({
            "config": m.config,
            "task": file.task,
            "inferred": file.inferred,
            "parameters": m.num_params(),
            "tensors": tensors,
        });
        outln!("{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}: {}", a.model.model.display(), describe(&m.config))?;
    if file.inferred {
        outln!("(a PyTorch file: architecture inferred from the tensor shapes)")?;
    }
    if let Some(t) = &file.task {
        outln!("task: {t}")?;
    }
    outln!("{} parameters in {} tensors", m.num_params(), tensors.len())?;
    let w = tensors.iter().map(|t| t.name.len()).max().unwrap_or(4).max(6);
    outln!("{:w$}  {:>12}  {:>10}  {:>10}  {:>10}  {:>10}", "tensor", "shape", "mean", "std", "min", "max")?;
    for t in &tensors {
        let shape = format!("{:?}", t.shape);
        outln!(
            "{:w$}  {shape:>12}  {:>10.5}  {:>10.5}  {:>10.5}  {:>10.5}{}",
            t.name,
            t.mean,
            t.std,
            t.min,
            t.max,
            if t.non_finite > 0 { format!("  {} NaN/inf!", t.non_finite) } else { String::new() }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
