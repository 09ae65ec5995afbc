//! A model: stacked recurrent layers and a dense head, with all parameters in one flat buffer.
//!
//! Parameters live in a single `Vec<T>` laid out by [`param_specs`], which yields PyTorch
//! `state_dict` names and shapes (`rnn.weight_ih_l0` `[G*H, I]`, `rnn.weight_hh_l0`
//! `[G*H, H]`, `rnn.bias_ih_l0` `[G*H]`, `rnn.bias_hh_l0` `[G*H]`, ..., `head.weight` `[C, H]`,
//! `head.bias` `[C]`). The flat layout makes the optimizers, gradient clipping and the
//! gradient reduction across threads one loop each; the loader, the saver and the docs all use
//! the same table.
//!
//! Deliberately not here: the time loop ([`layer`]), the losses ([`loss`]) and the batched,
//! threaded passes ([`pass`]).

mod init;
pub mod inspect;
pub(crate) mod layer;
pub(crate) mod loss;
pub mod memory;
mod pass;
pub mod probs;
mod stepper;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::float::Float;
pub use init::Init;
pub use loss::LossKind;
pub use loss::LossSum;
pub use pass::{GradOptions, Gradients, Output, Seqs, Session, State, Targets, normalizer};
pub use stepper::Stepper;

/// Where the head reads the recurrent output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// One output per sequence, from the last time step (sequence classification).
    Last,
    /// One output per time step (sequence labelling, per-step regression).
    Step,
}

impl std::str::FromStr for HeadKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last" => Ok(HeadKind::Last),
            "step" => Ok(HeadKind::Step),
            _ => Err(format!("unknown head `{s}` (expected last or step)")),
        }
    }
}

