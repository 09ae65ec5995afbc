//! The training state beside a model file, so that a stopped run continues exactly where it
//! was: `M.safetensors.state` holds the current parameters (the model file may hold the best
//! ones, with early stopping), the optimizer's moments and step count, each stream's carried
//! state, the early-stopping best, the loop's position and counters, the dropout seed, and the
//! batch generator's position (checked after the batches are replayed to it).
//!
//! It is a safetensors file (tensors `params`, `optim.m`, `optim.v`, `carried.h.{u}`,
//! `carried.c.{u}`, `best.params`) with the rest as JSON metadata: `run` (what the run was
//! started with: task, model, and every setting that changes the result), `progress`, a
//! checksum of its own tensor data, and the checksums of the model file written with it and of
//! the one before. A checkpoint writes the state first and the model file second, each
//! atomically; so whenever a run is killed, the model file on disk is one of those two, and
//! [`Checkpoint::load`] refuses any other (a model file from another run).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::model::State;
use crate::train::Metric;

/// The loop's position and counters at a checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// The epoch (from 0) the resumed run starts in.
    pub epoch: usize,
    /// The step of that epoch (from 0) it starts at.
    pub next_step: usize,
    /// Steps done.
    pub step: usize,
    /// The epoch's sum of training losses ...
    pub loss_acc: f64,
    /// ... over this many steps.
    pub loss_n: usize,
    /// The epoch's training predictions that were right ...
    pub right: usize,
    /// ... of this many.
    pub made: usize,
    /// The last mean training loss.
    pub last_loss: Option<f64>,
    /// The last evaluation's metrics.
    pub metrics: Vec<Metric>,
    /// Early stopping: evaluations since the best ...
    pub since_best: usize,
    /// ... the best's score ...
    pub best_score: Option<f64>,
    /// ... and its metrics.
    pub best_metrics: Vec<Metric>,
    /// The next dropout seed (`Session::dropout_seed`).
    pub dropout_seed: u64,
    /// The optimizer's step count.
    pub optim_step: u64,
    /// The batch generator's position (`ChaCha8Rng::get_word_pos`), as a decimal string.
    pub rng_word_pos: String,
    /// Seconds of training so far (for `--max-time`).
    pub seconds: f64,
}

/// Everything a checkpoint holds.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// What the run was started with; a resumed run must match it.
    pub run: serde_json::Value,
    /// Where the loop is.
    pub progress: Progress,
    /// The current parameters.
    pub params: Vec<f32>,
    /// The optimizer's first moments or momentum buffers (empty before its first step).
    pub optim_m: Vec<f32>,
    /// Its second moments or square averages (empty before its first step).
    pub optim_v: Vec<f32>,
    /// Each stream's carried state (tasks that carry state between batches).
    pub carried: Option<State<f32>>,
    /// Early stopping's best parameters.
    pub best_params: Option<Vec<f32>>,
    /// Checksum of the model file written with this state ...
    pub model_checksum: Option<String>,
    /// ... and of the one before it.
    pub previous_model_checksum: Option<String>,
}

