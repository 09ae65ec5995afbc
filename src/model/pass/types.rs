//! What every pass reads and returns: a batch of sequences ([`Seqs`]), its targets, the
//! recurrent state, which gradients to compute, and the outputs and gradients.

use crate::float::Float;
use crate::model::ModelConfig;

/// Recurrent state per unit, in PyTorch's `h_n` order: `h[k * D + d]` is `[B, H_k]` for layer
/// k and direction d (D = 2 when bidirectional, else 1); `c` likewise for LSTM (empty
/// otherwise).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State<T> {
    /// Hidden state per unit, `[B, H_k]`.
    pub h: Vec<Vec<T>>,
    /// LSTM cell state per unit, `[B, H_k]`; empty for RNN and GRU.
    pub c: Vec<Vec<T>>,
}

impl<T: Float> State<T> {
    /// The zero state of `batch` rows, PyTorch's default `h0`.
    pub fn zeros(cfg: &ModelConfig, batch: usize) -> Self {
        let h: Vec<Vec<T>> = cfg.unit_hidden().iter().map(|&n| vec![T::ZERO; batch * n]).collect();
        let c = if cfg.cell.has_cell_state() { h.clone() } else { Vec::new() };
        State { h, c }
    }
}

/// What the loss compares the logits with, batch-first.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// Class indices: `[B]` (last-step head) or `[B, T]` (per-step head). For `ce`.
    Classes(&'a [u32]),
    /// Real targets shaped like the logits. For `bce` and `mse`.
    Dense(&'a [T]),
}

/// A batch of sequences, batch-first, optionally padded: what every pass reads.
#[derive(Clone, Copy, Debug)]
pub struct Seqs<'a, T> {
    /// `[B, T, F]` (F = input features, or 1 token id).
    pub input: &'a [T],
    /// B: sequences in the batch.
    pub batch: usize,
    /// T: the (padded) length of every sequence.
    pub steps: usize,
    /// The real length of each sequence, 1..=T; `None` = all T.
    pub lengths: Option<&'a [usize]>,
}

impl<'a, T> Seqs<'a, T> {
    /// `batch` sequences of `steps` steps each, `input` `[batch, steps, features]`.
    pub fn new(input: &'a [T], batch: usize, steps: usize) -> Self {
        Seqs { input, batch, steps, lengths: None }
    }
    /// Sequences padded to `steps`, with their real lengths (each 1..=steps).
    pub fn padded(input: &'a [T], batch: usize, steps: usize, lengths: &'a [usize]) -> Self {
        Seqs { input, batch, steps, lengths: Some(lengths) }
    }
}

/// Which gradients besides the parameters' to compute.
#[derive(Clone, Copy, Debug, Default)]
pub struct GradOptions {
    /// dL/d input, `[B, T, I]`.
    pub input: bool,
    /// dL/d h0 (and c0).
    pub state: bool,
    /// The caller applies the gradients with [`Session::update`] and does not read
    /// [`Session::param_grads`]: a weight gradient that is a sum of a few outer products of
    /// a large matrix (batch 1, few steps, as in the next-word tutorial) may then be formed
    /// inside the update instead of in memory. Takes effect only for a batch run as one chunk.
    pub fused_update: bool,
    /// Keep the final state of every row for [`Session::final_state`], e.g. to carry it to
    /// the next batch of a stream (truncated back-propagation through time).
    pub final_state: bool,
}

/// Input and state gradients of the last [`Session::loss_and_grad`] (parameter gradients
/// are [`Session::param_grads`]).
#[derive(Clone, Debug, Default)]
pub struct Gradients<T> {
    /// `[B, T, I]` when requested.
    pub input: Vec<T>,
    /// dL/d initial state, when requested.
    pub state: State<T>,
}

/// Result of a forward pass.
#[derive(Clone, Debug, Default)]
pub struct Output<T> {
    /// `[B, C]` or `[B, T, C]`.
    pub logits: Vec<T>,
    /// `[B, T, D*H_top]` top-layer outputs of every step (`[forward | reverse]` when
    /// bidirectional).
    pub outputs: Vec<T>,
    /// Final state per layer.
    pub state: State<T>,
}
