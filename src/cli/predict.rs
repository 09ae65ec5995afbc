//! `recur predict --model M ...`: run a saved model on task inputs given as arguments (e.g.
//! bit strings), on a file of rows or a series, or on a float32 `.npy` array.

use std::process::ExitCode;

use clap::Args;

use crate::cli::{ComputeArgs, ModelArg};
use crate::io::model_file::load;
use crate::model::Session;
use crate::task::PredictOptions;
use crate::task::predict::predict;

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Task inputs, e.g. bit strings for a bitcount model.
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub options: PredictOptions,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(a: PredictArgs) -> anyhow::Result<ExitCode> {
    let file = load(&a.model.model)?;
    let mut sess = Session::new(a.compute.threads);
    predict(file, &a.model.model, &a.inputs, &a.options, &mut sess, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
