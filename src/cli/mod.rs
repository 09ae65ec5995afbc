//! Command-line interface: argument structs (clap derive) and one small function per
//! subcommand that turns arguments into library calls. No math here.

/// `println!` that returns the error instead of panicking, so that `recur ... | head` ends
/// quietly (main treats a broken pipe as success).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod bench;
mod eval;
mod export;
mod generate;
mod inspect;
mod plot;
mod predict;
mod progress;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Recurrent neural networks (RNN, LSTM, GRU) on the CPU: train, evaluate, predict, benchmark.
#[derive(Parser, Debug)]
#[command(name = "recur", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model on a task: bitcount, addition, mnist, text, or your own data.
    Train(Box<train::TrainArgs>),
    /// Re-measure a saved model on its task's held-out data.
    Eval(eval::EvalArgs),
    /// Run a saved model on inputs.
    Predict(predict::PredictArgs),
    /// Continue a text with a model trained by `recur train text`.
    Generate(generate::GenerateArgs),
    /// Time training steps of the four tutorial configurations.
    Bench(bench::BenchArgs),
    /// Show what a model file holds: architecture, task, every tensor's shape and statistics.
    Inspect(inspect::InspectArgs),
    /// Write a model as an ONNX file for ONNX Runtime and other runtimes.
    Export(export::ExportArgs),
    /// Draw training curves from --metrics files, or a forecaster against its series.
    Plot(plot::PlotArgs),
}

/// The flag shared by every subcommand that computes.
#[derive(Args, Debug, Clone)]
pub struct ComputeArgs {
    /// Worker threads. A batch is split into min(threads, batch/16) chunks, one per thread; the
    /// result depends on the chunk count, so a seed and a thread count repeat a run exactly.
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
}

/// The most worker threads `--threads` may ask for.
const MAX_THREADS: usize = 256;

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A model path argument.
#[derive(Args, Debug, Clone)]
pub struct ModelArg {
    /// Model file (.safetensors) written by `recur train` or PyTorch.
    #[arg(long, short)]
    pub model: PathBuf,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let threads = match &cli.command {
        Command::Train(a) => a.compute.threads,
        Command::Eval(a) => a.compute.threads,
        Command::Predict(a) => a.compute.threads,
        Command::Bench(a) => a.compute.threads,
        Command::Plot(a) => a.compute.threads,
        Command::Generate(_) | Command::Inspect(_) | Command::Export(_) => 1,
    };
    if threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    if threads > MAX_THREADS {
        anyhow::bail!(
            "--threads {threads} is more than recur uses ({MAX_THREADS} at most; this machine has {})",
            default_threads()
        );
    }
    // The global pool runs the batch chunks and the optimizer; size it to --threads. (Fails
    // only if already built, e.g. when called twice in one process; the old pool is kept.)
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    match cli.command {
        Command::Train(a) => train::run(*a),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Export(a) => export::run(a),
    }
}
