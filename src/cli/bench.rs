//! `recur bench`: ms per training step of the four tutorial configurations.

use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::bench::{configs, run as bench};
use crate::cli::ComputeArgs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Print `[{"config": ..., "ms_per_step": ...}, ...]` instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only these configurations (bitcount, addition, aesop, mnist, charlm).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Seconds of timed steps per configuration.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let all = configs();
    if let Some(bad) = a.only.iter().find(|n| !all.iter().any(|c| c.name == n.as_str())) {
        bail!("unknown bench config `{bad}` (known: bitcount, addition, aesop, mnist, charlm)");
    }
    let mut results = Vec::new();
    for c in all.iter().filter(|c| a.only.is_empty() || a.only.iter().any(|n| n == c.name)) {
        let r = bench(c, a.compute.threads, a.seconds)?;
        if !a.json {
            outln!(
                "{:<9} B={:<5} T={:<3} I={:<3} H={:<4} {:>9.3} ms/step {:>11.0} seq/s {:>9.0} tokens/s {:>7.1} GFLOP/s  ({} steps, {} threads)",
                c.name,
                c.batch,
                c.steps,
                c.model.input_size,
                c.model.hidden_sizes[0],
                r.ms_per_step,
                r.seq_per_s,
                r.tokens_per_s,
                r.gflops,
                r.steps_timed,
                a.compute.threads
            )?;
        }
        results.push(r);
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&results)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
