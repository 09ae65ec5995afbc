//! `recur eval --model M`: re-measure a saved model on its task's held-out data.

use std::process::ExitCode;

use clap::Args;

use crate::cli::{ComputeArgs, ModelArg};
use crate::io::model_file::load;
use crate::model::Session;
use crate::task::{EvalOptions, of_file};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub options: EvalOptions,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let file = load(&a.model.model)?;
    let mut sess = Session::new(a.compute.threads);
    let kind = of_file(&file, &a.model.model)?;
    kind.eval(&file, &a.model.model, &a.options, &mut sess, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