/// Where the training state of model file `model` lives.
pub fn state_path(model: &Path) -> PathBuf {
    let mut s = model.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

/// A 64-bit FNV-1a checksum, as 16 hex digits: enough to tell two files apart, not a defence
/// against forgery.
pub fn checksum(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

const FORMAT: &str = "recur-train-state";
const VERSION: &str = "1";

impl Checkpoint {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, &[f32])> = vec![("params".into(), &self.params)];
        if !self.optim_m.is_empty() {
            tensors.push(("optim.m".into(), &self.optim_m));
            tensors.push(("optim.v".into(), &self.optim_v));
        }
        if let Some(s) = &self.carried {
            tensors.extend(s.h.iter().enumerate().map(|(u, h)| (format!("carried.h.{u}"), &h[..])));
            tensors.extend(s.c.iter().enumerate().map(|(u, c)| (format!("carried.c.{u}"), &c[..])));
        }
        if let Some(b) = &self.best_params {
            tensors.push(("best.params".into(), b));
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes: Vec<Vec<u8>> =
            tensors.iter().map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("format_version".to_string(), VERSION.to_string());
        meta.insert("run".to_string(), self.run.to_string());
        meta.insert("progress".to_string(), serde_json::to_string(&self.progress).expect("plain data"));
        meta.insert("data_checksum".to_string(), checksum(&bytes.concat()));
        meta.insert("carried_streams".to_string(), self.carried.is_some().to_string());
        for (k, v) in [
            ("model_checksum", &self.model_checksum),
            ("previous_model_checksum", &self.previous_model_checksum),
        ] {
            if let Some(v) = v {
                meta.insert(k.to_string(), v.clone());
            }
        }
        let views = tensors
            .iter()
            .zip(&bytes)
            .map(|((name, v), b)| Ok((name.clone(), TensorView::new(Dtype::F32, vec![v.len()], b)?)))
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(|e| Error::Input(format!("training state: {e}")))?;
        safetensors::serialize(views, Some(meta)).map_err(|e| Error::Input(format!("training state: {e}")))
    }

    /// Reads a state file's bytes; `path` names it in errors. Checks its format, version and
    /// data checksum, not whether it fits a model (see [`Checkpoint::check_run`]).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let bad = |why: String| Error::format(path, why);
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a recur training state ({e})")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a recur training state ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| {
            meta.get(k).ok_or_else(|| bad(format!("not a recur training state (no `{k}` in its metadata)")))
        };
        if get("format")? != FORMAT {
            return Err(bad("not a recur training state (its `format` is not recur-train-state)".into()));
        }
        if get("format_version")? != VERSION {
            return Err(bad(format!(
                "training state version {} (this recur reads {VERSION})",
                get("format_version")?
            )));
        }
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        let mut tensors: HashMap<String, Vec<f32>> = HashMap::new();
        let mut data = Vec::new();
        for name in &names {
            let v = st.tensor(name).map_err(|e| bad(format!("tensor {name}: {e}")))?;
            if v.dtype() != Dtype::F32 || v.shape().len() != 1 {
                return Err(bad(format!("tensor {name} is not a vector of F32")));
            }
            data.extend_from_slice(v.data());
            let vals: Vec<f32> =
                v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            tensors.insert(name.clone(), vals);
        }
        if checksum(&data) != *get("data_checksum")? {
            return Err(bad("its data checksum does not match: the file is damaged".into()));
        }
        let run: serde_json::Value =
            serde_json::from_str(get("run")?).map_err(|e| bad(format!("metadata `run` is not JSON: {e}")))?;
        let progress: Progress = serde_json::from_str(get("progress")?)
            .map_err(|e| bad(format!("metadata `progress` is not readable: {e}")))?;
        let params = tensors.remove("params").ok_or_else(|| bad("no `params` tensor".into()))?;
        let (optim_m, optim_v) = match (tensors.remove("optim.m"), tensors.remove("optim.v")) {
            (Some(m), Some(v)) if m.len() == params.len() && v.len() == params.len() => (m, v),
            (None, None) => (Vec::new(), Vec::new()),
            _ => return Err(bad("optim.m and optim.v must both be there, each as long as params".into())),
        };
        let best_params = tensors.remove("best.params");
        if best_params.as_ref().is_some_and(|b| b.len() != params.len()) {
            return Err(bad("best.params is not as long as params".into()));
        }
        let carried = if get("carried_streams")? == "true" {
            let mut s = State { h: Vec::new(), c: Vec::new() };
            while let Some(h) = tensors.remove(&format!("carried.h.{}", s.h.len())) {
                s.h.push(h);
            }
            while let Some(c) = tensors.remove(&format!("carried.c.{}", s.c.len())) {
                s.c.push(c);
            }
            Some(s)
        } else {
            None
        };
        if let Some(extra) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor {extra}")));
        }
        Ok(Checkpoint {
            run,
            progress,
            params,
            optim_m,
            optim_v,
            carried,
            best_params,
            model_checksum: meta.get("model_checksum").cloned(),
            previous_model_checksum: meta.get("previous_model_checksum").cloned(),
        })
    }

    /// Reads the state of model file `model` and checks that the model file is the one
    /// written with it (or the one before, when a run was killed between the two writes).
    pub fn load(model: &Path) -> Result<Checkpoint> {
        let path = state_path(model);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Input(format!(
                    "no training state {} to resume from (it is written at every checkpoint; run without --resume to start over)",
                    path.display()
                ))
            } else {
                Error::io(&path, e)
            }
        })?;
        let ck = Checkpoint::parse(&bytes, &path)?;
        let on_disk = match std::fs::read(model) {
            Ok(b) => Some(checksum(&b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(model, e)),
        };
        let known = [&ck.model_checksum, &ck.previous_model_checksum];
        if !known.contains(&&on_disk) {
            return Err(Error::Input(format!(
                "{} does not belong to {}: the model file was written by another run (or changed) after this state was saved at step {}",
                path.display(),
                model.display(),
                ck.progress.step
            )));
        }
        Ok(ck)
    }

    /// Refuses to resume a run that differs from the checkpointed one, naming each
    /// difference (`train.batch_size: 32 when checkpointed, 64 now`).
    pub fn check_run(&self, now: &serde_json::Value, path: &Path) -> Result<()> {
        let mut diffs = Vec::new();
        differences("", &self.run, now, &mut diffs);
        if diffs.is_empty() {
            return Ok(());
        }
        Err(Error::Input(format!(
            "cannot resume from {}: this run differs from the checkpointed one:\n  {}",
            path.display(),
            diffs.join("\n  ")
        )))
    }
}

/// The paths where JSON `a` (then) and `b` (now) differ, descending into objects.
fn differences(at: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = serde_json::Value::Null;
                let sub = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                differences(&sub, x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), out);
            }
        }
        _ if a != b => out.push(format!("{at}: {a} when checkpointed, {b} now")),
        _ => {}
    }
}

