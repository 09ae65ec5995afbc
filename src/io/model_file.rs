//! Model files: one `.safetensors` file per model, tensors under PyTorch `state_dict` names
//! and the architecture and task as JSON in the safetensors metadata.
//!
//! A file written here loads into the PyTorch module
//! `{rnn: nn.LSTM/GRU/RNN(I, H, num_layers=L, batch_first=True), head: nn.Linear(H, C)}` with
//! `load_state_dict(strict=True)`, and a file PyTorch saved from such a module with
//! `safetensors.torch.save_file(m.state_dict(), path)` (no metadata) loads here: the
//! architecture is inferred from the tensor shapes, and the module names need not be `rnn`
//! and `head` (`lstm.weight_ih_l0` and `fc.weight` work too).
//!
//! Every tensor is validated against [`param_specs`] before any math, and all problems
//! (missing, unexpected, wrong shape, wrong dtype) are reported in one error.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::model::{HeadKind, LossKind, Model, ModelConfig, ParamSpec, param_specs};

/// Version of the metadata layout, stored as `format_version`.
pub const FORMAT_VERSION: u32 = 1;

/// A model with what it was trained for.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// The architecture and the parameters.
    pub model: Model<f32>,
    /// Task-specific settings (e.g. `{"name": "bitcount", "bits": 20}`), stored as JSON.
    pub task: Option<serde_json::Value>,
    /// True when the architecture was inferred from tensor shapes (a PyTorch-saved file).
    pub inferred: bool,
}

/// The `config` metadata entry: the architecture plus the plain fields PyTorch users expect.
#[derive(Serialize, Deserialize)]
struct ConfigJson {
    #[serde(flatten)]
    config: ModelConfig,
    /// Uniform hidden size, when every layer has the same (PyTorch's `hidden_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden_size: Option<usize>,
    #[serde(default)]
    num_layers: usize,
    #[serde(default)]
    num_classes: usize,
}

/// Writes `file` to `path` atomically (temp file + rename): the parameters as f32 tensors
/// under PyTorch `state_dict` names, the architecture and task as JSON metadata.
///
/// # Examples
///
/// ```
/// use rand::SeedableRng;
/// use recur::{CellKind, HeadKind, LossKind, Model, ModelConfig, ModelFile};
///
/// # fn main() -> recur::Result<()> {
/// // nn.GRU(2, 3) with nn.Linear(3, 4) on the last step.
/// let (head, loss) = (HeadKind::Last, LossKind::CrossEntropy);
/// let config = ModelConfig::new(CellKind::Gru, 2, vec![3], 4, head, loss);
/// let model = Model::<f32>::new(config, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))?;
/// let path = std::env::temp_dir().join(format!("recur-doc-{}.safetensors", std::process::id()));
///
/// recur::save(&path, &ModelFile { model: model.clone(), task: None, inferred: false })?;
/// let loaded = recur::load(&path)?;
/// std::fs::remove_file(&path).ok();
/// assert_eq!(loaded.model.params, model.params);
/// # Ok(())
/// # }
/// ```
pub fn save(path: &Path, file: &ModelFile) -> Result<()> {
    write_atomic(path, &to_bytes(file)?)
}

