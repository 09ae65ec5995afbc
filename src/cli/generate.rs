//! `recur generate --model M`: extend a prompt by feeding predictions back, or the tutorial's
//! interactive "3 words:" loop.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::io::model_file::load;
use crate::task::{GenerateOptions, of_file};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A model trained by `recur train text`.
    #[arg(long, short)]
    pub model: PathBuf,
    #[command(flatten)]
    pub options: GenerateOptions,
}

pub fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let file = load(&a.model)?;
    // A file without a task recur knows is no text model; one whose task does not fit its
    // tensors says so.
    let kind = of_file(&file, &a.model).map_err(|e| match e.downcast_ref::<crate::error::Error>() {
        Some(_) => e,
        None => {
            anyhow::anyhow!("{} is not a text model (train one with `recur train text`)", a.model.display())
        }
    })?;
    let stdin = std::io::stdin();
    kind.generate(&file, &a.model, &a.options, &mut stdin.lock(), &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
