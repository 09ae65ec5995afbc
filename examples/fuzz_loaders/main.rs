//! A structured mutation fuzzer for every reader recur runs on a user's file (model files,
//! `.npy` arrays, IDX images raw and gzipped, CSV/TSV and JSON Lines rows, time series, text,
//! metrics files), on stable Rust: no libFuzzer, no nightly, no instrumentation.
//!
//! ```sh
//! cargo run --release --example fuzz_loaders -- [--target NAME[,NAME...]|all] [--execs N]
//!     [--seed S] [--timeout SECS] [--errors] [--quiet] [--list] [--make-corpus]
//! ```
//!
//! For each target (`--list` shows them; `targets.rs` defines them) it reads the seeds in
//! `fuzz/corpus/<target>/`, then makes `--execs` inputs (100,000 by default) from them (see
//! `mutate.rs`) and gives each to the reader, which must not panic, must return within
//! `--timeout` (2 s), must not allocate more than 64 bytes per input byte plus 16 MiB, and must
//! name the file in its errors. A failing input is saved in `fuzz/crashes/<target>/`; the exit
//! status is 1 if any input failed. The same `--seed` gives the same inputs. `--errors` lists
//! the distinct error messages seen, `--quiet` drops the progress lines, `--make-corpus` writes
//! the seeds again from the test fixtures. `docs/fuzzing.md` says what was fuzzed and found.

mod alloc;
mod corpus;
mod mutate;
mod run;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const USAGE: &str = "usage: fuzz_loaders [--target NAME[,NAME...]|all] [--execs N] [--seed S] \
                     [--timeout SECS] [--corpus DIR] [--crashes DIR] [--errors] [--quiet] [--list] \
                     [--make-corpus]";

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fuzz_loaders: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut target = "all".to_string();
    let mut o = run::Options {
        execs: 100_000,
        seed: 1,
        timeout: Duration::from_secs(2),
        corpus: root.join("fuzz/corpus"),
        crashes: root.join("fuzz/crashes"),
        progress: Some(Duration::from_secs(30)),
    };
    let mut errors = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number =
            |s: String, name: &str| s.replace('_', "").parse::<u64>().map_err(|e| format!("{name} {s}: {e}"));
        match a.as_str() {
            "--target" => target = value("--target")?,
            "--execs" => o.execs = number(value("--execs")?, "--execs")?,
            "--seed" => o.seed = number(value("--seed")?, "--seed")?,
            "--timeout" => {
                let s = value("--timeout")?;
                o.timeout =
                    Duration::from_secs_f64(s.parse::<f64>().map_err(|e| format!("--timeout {s}: {e}"))?);
            }
            "--corpus" => o.corpus = value("--corpus")?.into(),
            "--crashes" => o.crashes = value("--crashes")?.into(),
            "--errors" => errors = true,
            "--quiet" => o.progress = None,
            "--list" => {
                for t in targets::TARGETS {
                    println!("{:<12} {:?} ({})", t.name, t.format, t.file);
                }
                return Ok(ExitCode::SUCCESS);
            }
            "--make-corpus" => {
                corpus::make(&root, &o.corpus).map_err(|e| e.to_string())?;
                return Ok(ExitCode::SUCCESS);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let chosen: Vec<&'static targets::Target> = if target == "all" {
        targets::TARGETS.iter().collect()
    } else {
        target
            .split(',')
            .map(|n| targets::by_name(n).ok_or_else(|| format!("no target {n} (--list shows them)")))
            .collect::<Result<_, _>>()?
    };
    if !alloc::installed() {
        return Err("the counting allocator is not installed".into());
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("fuzzing {} target(s), {} execs each, seed {}, on {cpu}", chosen.len(), o.execs, o.seed);
    let mut failed = 0;
    let started = std::time::Instant::now();
    for t in chosen {
        let r = run::run(t, &o).map_err(|e| e.to_string())?;
        run::print(&r, errors);
        failed += r.failed();
    }
    println!("total {:.1} s, {failed} failing inputs", started.elapsed().as_secs_f64());
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
