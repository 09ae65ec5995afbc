//! `recur export --model M.safetensors -o M.onnx`: the model as an ONNX graph of standard
//! operators, for ONNX Runtime and other runtimes (see the README's Deploy section).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::cli::ModelArg;
use crate::io::model_file::{describe, load};
use crate::io::onnx::{ExportOptions, export};
use crate::model::{HeadKind, LossKind};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Where to write the ONNX file.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Add an int64 input `lengths` [batch]: the real length of each sequence of a padded
    /// batch (without it every sequence runs all `time` steps).
    #[arg(long)]
    pub lengths: bool,
    /// Output probabilities `probs` (softmax for ce, sigmoid for bce) instead of `logits`.
    #[arg(long)]
    pub probs: bool,
    /// Add inputs h0 (c0) and outputs h_n (c_n), [layers*dirs, batch, hidden], to run a long
    /// sequence in pieces, each piece's h_n the next one's h0.
    #[arg(long)]
    pub stateful: bool,
    /// For a PyTorch-saved file (no recur metadata): where the head reads, `last` step (the
    /// default) or every `step`.
    #[arg(long)]
    pub head: Option<HeadKind>,
    /// For a PyTorch-saved file: the head's loss, which decides --probs: `ce` (the default),
    /// `bce` or `mse`.
    #[arg(long)]
    pub loss: Option<LossKind>,
}

pub fn run(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let path = &a.model.model;
    let mut file = load(path)?;
    if file.inferred {
        if let Some(h) = a.head {
            file.model.config.head = h;
        }
        if let Some(l) = a.loss {
            file.model.config.loss = l;
        }
    } else if a.head.is_some() || a.loss.is_some() {
        bail!("--head and --loss are for PyTorch-saved files; {} records its own", path.display());
    }
    let opts = ExportOptions { lengths: a.lengths, probs: a.probs, stateful: a.stateful };
    export(&file, opts, &a.output)?;
    outln!("wrote {} ({}) to {}", path.display(), describe(&file.model.config), a.output.display())?;
    Ok(ExitCode::SUCCESS)
}