/// The architecture: everything needed to lay out and run the parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The recurrent cell of every layer.
    pub cell: CellKind,
    /// Features per time step fed to the first layer.
    pub input_size: usize,
    /// Hidden size of each layer, bottom first; `num_layers` is its length.
    pub hidden_sizes: Vec<usize>,
    /// Outputs of the head (classes for cross-entropy).
    pub output_size: usize,
    /// Where the head reads: the last step or every step.
    pub head: HeadKind,
    /// The loss the head is trained with, which also says what its outputs mean.
    pub loss: LossKind,
    /// Token inputs: an embedding table `[vocab_size, input_size]` (PyTorch `nn.Embedding`)
    /// turns each id into the first layer's input. The input is then `[B, T]` ids, passed as
    /// floats (exact below 2^24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// A learned initial state (h0, and c0 for LSTM) per layer, used when no state is given:
    /// tensors `init.h0_l{k}` `[H_k]` (and `init.c0_l{k}`), broadcast over the batch. Not part
    /// of a PyTorch `nn.LSTM`; such a model's file has these two extra tensors per layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learn_init: bool,
    /// Dropout on the outputs of every layer but the last, in training only (PyTorch's
    /// `nn.LSTM(dropout=p)`): each element is zeroed with probability p, the rest scaled by
    /// 1/(1-p). The mask of a batch row depends only on the step's seed and the row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
    /// Dropout on what the head reads, in training only (PyTorch's `word_language_model`
    /// applies it before its decoder): the top layer's output (or both directions' final
    /// states), zeroed with probability p, the rest scaled by 1/(1-p).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub head_dropout: f64,
    /// Two directions per layer (PyTorch's `bidirectional=True`): a second set of tensors
    /// `*_l{k}_reverse` runs each sequence from its last real step to its first, and a layer's
    /// output is `[forward | reverse]` (2H wide). A last-step head reads both directions'
    /// final states, `cat(h_n[-2], h_n[-1])`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bidirectional: bool,
    /// The head shares the embedding table as its weight (`head.weight` is
    /// `embedding.weight`, as `word_language_model --tied` does): a language model whose
    /// embedding size equals the top layer's output and whose outputs are its inputs. The
    /// flat buffer holds the table once and its gradient sums both uses; the model file
    /// still has a `head.weight` (a copy), so PyTorch loads it as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tie_weights: bool,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl ModelConfig {
    /// A model of `cell` layers with these sizes, head and loss; no embedding, learned initial
    /// state, dropout or second direction (set those fields after, or with `..`).
    pub fn new(
        cell: CellKind,
        input_size: usize,
        hidden_sizes: Vec<usize>,
        output_size: usize,
        head: HeadKind,
        loss: LossKind,
    ) -> Self {
        ModelConfig {
            cell,
            input_size,
            hidden_sizes,
            output_size,
            head,
            loss,
            vocab_size: None,
            learn_init: false,
            dropout: 0.0,
            head_dropout: 0.0,
            bidirectional: false,
            tie_weights: false,
        }
    }

    /// Stacked layers.
    pub fn num_layers(&self) -> usize {
        self.hidden_sizes.len()
    }
    /// Hidden size of the top layer (0 for a config without layers, which
    /// [`ModelConfig::validate`] refuses).
    pub fn top_hidden(&self) -> usize {
        self.hidden_sizes.last().copied().unwrap_or(0)
    }
    /// Directions per layer: 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }
    /// Width of the top layer's output, which the head reads: directions x hidden size.
    pub fn top_output(&self) -> usize {
        self.directions() * self.top_hidden()
    }
    /// Hidden size of each recurrent unit in PyTorch's `h_n` order (layer 0 forward, layer 0
    /// reverse, layer 1 forward, ...): unit `k * directions + d`.
    pub fn unit_hidden(&self) -> Vec<usize> {
        self.hidden_sizes.iter().flat_map(|&h| std::iter::repeat_n(h, self.directions())).collect()
    }
    /// Features per time step of the model's input: 1 (a token id) with an embedding.
    pub fn features(&self) -> usize {
        if self.vocab_size.is_some() { 1 } else { self.input_size }
    }
    /// Input size of layer `k`.
    pub fn layer_input(&self, k: usize) -> usize {
        if k == 0 { self.input_size } else { self.directions() * self.hidden_sizes[k - 1] }
    }
    /// Refuses sizes of 0, a dropout outside [0, 1) and an embedding of an empty vocabulary.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: String, reason: &str| {
            Err(Error::BadConfig { field: field.into(), value, reason: reason.into() })
        };
        if self.input_size == 0 {
            return bad("input_size", "0".into(), "must be at least 1");
        }
        if self.hidden_sizes.is_empty() {
            return bad("num_layers", "0".into(), "must be at least 1");
        }
        if self.hidden_sizes.contains(&0) {
            return bad(
                "hidden_size",
                format!("{:?}", self.hidden_sizes),
                "every layer needs at least 1 unit",
            );
        }
        if self.output_size == 0 {
            return bad("output_size", "0".into(), "the head needs at least 1 output");
        }
        // Sizes come from files and flags: cap them so that every size product fits easily.
        const MAX_DIM: usize = 1 << 20;
        for (field, v) in [("input_size", self.input_size), ("output_size", self.output_size)]
            .into_iter()
            .chain(self.hidden_sizes.iter().map(|&h| ("hidden_size", h)))
        {
            if v > MAX_DIM {
                return bad(field, v.to_string(), "is larger than 2^20");
            }
        }
        if let Some(v) = self.vocab_size
            && (v == 0 || v > MAX_DIM)
        {
            return bad("vocab_size", v.to_string(), "must be 1..=2^20");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", self.dropout.to_string(), "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.head_dropout) {
            return bad("head_dropout", self.head_dropout.to_string(), "must be in [0, 1)");
        }
        if self.tie_weights
            && (self.vocab_size != Some(self.output_size) || self.input_size != self.top_output())
        {
            return bad(
                "tie_weights",
                "true".into(),
                &format!(
                    "needs an embedding of the head's {} outputs, as wide as the top layer's output ({}); this model has {} ids of width {}",
                    self.output_size,
                    self.top_output(),
                    self.vocab_size.map_or("no embedding".to_string(), |v| v.to_string()),
                    self.input_size
                ),
            );
        }
        if self.hidden_sizes.len() > 64 {
            return bad("num_layers", self.hidden_sizes.len().to_string(), "is more than 64");
        }
        let g = self.cell.gates() as u128;
        let d = self.directions() as u128;
        let mut total: u128 = (self.output_size as u128 + 1) * d * self.top_hidden() as u128
            + self.vocab_size.unwrap_or(0) as u128 * self.input_size as u128
            + 2 * d * self.hidden_sizes.iter().map(|&h| h as u128).sum::<u128>();
        for (k, &h) in self.hidden_sizes.iter().enumerate() {
            total += d * g * h as u128 * (self.layer_input(k) as u128 + h as u128 + 2);
        }
        if total > 1 << 31 {
            return bad("hidden_size", format!("{:?}", self.hidden_sizes), "gives more than 2^31 parameters");
        }
        if self.loss == LossKind::CrossEntropy && self.output_size < 2 {
            return bad(
                "output_size",
                self.output_size.to_string(),
                "cross-entropy needs at least 2 classes",
            );
        }
        Ok(())
    }
}

