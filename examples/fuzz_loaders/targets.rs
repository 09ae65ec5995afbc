//! What the fuzzer feeds: every reader of a file a user gives recur, on bytes in memory.
//!
//! Adding a target is one entry in [`TARGETS`]: a name (also the corpus folder,
//! `fuzz/corpus/<name>/`), the file name its errors must mention, the format its mutations
//! know about, and a function from the bytes to `Ok` or the error's message, calling the same
//! code the command line calls on a file of that kind.

use std::path::Path;

use recur::data::encoding::{Encoder, step_labels};
use recur::data::{idx, rows, series, tokenize::Vocab};
use recur::io::{model_file, npy};
use recur::plot::metrics::MetricsFile;
use recur::task::lm::LanguageModel;
use recur::task::text::Text;
use recur::train::checkpoint::Checkpoint;

/// What a target's format-aware mutations know about its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 8-byte little-endian header length, a JSON header (tensors and `__metadata__`), data.
    Safetensors,
    /// `\x93NUMPY`, version, header length, a Python dict header, data.
    Npy,
    /// `00 00 08 n`, n big-endian u32 dimensions, data.
    Idx,
    /// An IDX file, gzipped.
    IdxGz,
    /// Comma-separated text with a header line.
    Csv,
    /// Tab-separated text with a header line.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// Any text.
    Text,
}

/// A reader to fuzz.
pub struct Target {
    /// Its name on the command line and its corpus folder.
    pub name: &'static str,
    /// The file name the reader is given; every error must mention it.
    pub file: &'static str,
    /// What the mutations know about the bytes.
    pub format: Format,
    /// Reads the bytes as recur reads such a file: `Err` holds the error's message.
    pub load: fn(&[u8], &Path) -> Result<(), String>,
}

/// Every target, in the order `--target all` runs them.
pub static TARGETS: &[Target] = &[
    Target { name: "safetensors", file: "model.safetensors", format: Format::Safetensors, load: model },
    Target { name: "npy", file: "x.npy", format: Format::Npy, load: |b, p| done(npy::parse(b, p)) },
    Target { name: "npy-ints", file: "y.npy", format: Format::Npy, load: |b, p| done(npy::parse_ints(b, p)) },
    Target { name: "idx", file: "t10k-images-idx3-ubyte", format: Format::Idx, load: idx },
    Target { name: "idx-gz", file: "t10k-images-idx3-ubyte.gz", format: Format::IdxGz, load: idx },
    Target { name: "csv", file: "rows.csv", format: Format::Csv, load: table },
    Target { name: "tsv", file: "rows.tsv", format: Format::Tsv, load: table },
    Target { name: "jsonl", file: "rows.jsonl", format: Format::Jsonl, load: table },
    Target {
        name: "series",
        file: "series.csv",
        format: Format::Csv,
        load: |b, p| done(series::parse_series(b, p, &[])),
    },
    Target { name: "text", file: "book.txt", format: Format::Text, load: text },
    Target {
        name: "metrics",
        file: "run.jsonl",
        format: Format::Jsonl,
        load: |b, p| done(MetricsFile::parse(b, p)),
    },
    Target {
        name: "train-state",
        file: "model.safetensors.state",
        format: Format::Safetensors,
        load: |b, p| done(Checkpoint::parse(b, p)),
    },
];

/// The target of this name.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn done<T>(r: recur::Result<T>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}

/// `recur eval/predict/generate --model`: the file, then its task metadata checked against
/// the model (a PyTorch-saved file has none, which is an error only for commands that need it).
fn model(b: &[u8], p: &Path) -> Result<(), String> {
    let file = model_file::parse(b, p).map_err(|e| e.to_string())?;
    model_file::describe(&file.model.config);
    match file.task {
        Some(_) => recur::task::of_file(&file, p).map(drop).map_err(|e| format!("{e:#}")),
        None => Ok(()),
    }
}

/// `recur train mnist`: images and labels files, raw or gzipped.
fn idx(b: &[u8], p: &Path) -> Result<(), String> {
    done(idx::parse_idx(b, p))
}

/// `recur train classify|regress|label --data`, `recur predict --input`: the rows, then their
/// sequences encoded as training does (symbols or numbers, per-step labels).
fn table(b: &[u8], p: &Path) -> Result<(), String> {
    let table = rows::parse_table(b, p, "label", "sequence", true).map_err(|e| e.to_string())?;
    let enc = Encoder::fit(&table).map_err(|e| e.to_string())?;
    for row in &table.rows {
        enc.encode(&table.src, row).map_err(|e| e.to_string())?;
        if let Some(label) = &row.label {
            step_labels(label);
        }
    }
    Ok(())
}

/// `recur train text --text FILE` and `recur eval --text FILE`: the file as UTF-8 (what
/// `std::fs::read_to_string` checks), a language model's vocabularies and ids (characters and
/// words, whole and cut) and the tutorial's window model, with the command line's context
/// (the file's name) on their errors.
fn text(b: &[u8], p: &Path) -> Result<(), String> {
    let text = std::str::from_utf8(b).map_err(|e| format!("reading {}: {e}", p.display()))?;
    let mut first_error = None;
    for char_level in [true, false] {
        for (max_vocab, min_count) in [(None, 1), (Some(8), 2)] {
            let vocab = Vocab::build(text, char_level, max_vocab, min_count);
            vocab.encode(text, char_level);
            if let Err(e) = LanguageModel::new(text, char_level, vocab, 0.1, 100) {
                first_error.get_or_insert(format!("{}: {e}", p.display()));
            }
        }
    }
    if let Err(e) = Text::new(text, false, 3, 0.1) {
        first_error.get_or_insert(format!("cutting {} into windows: {e}", p.display()));
    }
    first_error.map_or(Ok(()), Err)
}