/// The bytes [`save`] writes.
pub fn to_bytes(file: &ModelFile) -> Result<Vec<u8>> {
    let path = Path::new("model file");
    let m = &file.model;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "recur".to_string());
    meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    meta.insert("config".to_string(), config_json(&m.config));
    if let Some(t) = &file.task {
        meta.insert("task".to_string(), t.to_string());
    }
    // A tied head's weight is the embedding table; PyTorch's state_dict lists it under both
    // names, so the file does too.
    let mut specs = m.specs.clone();
    if let Some(e) = specs.iter().find(|s| m.config.tie_weights && s.name == "embedding.weight") {
        specs.push(ParamSpec { name: "head.weight".into(), ..e.clone() });
    }
    let bytes: Vec<Vec<u8>> =
        specs.iter().map(|s| m.params[s.range()].iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = specs
        .iter()
        .zip(&bytes)
        .map(|(s, b)| {
            let v = TensorView::new(Dtype::F32, s.shape.clone(), b)
                .map_err(|e| Error::format(path, format!("tensor {}: {e}", s.name)))?;
            Ok((s.name.clone(), v))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = safetensors::serialize(views, Some(meta)).map_err(|e| Error::format(path, e.to_string()))?;
    sorted_header(&out).ok_or_else(|| Error::format(path, "bad header"))
}

/// The `config` metadata entry for `cfg`, as JSON: the architecture plus PyTorch's plain
/// `hidden_size` (when uniform), `num_layers` and `num_classes`.
pub fn config_json(cfg: &ModelConfig) -> String {
    let uniform = cfg.hidden_sizes.windows(2).all(|w| w[0] == w[1]);
    json(&ConfigJson {
        config: cfg.clone(),
        hidden_size: uniform.then(|| cfg.hidden_sizes[0]),
        num_layers: cfg.num_layers(),
        num_classes: cfg.output_size,
    })
}

/// Rewrites a safetensors file with its JSON header keys sorted, so the same model always
/// gives the same bytes (the crate writes its metadata map in random order).
fn sorted_header(file: &[u8]) -> Option<Vec<u8>> {
    let n = u64::from_le_bytes(file.get(..8)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(file.get(8..8 + n)?).ok()?;
    // serde_json's map is a BTreeMap: serializing sorts every level.
    let mut text = serde_json::to_vec(&header).ok()?;
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + file.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&file[8 + n..]);
    Some(out)
}

fn json<S: Serialize>(v: &S) -> String {
    serde_json::to_string(v).expect("plain structs serialize")
}

/// Reads a model file written by [`save`] or by `safetensors.torch.save_file`.
/// [`save`]'s example writes a model and reads it back.
pub fn load(path: &Path) -> Result<ModelFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

/// [`load`] on bytes already in memory.
pub fn parse(bytes: &[u8], path: &Path) -> Result<ModelFile> {
    let bad = |reason: String| Error::format(path, reason);
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(format!("not a valid safetensors file ({e}); is it a model saved by recur or safetensors?"))
    })?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let mut tensors: HashMap<String, TensorView> = st.tensors().into_iter().collect();

    if let Some(v) = meta.get("format_version") {
        match v.parse::<u32>() {
            Ok(n) if n <= FORMAT_VERSION => {}
            _ => {
                return Err(bad(format!(
                    "model format version {v} is newer than this recur reads ({FORMAT_VERSION}); upgrade recur"
                )));
            }
        }
    }
    let (config, inferred) = match meta.get("config") {
        Some(c) => {
            let cj: ConfigJson = serde_json::from_str(c)
                .map_err(|e| bad(format!("metadata `config` is not a recur config: {e}")))?;
            (cj.config, false)
        }
        None => {
            let (cfg, renames) = infer_config(&tensors).map_err(bad)?;
            for (from, to) in renames {
                if let Some(v) = tensors.remove(&from) {
                    tensors.insert(to, v);
                }
            }
            (cfg, true)
        }
    };
    config.validate().map_err(|e| {
        let what = if inferred {
            "the tensors' shapes give no valid model"
        } else {
            "metadata `config` is not a valid model"
        };
        bad(format!("{what}: {e}"))
    })?;
    let task = match meta.get("task") {
        Some(t) => {
            Some(serde_json::from_str(t).map_err(|e| bad(format!("metadata `task` is not JSON: {e}")))?)
        }
        None => None,
    };

    let specs = param_specs(&config);
    let mut problems = Vec::new();
    let mut params = Vec::new();
    for s in &specs {
        match tensors.remove(&s.name) {
            None => problems.push(format!("  missing tensor {} {:?}", s.name, s.shape)),
            Some(v) if v.shape() != s.shape.as_slice() => {
                problems.push(format!("  {} has shape {:?}, expected {:?}", s.name, v.shape(), s.shape))
            }
            Some(v) => match to_f32(&v) {
                Some(vals) => params.extend(vals),
                None => problems.push(format!("  {} has dtype {:?}, expected F32 or F64", s.name, v.dtype())),
            },
        }
    }
    if config.tie_weights
        && let Some(v) = tensors.remove("head.weight")
    {
        let table = specs.iter().find(|s| s.name == "embedding.weight").and_then(|s| params.get(s.range()));
        if to_f32(&v).as_deref() != table.filter(|t| t.len() == v.shape().iter().product::<usize>()) {
            problems.push("  head.weight differs from embedding.weight, which it is tied to".into());
        }
    }
    let mut extra: Vec<_> = tensors.keys().cloned().collect();
    extra.sort();
    for k in extra {
        problems.push(format!("  unexpected tensor {k}"));
    }
    if !problems.is_empty() {
        return Err(Error::ModelMismatch {
            path: path.into(),
            arch: describe(&config),
            problems: problems.join("\n"),
        });
    }
    Ok(ModelFile { model: Model::from_params(config, params)?, task, inferred })
}

/// A short human description: `lstm 1 -> 24 [21] (last, ce)` (input, hidden per layer,
/// outputs).
pub fn describe(c: &ModelConfig) -> String {
    let hs: Vec<String> = c.hidden_sizes.iter().map(|h| h.to_string()).collect();
    let head = match c.head {
        HeadKind::Last => "last",
        HeadKind::Step => "step",
    };
    let input = match c.vocab_size {
        Some(v) => format!("embedding {v}x{}", c.input_size),
        None => c.input_size.to_string(),
    };
    let bi = if c.bidirectional { "bidirectional " } else { "" };
    let tied = if c.tie_weights { ", tied to the embedding" } else { "" };
    format!(
        "{bi}{} {input} -> {} [{}] ({head}{tied}, {})",
        c.cell,
        hs.join("/"),
        c.output_size,
        c.loss.name()
    )
}

