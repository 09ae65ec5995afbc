//! What the integration tests share: run the real `recur` binary in a directory and check how
//! it ended. (Each test file uses part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A finished run of the binary.
pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Succeeded; else shows both streams.
    pub fn ok(self) -> Self {
        assert!(
            self.out.status.success(),
            "failed:\n--- stdout\n{}\n--- stderr\n{}\n---",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// Exit 1 with a `recur: ` message and no panic.
    pub fn fails(self) -> Self {
        assert_eq!(self.out.status.code(), Some(1), "expected exit 1:\n{}\n{}", self.stdout(), self.stderr());
        let err = self.stderr();
        assert!(err.starts_with("recur: ") && !err.contains("panicked"), "{err}");
        self
    }
    /// [`Run::fails`] with `msg` in the message; returns the message.
    pub fn fails_with(self, msg: &str) -> String {
        self.fails_with_all(&[msg])
    }
    /// [`Run::fails`] with every piece of `want` in the message; returns the message.
    pub fn fails_with_all(self, want: &[&str]) -> String {
        let err = self.fails().stderr();
        for w in want {
            assert!(err.contains(w), "expected `{w}` in the error:\n{err}");
        }
        err
    }
}

/// Runs `recur args` in `dir`.
pub fn recur(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_recur")).args(args).current_dir(dir).output().unwrap();
    Run { out }
}

/// Runs `recur args` in `dir` with `input` on its standard input.
pub fn recur_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run { out: child.wait_with_output().unwrap() }
}

/// A file in `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The path of a file in `examples/data/`, as a string for an argument list.
pub fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data").join(name).to_str().unwrap().to_string()
}

/// The number after the first `key ` in `line`, as in `accuracy 99.17%` or `RMSE 0.043 (`.
pub fn number_after(line: &str, key: &str) -> f64 {
    let rest = line.split(&format!("{key} ")).nth(1).unwrap_or_default();
    let num: String =
        rest.chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e')).collect();
    num.parse().unwrap_or_else(|_| panic!("no number after `{key}` in: {line}"))
}

/// [`number_after`] on the last line of `out` (the summary line).
pub fn last_number(out: &str, key: &str) -> f64 {
    number_after(out.lines().last().unwrap_or_default(), key)
}
