//! `recur eval --model M`: re-measure a saved model on its task's held-out data.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::train::task_name;
use crate::cli::{ComputeArgs, ModelArg};
use crate::data::addition::{Addition, AdditionSpec};
use crate::data::bitcount::{BitCount, BitCountSpec};
use crate::data::mnist::{Mnist, MnistSpec, format_confusion};
use crate::data::text::{BELLING_THE_CAT, Text, TextSpec};
use crate::io::model_file::{describe, load};
use crate::model::Session;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// text models: score every window of this UTF-8 file [default: the built-in fable].
    #[arg(long)]
    pub text: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let file = load(&a.model.model)?;
    let mut sess = Session::new(a.compute.threads);
    match task_name(file.task.as_ref())?.as_str() {
        "bitcount" => {
            let spec: BitCountSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
            let task = BitCount::new(spec.bits, spec.train_size, spec.data_seed)?;
            let (err, n) = task.test_error(&file.model, &mut sess, 0)?;
            outln!(
                "{}: test error {:.4}% on {n} test strings ({} wrong; {} have a count never seen in training)",
                describe(&file.model.config),
                err * 100.0,
                (err * n as f64).round(),
                task.unseen_class_strings()
            )?;
        }
        "addition" => {
            let spec: AdditionSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
            let task = Addition::new(spec.bits)?;
            let m = task.metrics(&file.model, &mut sess, true)?;
            let get = |k: &str| m.iter().find(|(n, _)| n == k).map_or(f64::NAN, |x| x.1 * 100.0);
            outln!(
                "{}: held-out sums {:.2}% right ({:.2}% of bits) at {} bits; {:.2}% / {:.2}% / {:.2}% at 16 / 32 / 64 bits ({} pairs each)",
                describe(&file.model.config),
                get("valid_sum_accuracy"),
                get("valid_bit_accuracy"),
                spec.bits,
                get("sum16_accuracy"),
                get("sum32_accuracy"),
                get("sum64_accuracy"),
                task.valid_size
            )?;
        }
        "mnist" => {
            let spec: MnistSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
            let names = spec.dataset.class_names();
            let task = Mnist::load(spec)?;
            let cm = task.confusion(&file.model, &mut sess)?;
            let right: usize = (0..10).map(|i| cm[i][i]).sum();
            outln!("confusion matrix on the test images:\n{}", format_confusion(&cm, &names))?;
            outln!(
                "{}: test accuracy {:.2}% on {} test images ({} wrong)",
                describe(&file.model.config),
                100.0 * right as f64 / task.test.len() as f64,
                task.test.len(),
                task.test.len() - right
            )?;
        }
        "text" => {
            let spec: TextSpec = serde_json::from_value(file.task.clone().unwrap_or_default())?;
            let (text, source) = match &a.text {
                Some(p) => (
                    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
                    p.display().to_string(),
                ),
                None => (BELLING_THE_CAT.to_string(), "the built-in fable".to_string()),
            };
            let task = Text::with_vocabulary(spec, &text).with_context(|| source.clone())?;
            let (acc, ce) = task.score(&file.model, &mut sess, &task.train)?;
            outln!(
                "{}: {:.2}% of the next {} right on all {} windows of {source} (perplexity {:.3})",
                describe(&file.model.config),
                acc * 100.0,
                if task.spec.char_level { "characters" } else { "words" },
                task.train.len(),
                ce.exp()
            )?;
        }
        "classify" | "regress" | "label" | "forecast" => bail!(
            "a {} model is measured on a data file: recur predict --model {} --input FILE.csv \
             (with the label column, it reports the accuracy or RMSE)",
            task_name(file.task.as_ref())?,
            a.model.model.display()
        ),
        other => bail!("don't know how to evaluate task `{other}`"),
    }
    Ok(ExitCode::SUCCESS)
}
