//! `recur predict --model M ...`: run a saved model on task inputs given as arguments (e.g.
//! bit strings) or on a float32 `.npy` array `[batch, time, features]`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::train::task_name;
use crate::cli::{ComputeArgs, ModelArg};
use crate::data::addition::{AdditionSpec, decode, encode as encode_addition, parse_summand};
use crate::data::bitcount::{BitCountSpec, parse_bits};
use crate::data::classify::{Classify, ClassifySpec, Item, read_rows};
use crate::data::forecast::{ForecastSpec, read_series};
use crate::data::mnist::{MnistSpec, draw, read_set};
use crate::data::tagging::TaggingSpec;
use crate::io::model_file::{ModelFile, describe, load};
use crate::io::npy;
use crate::model::{HeadKind, LossKind, Session};

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Task inputs, e.g. bit strings for a bitcount model.
    pub inputs: Vec<String>,
    /// A float32 .npy array [batch, time, features] to run instead.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Write the outputs to this .npy file instead of printing them.
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
        if path.extension().is_some_and(|e| e == "csv" || e == "tsv" || e == "jsonl") {
            match file.task.as_ref().and_then(|t| t.get("name")).and_then(|n| n.as_str()) {
                Some("forecast") => return predict_forecast(&file, path, a.ahead, &mut sess),
                Some("label") => return predict_tags(&file, path, &mut sess),
                _ => {}
            }
            return predict_csv(&file, path, a.output.as_deref(), &mut sess);
        }
        return predict_npy(&file, path, a.output.as_deref(), a.probs, a.top, &mut sess);
    }
    if let Some(n) = a.image {
        let spec: MnistSpec = serde_json::from_value(file.task.clone().unwrap_or_default())
            .context("--image needs a model trained by `recur train mnist`")?;
        let dir = a.data_dir.clone().unwrap_or(spec.data_dir);
        let test = read_set(&dir, "t10k")?;
        if n >= test.len() {
            bail!("--image {n}: the test set has images 0..{}", test.len() - 1);
        }
        let out = sess.forward(&file.model, test.image(n), 1, 28, None)?;
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
                let out = sess.forward(&file.model, &x, 1, spec.bits, None)?;
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
                let out = sess.forward(&file.model, &inp, 1, bits, None)?;
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

fn predict_npy(
    file: &ModelFile,
    path: &std::path::Path,
    output: Option<&std::path::Path>,
    probs: bool,
    top: usize,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let cfg = &file.model.config;
    let (shape, data) = npy::read_f32(path)?;
    let (b, t) = match shape[..] {
        [b, t, f] if f == cfg.input_size => (b, t),
        [b, t] if cfg.input_size == 1 => (b, t),
        _ => bail!(
            "{}: array has shape {shape:?}; this model needs [batch, time, {}]",
            path.display(),
            cfg.input_size
        ),
    };
    let out = sess
        .forward(&file.model, &data, b, t, None)
        .with_context(|| format!("running {}", path.display()))?;
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

/// Classifies every row of a CSV/TSV file with a `recur train classify` model; with a label
/// column, also reports the accuracy. Writes `line,predicted,probability` to `output` or stdout.
fn predict_csv(
    file: &ModelFile,
    path: &std::path::Path,
    output: Option<&std::path::Path>,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let spec: ClassifySpec = file
        .task
        .clone()
        .and_then(|t| serde_json::from_value(t).ok())
        .context("a CSV input needs a model trained by `recur train classify` or `regress`")?;
    let rows = read_rows(path, &spec.label_column, &spec.sequence_column, false)?;
    let col = 1 + csv::Reader::from_path(path)
        .ok()
        .and_then(|mut r| {
            r.headers().ok().and_then(|h| h.iter().position(|x| x.trim() == spec.sequence_column))
        })
        .unwrap_or(0);
    let encoded: Vec<Item> =
        rows.iter().map(|r| Ok((spec.encode(r, path, col)?, 0.0))).collect::<crate::Result<_>>()?;
    if let Some((mean, sd)) = spec.target {
        // Regression: one number per row, in the targets' units.
        let mut out = String::from("line,predicted\n");
        let (mut sq, mut labelled, mut batch) = (0.0f64, 0usize, crate::train::Batch::default());
        for (chunk, rows) in encoded.chunks(256).zip(rows.chunks(256)) {
            let items: Vec<&Item> = chunk.iter().collect();
            Classify::pad(&items, true, &mut batch);
            let o = sess.forward_padded(&file.model, batch.seqs(), None)?;
            for (&v, r) in o.logits.iter().zip(rows) {
                let y = v as f64 * sd + mean;
                out += &format!("{},{y:.6}\n", r.line);
                if let Some(l) = r.label.as_deref().filter(|l| !l.is_empty()) {
                    let t: f64 = l.parse().map_err(|_| {
                        anyhow::anyhow!("{}: line {}: target `{l}` is not a number", path.display(), r.line)
                    })?;
                    sq += (y - t) * (y - t);
                    labelled += 1;
                }
            }
        }
        match output {
            Some(o) => {
                crate::io::atomic::write_atomic(o, out.as_bytes())?;
                outln!("wrote {} predictions to {}", rows.len(), o.display())?;
            }
            None => outln!("{}", out.trim_end())?,
        }
        if labelled > 0 {
            eprintln!("RMSE {:.4} on {labelled} rows with targets", (sq / labelled as f64).sqrt());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::from("line,predicted,probability\n");
    let (mut right, mut labelled, mut batch) = (0usize, 0usize, crate::train::Batch::default());
    for (chunk, rows) in encoded.chunks(256).zip(rows.chunks(256)) {
        let items: Vec<&Item> = chunk.iter().collect();
        Classify::pad(&items, false, &mut batch);
        let seqs = batch.seqs();
        let o = sess.forward_padded(&file.model, seqs, None)?;
        for (logits, r) in o.logits.chunks(spec.classes.len()).zip(rows) {
            let p = probabilities(&LossKind::CrossEntropy, logits);
            let (k, pr) = top_k(&p, 1)[0];
            out += &format!("{},{},{pr:.4}\n", r.line, spec.classes[k]);
            if let Some(l) = &r.label {
                if !spec.classes.contains(l) {
                    bail!(
                        "{}: line {}: label `{l}` was not seen in training (known: {:?})",
                        path.display(),
                        r.line,
                        spec.classes
                    );
                }
                labelled += 1;
                right += (spec.classes[k] == *l) as usize;
            }
        }
    }
    match output {
        Some(o) => {
            crate::io::atomic::write_atomic(o, out.as_bytes())?;
            outln!("wrote {} predictions to {}", rows.len(), o.display())?;
        }
        None => outln!("{}", out.trim_end())?,
    }
    if labelled > 0 {
        eprintln!("accuracy {:.2}% on {labelled} labelled rows", 100.0 * right as f64 / labelled as f64);
    }
    Ok(ExitCode::SUCCESS)
}

/// Labels every step of every row's sequence; prints `line,labels` (one label per symbol), and
/// the per-step accuracy when the file has the label column.
fn predict_tags(
    file: &ModelFile,
    path: &std::path::Path,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let spec: TaggingSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
    let rows = read_rows(path, &spec.label_column, &spec.sequence_column, false)?;
    outln!("line,labels")?;
    let (mut right, mut seen) = (0usize, 0usize);
    for r in &rows {
        let x = spec.encode(r, path)?;
        let o = sess.forward(&file.model, &x, 1, x.len(), None)?;
        let tags: String = o.logits.chunks(spec.tags.len()).map(|l| spec.tags[top_k(l, 1)[0].0]).collect();
        if let Some(want) = r.label.as_deref().filter(|l| !l.is_empty()) {
            right += tags.chars().zip(want.chars()).filter(|(a, b)| a == b).count();
            seen += want.chars().count();
        }
        outln!("{},{tags}", r.line)?;
    }
    if seen > 0 {
        eprintln!("per-step accuracy {:.2}% on {seen} labelled steps", 100.0 * right as f64 / seen as f64);
    }
    Ok(ExitCode::SUCCESS)
}

/// Forecasts `ahead` rows past the end of a series, feeding each prediction back; prints
/// `step,<columns>` in the series' units.
fn predict_forecast(
    file: &ModelFile,
    path: &std::path::Path,
    ahead: usize,
    sess: &mut Session<f32>,
) -> anyhow::Result<ExitCode> {
    let spec: ForecastSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
    let (_, rows) = read_series(path, &spec.columns)?;
    if rows.len() < spec.window {
        bail!("{}: {} rows; the model reads windows of {}", path.display(), rows.len(), spec.window);
    }
    let norm = |r: &[f64]| -> Vec<f32> {
        r.iter().zip(&spec.normalize).map(|(x, (m, s))| ((x - m) / s) as f32).collect()
    };
    let mut hist: Vec<Vec<f32>> = rows[rows.len() - spec.window..].iter().map(|r| norm(r)).collect();
    let cols = spec.columns.len();
    outln!("step,{}", spec.columns.join(","))?;
    let mut step = 0;
    while step < ahead {
        let x: Vec<f32> = hist[hist.len() - spec.window..].iter().flatten().copied().collect();
        let o = sess.forward(&file.model, &x, 1, spec.window, None)?;
        for row in o.logits.chunks(cols).take(ahead - step) {
            step += 1;
            let vals: Vec<String> = row
                .iter()
                .zip(&spec.normalize)
                .map(|(v, (m, s))| format!("{:.6}", *v as f64 * s + m))
                .collect();
            outln!("{step},{}", vals.join(","))?;
            hist.push(row.to_vec());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Softmax for `ce`, elementwise sigmoid for `bce`, identity for `mse`.
pub fn probabilities(loss: &LossKind, logits: &[f32]) -> Vec<f32> {
    match loss {
        LossKind::CrossEntropy => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|v| (v / z) as f32).collect()
        }
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