/// One named tensor inside the flat parameter buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// PyTorch `state_dict` name, e.g. `rnn.weight_hh_l1`.
    pub name: String,
    /// Its shape, as PyTorch's tensor has it.
    pub shape: Vec<usize>,
    /// Start in the flat buffer.
    pub offset: usize,
}

impl ParamSpec {
    /// Elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Where it lies in the flat parameter buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The parameter table, in PyTorch's order: per layer `weight_ih`, `weight_hh`, `bias_ih`,
/// `bias_hh` (then the same four with `_reverse` when bidirectional), then the head's
/// `weight` and `bias`.
pub fn param_specs(cfg: &ModelConfig) -> Vec<ParamSpec> {
    let mut specs = Vec::new();
    let mut offset = 0;
    let mut push = |name: String, shape: Vec<usize>| {
        let spec = ParamSpec { name, shape, offset };
        offset += spec.len();
        specs.push(spec);
    };
    if let Some(v) = cfg.vocab_size {
        push("embedding.weight".into(), vec![v, cfg.input_size]);
    }
    let g = cfg.cell.gates();
    for (k, &h) in cfg.hidden_sizes.iter().enumerate() {
        for dir in DIRECTION_SUFFIX.iter().take(cfg.directions()) {
            push(format!("rnn.weight_ih_l{k}{dir}"), vec![g * h, cfg.layer_input(k)]);
            push(format!("rnn.weight_hh_l{k}{dir}"), vec![g * h, h]);
            push(format!("rnn.bias_ih_l{k}{dir}"), vec![g * h]);
            push(format!("rnn.bias_hh_l{k}{dir}"), vec![g * h]);
        }
    }
    if !cfg.tie_weights {
        push("head.weight".into(), vec![cfg.output_size, cfg.top_output()]);
    }
    push("head.bias".into(), vec![cfg.output_size]);
    if cfg.learn_init {
        for (k, &h) in cfg.hidden_sizes.iter().enumerate() {
            for dir in DIRECTION_SUFFIX.iter().take(cfg.directions()) {
                push(format!("init.h0_l{k}{dir}"), vec![h]);
                if cfg.cell.has_cell_state() {
                    push(format!("init.c0_l{k}{dir}"), vec![h]);
                }
            }
        }
    }
    specs
}

/// PyTorch's name suffix of each direction.
const DIRECTION_SUFFIX: [&str; 2] = ["", "_reverse"];

/// Views of one layer's four tensors inside a flat buffer (parameters or gradients).
pub struct LayerParams<'a, T> {
    /// `weight_ih` `[G*H, I]`.
    pub w_ih: &'a [T], // [G, I]
    /// `weight_hh` `[G*H, H]`.
    pub w_hh: &'a [T], // [G, H]
    /// `bias_ih` `[G*H]`.
    pub b_ih: &'a [T], // [G]
    /// `bias_hh` `[G*H]`.
    pub b_hh: &'a [T], // [G]
}

/// Mutable views of one layer's gradient tensors.
pub struct LayerGrads<'a, T> {
    /// dL/d`weight_ih`.
    pub w_ih: &'a mut [T],
    /// dL/d`weight_hh`.
    pub w_hh: &'a mut [T],
    /// dL/d`bias_ih`.
    pub b_ih: &'a mut [T],
    /// dL/d`bias_hh`.
    pub b_hh: &'a mut [T],
}