fn to_f32(v: &TensorView) -> Option<Vec<f32>> {
    match v.dtype() {
        Dtype::F32 => {
            Some(v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        Dtype::F64 => Some(
            v.data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
        ),
        _ => None,
    }
}

/// Infers the architecture of a PyTorch-saved `{rnn, head}` state dict from tensor shapes,
/// returning the config and the renames onto recur's canonical names. The head is taken to be
/// a last-step classifier (cross-entropy, or BCE with one output); `recur predict --head/--loss`
/// override that.
fn infer_config(
    t: &HashMap<String, TensorView>,
) -> std::result::Result<(ModelConfig, Vec<(String, String)>), String> {
    let mut keys: Vec<&String> = t.keys().collect();
    keys.sort();
    let firsts: Vec<&&String> = keys.iter().filter(|k| k.ends_with("weight_ih_l0")).collect();
    let first = match firsts[..] {
        [f] => f,
        [] => {
            return Err(
                "no metadata and no `*.weight_ih_l0` tensor: not a recur or PyTorch RNN model file".into()
            );
        }
        _ => {
            return Err(format!(
                "several recurrent modules ({firsts:?}); recur reads one stacked RNN and a head"
            ));
        }
    };
    let rnn_prefix = &first[..first.len() - "weight_ih_l0".len()];
    let bidirectional = t.contains_key(&format!("{rnn_prefix}weight_ih_l0_reverse"));
    if keys.iter().any(|k| k.contains("weight_hr_l")) {
        return Err("LSTMs with proj_size (`weight_hr_l*` tensors) are not supported".into());
    }
    let shape = |k: &str| t.get(k).map(|v| v.shape().to_vec());
    let mut renames = Vec::new();
    let mut hidden_sizes = Vec::new();
    let mut gates = None;
    let mut input_size = 0;
    for l in 0.. {
        let key = |n: &str| format!("{rnn_prefix}{n}_l{l}");
        let (Some(ih), Some(hh)) = (shape(&key("weight_ih")), shape(&key("weight_hh"))) else { break };
        if ih.len() != 2 || hh.len() != 2 || hh[1] == 0 || hh[0] % hh[1] != 0 {
            return Err(format!(
                "{} has shape {hh:?}, which is not [gates*hidden, hidden]",
                key("weight_hh")
            ));
        }
        let g = hh[0] / hh[1];
        if gates.is_some_and(|g0| g0 != g) {
            return Err(format!("layer {l} has {g} gates but layer 0 has {}", gates.unwrap_or(0)));
        }
        gates = Some(g);
        if l == 0 {
            input_size = ih[1];
        }
        hidden_sizes.push(hh[1]);
        for n in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            renames.push((key(n), format!("rnn.{n}_l{l}")));
            if bidirectional {
                renames.push((format!("{}_reverse", key(n)), format!("rnn.{n}_l{l}_reverse")));
            }
        }
    }
    let g = gates.unwrap_or(0);
    let cell = CellKind::from_gates(g)
        .ok_or_else(|| format!("weight_hh_l0 implies {g} gates; expected 1 (RNN), 3 (GRU) or 4 (LSTM)"))?;
    // The head: the one remaining `X.weight` [C, D*H] with its `X.bias`.
    let h_top = *hidden_sizes.last().unwrap_or(&0) * if bidirectional { 2 } else { 1 };
    let heads: Vec<&&String> = keys
        .iter()
        .filter(|k| {
            (!k.starts_with(rnn_prefix) || rnn_prefix.is_empty() && !k.contains("_l")) && !k.contains("emb")
        })
        .filter(|k| k.ends_with("weight") && shape(k).is_some_and(|s| s.len() == 2 && s[1] == h_top))
        .collect();
    let [head] = heads[..] else {
        return Err(format!(
            "cannot find the head: expected one `<name>.weight` of shape [classes, {h_top}] besides the RNN, found {}",
            heads.len()
        ));
    };
    let hp = &head[..head.len() - "weight".len()];
    let output_size = shape(head).map_or(0, |s| s[0]);
    renames.push((format!("{hp}weight"), "head.weight".into()));
    renames.push((format!("{hp}bias"), "head.bias".into()));
    // An embedding: a `*emb*.weight` of shape [V, input_size] (nn.Embedding).
    let mut vocab_size = None;
    if let Some(k) = keys.iter().find(|k| {
        k.contains("emb")
            && k.ends_with(".weight")
            && shape(k).is_some_and(|s| s.len() == 2 && s[1] == input_size)
    }) {
        vocab_size = shape(k).map(|s| s[0]);
        renames.push(((*k).clone(), "embedding.weight".into()));
    }
    let cfg = ModelConfig {
        vocab_size,
        bidirectional,
        ..ModelConfig::new(
            cell,
            input_size,
            hidden_sizes,
            output_size,
            HeadKind::Last,
            if output_size >= 2 { LossKind::CrossEntropy } else { LossKind::Bce },
        )
    };
    Ok((cfg, renames))
}
