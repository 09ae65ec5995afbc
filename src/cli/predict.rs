//! `recur predict --model M ...`: run a saved model on task inputs given as arguments (e.g.
//! bit strings) or on a float32 `.npy` array `[batch, time, features]`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::train::task_name;
use crate::cli::{ComputeArgs, ModelArg};
use crate::data::addition::{AdditionSpec, decode, encode as encode_addition, parse_summand};
use crate::data::bitcount::{BitCountSpec, parse_bits};
use crate::data::forecast::{ForecastSpec, read_series};
use crate::data::mnist::{MnistSpec, draw, read_set};
use crate::data::npy_rows::{is_npy, read_lengths, read_npy_table};
use crate::data::predictions::{RowTask, not_a_row_task, predict, softmax};
use crate::data::rows::read_table;
use crate::io::atomic::write_atomic;
use crate::io::model_file::{ModelFile, describe, load};
use crate::io::npy;
use crate::model::Seqs;
use crate::model::{HeadKind, LossKind, Session};

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Task inputs, e.g. bit strings for a bitcount model.
    pub inputs: Vec<String>,
    /// A file to run the model on: rows (CSV/TSV, JSON Lines) or an array [batch, time,
    /// features] (.npy) for classify/regress/label models; any model runs on a .npy array
    /// with --output Y.npy (raw logits).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With --input X.npy: integer lengths [batch] of its sequences padded to its steps.
    #[arg(long)]
    pub lengths: Option<PathBuf>,
    /// With --input X.npy for a classify/regress/label model: the true targets (as for
    /// `recur train --targets`), to report the accuracy or RMSE.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// Write the outputs here instead of printing them: .npy (logits or --probs), .jsonl (one
    /// JSON object per input row) or else CSV.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// With --output: write probabilities (softmax, or sigmoid for bce) instead of logits.
    #[arg(long)]
    pub probs: bool,
    /// For a PyTorch-saved file (no recur metadata): where the head reads, `last` step (the
    /// default) or every `step`.
    #[arg(long)]
    pub head: Option<HeadKind>,
    /// For a PyTorch-saved file: the head's loss, which decides --probs: `ce` (softmax, the
    /// default), `bce` (sigmoid) or `mse` (none).
    #[arg(long)]
    pub loss: Option<LossKind>,
    /// mnist: draw test image N (of the full t10k file) and classify it.
    #[arg(long)]
    pub image: Option<usize>,
    /// mnist: where the IDX files are, if not where the model was trained from.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// forecast: rows to forecast past the end of the --input series (fed back as they come).
    #[arg(long, default_value_t = 10)]
    pub ahead: usize,
    /// How many of the most likely classes to print.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(a: PredictArgs) -> anyhow::Result<ExitCode> {
    let mut file = load(&a.model.model)?;
    if file.inferred {
        if let Some(h) = a.head {
            file.model.config.head = h;
        }
        if let Some(l) = a.loss {
            file.model.config.loss = l;
        }
        eprintln!(
            "recur: note: {} has no recur metadata; inferred from its tensors: {}",
            a.model.model.display(),
            describe(&file.model.config)
        );
    } else if a.head.is_some() || a.loss.is_some() {
        bail!("--head and --loss are for PyTorch-saved files; {} records its own", a.model.model.display());
    }
    let mut sess = Session::new(a.compute.threads);
    if let Some(path) = &a.input {
        if !a.inputs.is_empty() {
            bail!("give either --input FILE.npy or inputs as arguments, not both");
        }
        let text = path.extension().is_some_and(|e| e == "csv" || e == "tsv" || e == "jsonl");
        let forecast =
            file.task.as_ref().and_then(|t| t.get("name")).and_then(|n| n.as_str()) == Some("forecast");
        if text && forecast {
            return predict_forecast(&file, path, a.ahead, a.output.as_deref(), &mut sess);
        }
        // An array for a row model runs like a file of rows, unless raw logits are asked for.
        let rows_model = RowTask::from_json(file.task.as_ref()).is_some();
        let raw = a.output.as_deref().is_some_and(is_npy);
        if text || (rows_model && !raw) {
            let arrays = (a.lengths.as_deref(), a.targets.as_deref());
            return predict_rows(&file, path, arrays, a.output.as_deref(), &mut sess);
        }
        return predict_npy(
            &file,
            path,
            a.lengths.as_deref(),
            a.output.as_deref(),
            a.probs,
            a.top,
            &mut sess,
        );
    }
    if let Some(n) = a.image {
        let spec: MnistSpec = serde_json::from_value(file.task.clone().unwrap_or_default())
            .context("--image needs a model trained by `recur train mnist`")?;
        let dir = a.data_dir.clone().unwrap_or(spec.data_dir);
        let test = read_set(&dir, "t10k")?;
        if n >= test.len() {
            bail!("--image {n}: the test set has images 0..{}", test.len() - 1);
        }
        let out = sess.forward(&file.model, Seqs::new(test.image(n), 1, 28), None)?;
        let p = probabilities(&file.model.config.loss, &out.logits);
        let names = spec.dataset.class_names();
        outln!("{}", draw(test.image(n)))?;
        let top = top_k(&p, a.top);
        let mut line = format!(
            "test image {n}: predicted {} (true {})",
            names[top[0].0], names[test.labels[n] as usize]
        );
        for (c, pr) in &top {
            let _ = write!(line, "  p({})={pr:.4}", names[*c]);
        }
        outln!("{line}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.inputs.is_empty() {
        bail!("nothing to predict: give inputs as arguments, --input FILE.npy, or --image N (mnist)");
    }
    match task_name(file.task.as_ref())?.as_str() {
        "bitcount" => {
            let spec: BitCountSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
            for s in &a.inputs {
                let x = parse_bits(s, spec.bits)?;
                let out = sess.forward(&file.model, Seqs::new(&x, 1, spec.bits), None)?;
                let p = probabilities(&file.model.config.loss, &out.logits);
                let top = top_k(&p, a.top);
                let mut line = format!("{s}: {} ones", top[0].0);
                for (c, pr) in &top {
                    let _ = write!(line, "  p({c})={pr:.4}");
                }
                outln!("{line}")?;
            }
        }
        "addition" => {
            if !a.inputs.len().is_multiple_of(2) {
                bail!("give summands in pairs: `recur predict -m {} 123 456`", a.model.model.display());
            }
            for pair in a.inputs.chunks(2) {
                let (x, y) = (parse_summand(&pair[0])?, parse_summand(&pair[1])?);
                let want = x as u128 + y as u128;
                // Any length runs: one step per bit of the sum, at least the training length.
                let spec: AdditionSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
                let bits = (128 - want.leading_zeros() as usize).max(spec.bits);
                let (mut inp, mut tgt) = (Vec::new(), Vec::new());
                encode_addition(&[(x, y)], bits, &mut inp, &mut tgt);
                let out = sess.forward(&file.model, Seqs::new(&inp, 1, bits), None)?;
                let got = decode(&out.logits);
                let shown: String =
                    out.logits.iter().rev().map(|&l| if l > 0.0 { '1' } else { '0' }).collect();
                let verdict =
                    if got == want { "correct".to_string() } else { format!("wrong: the sum is {want}") };
                outln!("{x} + {y} = {got}  (bits {shown}, {bits} steps; {verdict})")?;
            }
        }
        other => bail!("task `{other}` takes no command-line inputs here; use --input FILE.npy"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs any model on an array `[batch, time, features]` (`[batch, time]` of token ids for a
/// model with an embedding): the raw logits, or probabilities, per sequence or step. A recur
/// model of numeric rows gets its inputs normalized as in training; `lengths` marks padding.
fn predict_npy(
    file: &ModelFile,
    path: &Path,
    lengths: Option<&Path>,
    output: Option<&Path>,
    probs: bool,
    top: usize,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let cfg = &file.model.config;
    let (shape, mut data) = npy::read_f32(path)?;
    let width = if cfg.vocab_size.is_some() { 1 } else { cfg.input_size };
    let (b, t) = match shape[..] {
        [b, t, f] if f == width => (b, t),
        [b, t] if width == 1 => (b, t),
        _ => bail!("{}: array has shape {shape:?}; this model needs [batch, time, {width}]", path.display()),
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        let (row, step) = (i / (t * width), i / width % t + 1);
        bail!("{}: index {row}, step {step}: {} is not a finite number", path.display(), data[i]);
    }
    let lengths = lengths.map(|l| read_lengths(l, path, &shape)).transpose()?;
    if let Some(task) = RowTask::from_json(file.task.as_ref()) {
        task.encoder()?.normalize_in_place(&mut data);
    }
    let seqs = Seqs { input: &data, batch: b, steps: t, lengths: lengths.as_deref() };
    let out = sess.forward(&file.model, seqs, None).with_context(|| format!("running {}", path.display()))?;
    let c = cfg.output_size;
    let values = if probs {
        out.logits.chunks(c).flat_map(|row| probabilities(&cfg.loss, row)).collect()
    } else {
        out.logits.clone()
    };
    let oshape = match cfg.head {
        HeadKind::Last => vec![b, c],
        HeadKind::Step => vec![b, t, c],
    };
    if let Some(o) = output {
        npy::write_f32(o, &oshape, &values)?;
        outln!("wrote {} {:?} to {}", if probs { "probabilities" } else { "logits" }, oshape, o.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    for (i, row) in out.logits.chunks(c).enumerate() {
        let label = match cfg.head {
            HeadKind::Last => format!("[{i}]"),
            HeadKind::Step => format!("[{}, {}]", i / t, i % t),
        };
        let logits: Vec<String> = row.iter().map(|v| format!("{v:.5}")).collect();
        let mut line = format!("{label} logits [{}]", logits.join(", "));
        if cfg.loss != LossKind::Mse {
            let p = probabilities(&cfg.loss, row);
            for (k, pr) in top_k(&p, top) {
                let _ = write!(line, "  p({k})={pr:.4}");
            }
        }
        outln!("{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `classify`, `regress` or `label` model over the rows of a CSV/TSV, JSON Lines or
/// `.npy` file; writes CSV (or JSON Lines for a `.jsonl` output) to `output` or stdout, and
/// reports the score on stderr when the rows carry labels.
fn predict_rows(
    file: &ModelFile,
    path: &Path,
    (lengths, targets): (Option<&Path>, Option<&Path>),
    output: Option<&Path>,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let task = RowTask::from_json(file.task.as_ref()).ok_or_else(|| not_a_row_task(path))?;
    let table = if is_npy(path) {
        read_npy_table(path, targets, lengths, task.target_kind())?
    } else {
        if lengths.is_some() {
            bail!("--lengths is for .npy inputs; {} gives each sequence's own length", path.display());
        }
        if targets.is_some() {
            bail!("--targets is for .npy inputs; {} holds its labels in a column", path.display());
        }
        let (label, seq) = task.columns();
        read_table(path, label, seq, false)?
    };
    let p = predict(&file.model, sess, &task, &table)?;
    let text = if is_jsonl(output) { p.to_jsonl() } else { p.to_csv() };
    write_or_print(output, &text, &format!("{} predictions", p.rows.len()))?;
    if let Some(s) = &p.score {
        eprintln!("{s}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Forecasts `ahead` rows past the end of a series, feeding each prediction back; writes
/// `step,<columns>` in the series' units (or JSON Lines for a `.jsonl` output).
fn predict_forecast(
    file: &ModelFile,
    path: &Path,
    ahead: usize,
    output: Option<&Path>,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let spec: ForecastSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
    let (_, rows) = read_series(path, &spec.columns)?;
    if rows.len() < spec.window {
        bail!("{}: {} rows; the model reads windows of {}", path.display(), rows.len(), spec.window);
    }
    let next =
        spec.continue_series(&file.model, sess, &rows, ahead).with_context(|| path.display().to_string())?;
    let text = if is_jsonl(output) { spec.to_jsonl(&next) } else { spec.to_csv(&next) };
    write_or_print(output, &text, &format!("{} forecast rows", next.len()))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether predictions go to a JSON Lines file (else CSV).
fn is_jsonl(output: Option<&Path>) -> bool {
    output.is_some_and(|o| o.extension().is_some_and(|e| e == "jsonl"))
}

/// Writes `text` to `output` atomically, saying `wrote <what> to <output>`, or prints it.
fn write_or_print(output: Option<&Path>, text: &str, what: &str) -> anyhow::Result<()> {
    match output {
        Some(o) => {
            write_atomic(o, text.as_bytes())?;
            outln!("wrote {what} to {}", o.display())?;
        }
        None => outln!("{}", text.trim_end())?,
    }
    Ok(())
}

/// Softmax for `ce`, elementwise sigmoid for `bce`, identity for `mse`.
pub fn probabilities(loss: &LossKind, logits: &[f32]) -> Vec<f32> {
    match loss {
        LossKind::CrossEntropy => softmax(logits).into_iter().map(|p| p as f32).collect(),
        LossKind::Bce => logits.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        LossKind::Mse => logits.to_vec(),
    }
}

/// The `k` largest entries as (index, value), largest first.
pub fn top_k(p: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<(usize, f32)> = p.iter().copied().enumerate().collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    idx.truncate(k.max(1));
    idx
}