/// A recurrent model: config, parameter table and the flat parameter buffer.
#[derive(Clone, Debug)]
pub struct Model<T> {
    /// The architecture.
    pub config: ModelConfig,
    /// Every tensor's name, shape and place in `params` ([`param_specs`]).
    pub specs: Vec<ParamSpec>,
    /// All parameters, laid out by `specs`.
    pub params: Vec<T>,
}

impl<T: Float> Model<T> {
    /// A model with PyTorch's default initialization: every recurrent tensor
    /// U(-1/sqrt(H), 1/sqrt(H)) for its layer's H, and the head as `nn.Linear`:
    /// U(-1/sqrt(H_top), 1/sqrt(H_top)) for weight and bias. A shared embedding and head
    /// weight starts as `word_language_model`'s: U(-0.1, 0.1), so the first logits are small.
    /// ([`Model::init_tf1`] draws them again as TensorFlow 1.x does.)
    pub fn new<R: Rng>(config: ModelConfig, rng: &mut R) -> Result<Self> {
        config.validate()?;
        let specs = param_specs(&config);
        let n = specs.last().map_or(0, |s| s.offset + s.len());
        let mut params = vec![T::ZERO; n];
        for spec in &specs {
            if spec.name.starts_with("init.") {
                continue; // a learned initial state starts at zero, as the default state
            }
            if spec.name == "embedding.weight" && config.tie_weights {
                for p in &mut params[spec.range()] {
                    *p = T::from_f64(rng.random_range(-0.1..0.1));
                }
                continue;
            }
            if spec.name == "embedding.weight" {
                // nn.Embedding: N(0, 1), by Box-Muller.
                for p in &mut params[spec.range()] {
                    *p = T::from_f64(init::normal(rng));
                }
                continue;
            }
            // nn.LSTM: 1/sqrt(H) of the tensor's layer; nn.Linear: 1/sqrt(in_features).
            let fan = if let Some(k) = spec.name.strip_prefix("rnn.").and_then(layer_index) {
                config.hidden_sizes[k]
            } else {
                config.top_output()
            };
            let bound = 1.0 / (fan as f64).sqrt();
            for p in &mut params[spec.range()] {
                *p = T::from_f64(rng.random_range(-bound..bound));
            }
        }
        Ok(Model { config, specs, params })
    }

    /// A model from a parameter buffer laid out by `param_specs(&config)`.
    pub fn from_params(config: ModelConfig, params: Vec<T>) -> Result<Self> {
        config.validate()?;
        let specs = param_specs(&config);
        let n = specs.last().map_or(0, |s| s.offset + s.len());
        if params.len() != n {
            return Err(Error::ShapeMismatch {
                what: "parameter buffer".into(),
                expected: vec![n],
                got: vec![params.len()],
            });
        }
        Ok(Model { config, specs, params })
    }

    /// Parameters in all tensors.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The tensor called `name`, if the model has one.
    pub fn param(&self, name: &str) -> Option<&[T]> {
        self.specs.iter().find(|s| s.name == name).map(|s| &self.params[s.range()])
    }

    /// The tensor of this `state_dict` name, to change it.
    pub fn param_mut(&mut self, name: &str) -> Option<&mut [T]> {
        let r = self.specs.iter().find(|s| s.name == name)?.range();
        Some(&mut self.params[r])
    }

    /// Converts to another float type (f32 <-> f64).
    pub fn cast<U: Float>(&self) -> Model<U> {
        Model {
            config: self.config.clone(),
            specs: self.specs.clone(),
            params: self.params.iter().map(|&p| U::from_f64(p.to_f64())).collect(),
        }
    }
}

/// The layer number in `weight_ih_l3`-style names (also `weight_ih_l3_reverse`).
fn layer_index(name: &str) -> Option<usize> {
    let name = name.strip_suffix("_reverse").unwrap_or(name);
    name.rsplit_once("_l").and_then(|(_, k)| k.parse().ok())
}

