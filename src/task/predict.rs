//! `recur predict`: a saved model on inputs. The model file's task decides how its inputs are
//! read (through the registry); any model, also one saved by PyTorch, runs on a float32
//! `.npy` array `[batch, time, features]` and gives its logits or probabilities.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use crate::data::encoding::Encoder;
use crate::data::npy_rows::read_lengths;
use crate::io::atomic::write_atomic;
use crate::io::model_file::{ModelFile, describe};
use crate::io::npy;
use crate::model::probs::{probabilities, top_k};
use crate::model::{HeadKind, LossKind, Seqs, Session};
use crate::task::{PredictOptions, of_file};

/// Runs the model of `file` (read from `path`) on `inputs` or on `o.input`, writing what it
/// says to `out` (or to `o.output`).
pub fn predict(
    mut file: ModelFile,
    path: &Path,
    inputs: &[String],
    o: &PredictOptions,
    sess: &mut Session<f32>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if file.inferred {
        if let Some(h) = o.head {
            file.model.config.head = h;
        }
        if let Some(l) = o.loss {
            file.model.config.loss = l;
        }
        eprintln!(
            "recur: note: {} has no recur metadata; inferred from its tensors: {}",
            path.display(),
            describe(&file.model.config)
        );
    } else if o.head.is_some() || o.loss.is_some() {
        bail!("--head and --loss are for PyTorch-saved files; {} records its own", path.display());
    }
    let kind = file.task.is_some().then(|| of_file(&file, path)).transpose()?;
    if let Some(input) = &o.input {
        if !inputs.is_empty() {
            bail!("give either --input FILE.npy or inputs as arguments, not both");
        }
        if let Some(k) = kind
            && k.predict_file(&file, o, sess, out)?
        {
            return Ok(());
        }
        if input.extension().is_some_and(|e| e == "csv" || e == "tsv" || e == "jsonl") {
            bail!(
                "{}: a CSV, JSON Lines or .npy --input needs a model trained by `recur train classify`, \
                 `regress`, `label` or `forecast`",
                input.display()
            );
        }
        return predict_array(&file, input, o, None, sess, out);
    }
    if inputs.is_empty() && o.image.is_none() {
        bail!("nothing to predict: give inputs as arguments, --input FILE.npy, or --image N (mnist)");
    }
    match kind {
        Some(k) => k.predict(&file, inputs, o, sess, out),
        None => bail!("the model file has no task metadata (was it saved by PyTorch?); use --input FILE.npy"),
    }
}

/// Runs any model on an array `[batch, time, features]` (`[batch, time]` of token ids for a
/// model with an embedding): the raw logits, or probabilities, per sequence or step.
/// `normalize` encodes numeric inputs as the model was trained on; `o.lengths` marks padding.
pub fn predict_array(
    file: &ModelFile,
    path: &Path,
    o: &PredictOptions,
    normalize: Option<&Encoder>,
    sess: &mut Session<f32>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
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
    let lengths = o.lengths.as_deref().map(|l| read_lengths(l, path, &shape)).transpose()?;
    if let Some(enc) = normalize {
        enc.normalize_in_place(&mut data);
    }
    let seqs = Seqs { input: &data, batch: b, steps: t, lengths: lengths.as_deref() };
    let logits =
        sess.forward(&file.model, seqs, None).with_context(|| format!("running {}", path.display()))?.logits;
    let c = cfg.output_size;
    if let Some(dest) = &o.output {
        let values = if o.probs {
            logits.chunks(c).flat_map(|row| probabilities(cfg.loss, row)).collect()
        } else {
            logits
        };
        let oshape = match cfg.head {
            HeadKind::Last => vec![b, c],
            HeadKind::Step => vec![b, t, c],
        };
        npy::write_f32(dest, &oshape, &values)?;
        let what = if o.probs { "probabilities" } else { "logits" };
        writeln!(out, "wrote {what} {oshape:?} to {}", dest.display())?;
        return Ok(());
    }
    for (i, row) in logits.chunks(c).enumerate() {
        let label = match cfg.head {
            HeadKind::Last => format!("[{i}]"),
            HeadKind::Step => format!("[{}, {}]", i / t, i % t),
        };
        let shown: Vec<String> = row.iter().map(|v| format!("{v:.5}")).collect();
        let mut line = format!("{label} logits [{}]", shown.join(", "));
        if cfg.loss != LossKind::Mse {
            for (k, pr) in top_k(&probabilities(cfg.loss, row), o.top) {
                let _ = write!(line, "  p({k})={pr:.4}");
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Whether predictions go to a JSON Lines file (else CSV).
pub fn is_jsonl(output: Option<&Path>) -> bool {
    output.is_some_and(|o| o.extension().is_some_and(|e| e == "jsonl"))
}

/// Writes `text` to `output` atomically, saying `wrote <what> to <output>`, or prints it.
pub fn write_or_print(
    output: Option<&Path>,
    text: &str,
    what: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match output {
        Some(o) => {
            write_atomic(o, text.as_bytes())?;
            writeln!(out, "wrote {what} to {}", o.display())?;
        }
        None => writeln!(out, "{}", text.trim_end())?,
    }
    Ok(())
}
