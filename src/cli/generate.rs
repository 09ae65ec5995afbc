//! `recur generate --model M`: extend a prompt by feeding predictions back, or the tutorial's
//! interactive "3 words:" loop.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::data::text::{Sampling, TextSpec, generate};
use crate::io::model_file::load;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A model trained by `recur train text`.
    #[arg(long, short)]
    pub model: PathBuf,
    /// The text to continue (at least as many symbols as the model's window).
    #[arg(long)]
    pub prompt: Option<String>,
    /// How many symbols to generate.
    #[arg(long, default_value_t = 32)]
    pub words: usize,
    /// 0 = greedy (always the most likely); higher samples more freely.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample only among the k most likely symbols (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Seed for sampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Read prompts from standard input, one per line, as the tutorial's "3 words:" loop.
    #[arg(long)]
    pub interactive: bool,
}

pub fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let file = load(&a.model)?;
    let spec: TextSpec =
        file.task.clone().and_then(|t| serde_json::from_value(t).ok()).with_context(|| {
            format!("{} is not a text model (train one with `recur train text`)", a.model.display())
        })?;
    if !(a.temperature.is_finite() && a.temperature >= 0.0) {
        bail!("--temperature {} must be 0 (greedy) or positive", a.temperature);
    }
    let how = Sampling { temperature: a.temperature, top_k: a.top_k, seed: a.seed };
    let unit = if spec.char_level { "characters" } else { "words" };
    if a.interactive {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            eprint!("{} {unit}: ", spec.window);
            let Some(line) = lines.next() else { break };
            let line = line.context("reading standard input")?;
            let ids = match spec.encode(&line) {
                Ok(ids) if ids.len() == spec.window => ids,
                Ok(ids) => {
                    outln!("need {} {unit}, got {}", spec.window, ids.len())?;
                    continue;
                }
                Err(e) => {
                    outln!("{e}")?;
                    continue;
                }
            };
            let out = generate(&file.model, &spec, &ids, a.words, how)?;
            outln!("{} {}", spec.decode(&ids), spec.decode(&out))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(prompt) = &a.prompt else { bail!("give --prompt TEXT, or --interactive") };
    let ids = spec.encode(prompt)?;
    let out = generate(&file.model, &spec, &ids, a.words, how)?;
    let sep = if spec.char_level { "" } else { " " };
    outln!("{}{sep}{}", spec.decode(&ids), spec.decode(&out))?;
    Ok(ExitCode::SUCCESS)
}
