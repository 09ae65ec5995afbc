//! The `recur` binary: parse arguments, run, print errors with their whole cause chain.
//! Everything else lives in the library; see `src/cli/` for the subcommands.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = recur::cli::Cli::parse();
    match recur::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`recur ... | head`) is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("recur: {err:#}");
            ExitCode::FAILURE
        }
    }
}