/// Views of every tensor of a flat buffer (parameters or gradients), by the table's layout:
/// the embedding, 4 tensors per layer and direction, then the head's weight and bias.
/// Per-unit vectors are indexed `k * directions + d` (PyTorch's `h_n` order).
pub(crate) struct Split<'a, T> {
    pub embedding: &'a [T], // [V, I] or empty
    pub layers: Vec<LayerParams<'a, T>>,
    pub head_w: &'a [T],      // [C, D*H_top]
    pub head_b: &'a [T],      // [C]
    pub init_h: Vec<&'a [T]>, // per unit [H_k], with learn_init
    pub init_c: Vec<&'a [T]>, // per unit [H_k], with learn_init and LSTM
}

/// Mutable counterpart of [`Split`].
pub(crate) struct SplitMut<'a, T> {
    pub embedding: &'a mut [T],
    pub layers: Vec<LayerGrads<'a, T>>,
    pub head_w: &'a mut [T], // empty when tied: the head's gradient goes to `embedding`
    pub head_b: &'a mut [T],
    pub init_h: Vec<&'a mut [T]>,
    pub init_c: Vec<&'a mut [T]>,
}

/// Sizes of the tensors in table order (the embedding's is 0 without one).
fn tensor_sizes(cfg: &ModelConfig) -> (usize, Vec<[usize; 4]>, usize, usize) {
    let g = cfg.cell.gates();
    let d = cfg.directions();
    let layers = cfg
        .unit_hidden()
        .into_iter()
        .enumerate()
        .map(|(u, h)| [g * h * cfg.layer_input(u / d), g * h * h, g * h, g * h]);
    (
        cfg.vocab_size.unwrap_or(0) * cfg.input_size,
        layers.collect(),
        if cfg.tie_weights { 0 } else { cfg.output_size * cfg.top_output() },
        cfg.output_size,
    )
}

/// Where unit u's (layer k, direction d: u = k D + d) `weight_hh` starts in the flat
/// parameter buffer.
pub(crate) fn w_hh_offset(cfg: &ModelConfig, u: usize) -> usize {
    let (e, layers, _, _) = tensor_sizes(cfg);
    e + layers[..u].iter().flatten().sum::<usize>() + layers[u][0]
}

pub(crate) fn split<'a, T>(cfg: &ModelConfig, buf: &'a [T]) -> Split<'a, T> {
    let mut rest = buf;
    let p = cut(cfg, |n| {
        let (a, b) = rest.split_at(n);
        rest = b;
        a
    });
    let layers = p.layers.into_iter().map(|[w_ih, w_hh, b_ih, b_hh]| LayerParams { w_ih, w_hh, b_ih, b_hh });
    let (embedding, head_b, init_h, init_c) = (p.embedding, p.head_b, p.init_h, p.init_c);
    let head_w = if cfg.tie_weights { embedding } else { p.head_w };
    Split { embedding, layers: layers.collect(), head_w, head_b, init_h, init_c }
}

pub(crate) fn split_mut<'a, T>(cfg: &ModelConfig, buf: &'a mut [T]) -> SplitMut<'a, T> {
    let mut rest = buf;
    let p = cut(cfg, |n| {
        let (a, b) = std::mem::take(&mut rest).split_at_mut(n);
        rest = b;
        a
    });
    let layers = p.layers.into_iter().map(|[w_ih, w_hh, b_ih, b_hh]| LayerGrads { w_ih, w_hh, b_ih, b_hh });
    let (embedding, head_w, head_b, init_h, init_c) = (p.embedding, p.head_w, p.head_b, p.init_h, p.init_c);
    SplitMut { embedding, layers: layers.collect(), head_w, head_b, init_h, init_c }
}

/// The tensors of the flat layout, in their order, each `take`n from the front of the rest
/// (for [`split`] and [`split_mut`]).
struct Cut<S> {
    embedding: S,
    /// Per unit: `w_ih`, `w_hh`, `b_ih`, `b_hh`.
    layers: Vec<[S; 4]>,
    head_w: S,
    head_b: S,
    init_h: Vec<S>,
    init_c: Vec<S>,
}

