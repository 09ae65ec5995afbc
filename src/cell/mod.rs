//! The three recurrent cells, one step each, forward and backward side by side.
//!
//! Cells only know a single time step on a block of `b` batch rows; the time loop, the GEMMs
//! and the layer stacking are written once in `src/model/layer.rs`. Each cell file states
//! its equations in PyTorch notation and follows `torch.nn.RNN/LSTM/GRU` exactly: fused
//! `(G*H, in)` weight layout, gate order, and two bias vectors `b_ih`, `b_hh`.
//!
//! Dimension legend used in shape comments throughout the crate:
//!
//! | symbol | meaning |
//! |---|---|
//! | `B` | batch size (`b` for the rows of one thread's chunk) |
//! | `T` | sequence length (time steps) |
//! | `I` | input_size of a layer |
//! | `H` | hidden_size of a layer |
//! | `G` | gates × H: `H` (RNN), `4H` (LSTM), `3H` (GRU) |
//! | `L` | num_layers |
//! | `C` | outputs of the head (classes) |
//!
//! Gradient rule: a parameter gradient is summed over all time steps by one GEMM (or column
//! sum) after the reverse loop and written once per pass and batch chunk; the chunks' buffers
//! are then added in chunk order. Activation gradients are written (`=`).

pub(crate) mod gru;
pub(crate) mod lstm;
mod lstm_simd;
pub(crate) mod rnn;

use serde::{Deserialize, Serialize};

/// Which recurrent cell a layer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Elman RNN with tanh: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    Rnn,
    /// LSTM, gates i, f, g, o.
    Lstm,
    /// GRU, gates r, z, n.
    Gru,
}

impl CellKind {
    /// Number of gate blocks stacked in `weight_ih`/`weight_hh` (G = gates × H).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
    /// Whether the cell carries a memory cell `c` besides `h`.
    pub fn has_cell_state(self) -> bool {
        self == CellKind::Lstm
    }
    /// The name on the command line and in model files: `rnn`, `lstm`, `gru`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
    /// The cell whose weight matrices stack `g` gate blocks (1 RNN, 3 GRU, 4 LSTM).
    pub fn from_gates(g: usize) -> Option<Self> {
        match g {
            1 => Some(CellKind::Rnn),
            4 => Some(CellKind::Lstm),
            3 => Some(CellKind::Gru),
            _ => None,
        }
    }
}

impl std::str::FromStr for CellKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rnn" | "tanh" => Ok(CellKind::Rnn),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            _ => Err(format!("unknown cell `{s}` (expected rnn, lstm or gru)")),
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
