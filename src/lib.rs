//! recur: recurrent neural networks (RNN, LSTM, GRU) on the CPU, trained with
//! backpropagation through time, with PyTorch's equations, parameter layout and file names.
//!
//! The data flows one way: data -> batches -> [`model::Model`] -> loss -> gradients ->
//! [`optim`]. The `recur` binary only parses arguments and wires these together.

pub mod bench;
pub mod cell;
pub mod cli;
pub mod data;
pub mod error;
pub mod float;
pub mod io;
pub mod model;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod train;

pub use error::{Error, Result};
pub use float::Float;