fn cut<S>(cfg: &ModelConfig, mut take: impl FnMut(usize) -> S) -> Cut<S> {
    let (e, layer_sizes, hw, hb) = tensor_sizes(cfg);
    let embedding = take(e);
    let layers = layer_sizes.iter().map(|s| [take(s[0]), take(s[1]), take(s[2]), take(s[3])]).collect();
    let (head_w, head_b) = (take(hw), take(hb));
    let (mut init_h, mut init_c) = (Vec::new(), Vec::new());
    if cfg.learn_init {
        for h in cfg.unit_hidden() {
            init_h.push(take(h));
            if cfg.cell.has_cell_state() {
                init_c.push(take(h));
            }
        }
    }
    Cut { embedding, layers, head_w, head_b, init_h, init_c }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lstm2() -> ModelConfig {
        ModelConfig::new(CellKind::Lstm, 5, vec![7, 7], 4, HeadKind::Last, LossKind::CrossEntropy)
    }

    #[test]
    fn param_table_of_a_two_layer_lstm_is_pytorchs() {
        let got: Vec<(String, Vec<usize>, usize)> =
            param_specs(&lstm2()).into_iter().map(|s| (s.name, s.shape, s.offset)).collect();
        let want = vec![
            ("rnn.weight_ih_l0".to_string(), vec![28, 5], 0),
            ("rnn.weight_hh_l0".into(), vec![28, 7], 140),
            ("rnn.bias_ih_l0".into(), vec![28], 336),
            ("rnn.bias_hh_l0".into(), vec![28], 364),
            ("rnn.weight_ih_l1".into(), vec![28, 7], 392),
            ("rnn.weight_hh_l1".into(), vec![28, 7], 588),
            ("rnn.bias_ih_l1".into(), vec![28], 784),
            ("rnn.bias_hh_l1".into(), vec![28], 812),
            ("head.weight".into(), vec![4, 7], 840),
            ("head.bias".into(), vec![4], 868),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_bidirectional_layer_adds_reverse_tensors_and_doubles_the_next_input() {
        let mut cfg = lstm2();
        cfg.bidirectional = true;
        cfg.hidden_sizes = vec![7, 3];
        let got: Vec<(String, Vec<usize>)> =
            param_specs(&cfg).into_iter().map(|s| (s.name, s.shape)).collect();
        let names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];
        let mut want = Vec::new();
        for (k, (h, i)) in [(7, 5), (3, 14)].into_iter().enumerate() {
            for dir in ["", "_reverse"] {
                for (n, shape) in names.iter().zip([vec![4 * h, i], vec![4 * h, h], vec![4 * h], vec![4 * h]])
                {
                    want.push((format!("rnn.{n}_l{k}{dir}"), shape));
                }
            }
        }
        want.push(("head.weight".into(), vec![4, 6]));
        want.push(("head.bias".into(), vec![4]));
        assert_eq!(got, want);
        assert_eq!(cfg.unit_hidden(), vec![7, 7, 3, 3]);
        assert_eq!(layer_index("rnn.weight_hh_l1_reverse"), Some(1));
    }

    #[test]
    fn init_follows_pytorch_bounds_and_is_seeded() {
        use rand::SeedableRng;
        let mut cfg = lstm2();
        cfg.hidden_sizes = vec![100, 4];
        let m1 = Model::<f32>::new(cfg.clone(), &mut rand_chacha::ChaCha8Rng::seed_from_u64(7)).unwrap();
        let m2 = Model::<f32>::new(cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(7)).unwrap();
        assert_eq!(m1.params, m2.params);
        let w = m1.param("rnn.weight_hh_l0").unwrap();
        assert!(w.iter().all(|x| x.abs() <= 0.1) && w.iter().any(|x| x.abs() > 0.09));
        let w = m1.param("head.weight").unwrap();
        assert!(w.iter().all(|x| x.abs() <= 0.5) && w.iter().any(|x| x.abs() > 0.3));
    }

    #[test]
    fn bad_configs_are_rejected_with_the_field() {
        let mut cfg = lstm2();
        cfg.hidden_sizes = vec![];
        let err = Model::<f32>::from_params(cfg, vec![]).unwrap_err().to_string();
        assert!(err.contains("num_layers"), "{err}");
    }
}
