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
            eprintln!("recur: {}", chain_message(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", as `{err:#}` does, but without repeating a cause
/// that an error's own message already ends with (`path: No such file` followed by its source,
/// `No such file`, printed once).
fn chain_message(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.ends_with(&text) {
            msg = format!("{msg}: {text}");
        }
    }
    msg
}