/// A period of the run: in training steps or in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Every {
    /// Every this many steps.
    Steps(usize),
    /// Every this many seconds (checked after each step).
    Seconds(f64),
}

impl std::str::FromStr for Every {
    type Err = String;
    /// `500` (steps) or `30s` (seconds).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is neither a number of steps (500) nor of seconds (30s)");
        match s.strip_suffix('s') {
            Some(secs) => match secs.parse::<f64>() {
                Ok(t) if t.is_finite() && t > 0.0 => Ok(Every::Seconds(t)),
                _ => Err(bad()),
            },
            None => match s.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Every::Steps(n)),
                _ => Err(bad()),
            },
        }
    }
}

/// Checkpoints of one run: the model file and its training state, and what is on disk.
pub(crate) struct Saver<'a> {
    pub path: &'a Path,
    /// What a checkpoint is checked against on resume.
    pub run: serde_json::Value,
    /// Checksum of the model file on disk.
    pub on_disk: Option<String>,
    /// The step of the last checkpoint written in full.
    pub last_good: Option<usize>,
    pub last_time: f64,
}

impl Saver<'_> {
    /// Writes the state and then (when `write_model`) the model file, each atomically.
    pub fn save(&mut self, ck: Checkpoint, model: Option<Vec<u8>>, seconds: f64) -> Result<()> {
        let new = model.as_deref().map(checksum);
        let step = ck.progress.step;
        let ck = Checkpoint {
            model_checksum: new.clone().or(self.on_disk.clone()),
            previous_model_checksum: self.on_disk.clone(),
            run: self.run.clone(),
            ..ck
        };
        write_atomic(&state_path(self.path), &ck.to_bytes()?)?;
        if let Some(bytes) = model {
            write_atomic(self.path, &bytes)?;
            self.on_disk = new;
        }
        self.last_good = Some(step);
        self.last_time = seconds;
        Ok(())
    }

    /// What a failed checkpoint leaves.
    pub fn kept(&self) -> String {
        match self.last_good {
            Some(s) => format!("the last good checkpoint (step {s}) is kept"),
            None => "no checkpoint was written yet".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_periods_are_steps_or_seconds() {
        assert_eq!("500".parse::<Every>(), Ok(Every::Steps(500)));
        assert_eq!("30s".parse::<Every>(), Ok(Every::Seconds(30.0)));
        assert_eq!("0.5s".parse::<Every>(), Ok(Every::Seconds(0.5)));
        for bad in ["0", "0s", "-1", "5x", "s", "infs", "NaNs", ""] {
            let e = bad.parse::<Every>().unwrap_err();
            assert!(e.contains("is neither a number of steps (500) nor of seconds (30s)"), "{bad}: {e}");
        }
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            run: serde_json::json!({"task": {"name": "text"}, "train": {"batch_size": 4}}),
            progress: Progress {
                epoch: 2,
                next_step: 3,
                step: 11,
                rng_word_pos: "123".into(),
                ..Default::default()
            },
            params: vec![1.0, -2.5, 3.25],
            optim_m: vec![0.1, 0.2, 0.3],
            optim_v: vec![0.4, 0.5, 0.6],
            carried: Some(State { h: vec![vec![1.0, 2.0], vec![3.0]], c: vec![vec![4.0, 5.0], vec![6.0]] }),
            best_params: None,
            model_checksum: Some(checksum(b"model")),
            previous_model_checksum: None,
        }
    }

    #[test]
    fn a_state_reads_back_as_written() {
        let ck = sample();
        let back = Checkpoint::parse(&ck.to_bytes().unwrap(), Path::new("m.state")).unwrap();
        assert_eq!(back.params, ck.params);
        assert_eq!((back.optim_m, back.optim_v), (ck.optim_m, ck.optim_v));
        assert_eq!(back.progress, ck.progress);
        let (a, b) = (back.carried.unwrap(), ck.carried.unwrap());
        assert_eq!((a.h, a.c), (b.h, b.c));
        assert_eq!(back.run, ck.run);
        assert_eq!(back.model_checksum, ck.model_checksum);
    }

    #[test]
    fn a_damaged_state_is_refused() {
        let mut bytes = sample().to_bytes().unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 1;
        let e = Checkpoint::parse(&bytes, Path::new("m.state")).unwrap_err().to_string();
        assert!(e.contains("m.state") && e.contains("data checksum does not match"), "{e}");
        let e = Checkpoint::parse(b"hello", Path::new("m.state")).unwrap_err().to_string();
        assert!(e.contains("not a recur training state"), "{e}");
    }

    #[test]
    fn differences_are_named() {
        let ck = sample();
        let now = serde_json::json!({"task": {"name": "bitcount"}, "train": {"batch_size": 8}});
        let e = ck.check_run(&now, Path::new("m.state")).unwrap_err().to_string();
        assert!(e.contains("task.name: \"text\" when checkpointed, \"bitcount\" now"), "{e}");
        assert!(e.contains("train.batch_size: 4 when checkpointed, 8 now"), "{e}");
        assert!(ck.check_run(&ck.run, Path::new("m.state")).is_ok());
    }
}
