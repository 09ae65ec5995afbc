//! recur: recurrent neural networks (RNN, LSTM, GRU) on the CPU, trained with
//! backpropagation through time, with PyTorch's equations, parameter layout and file names.
//!
//! The data flows one way: data ([`data`] readers, or a [`task`]'s generator) -> batches
//! ([`Seqs`], [`Targets`]) -> [`Model`] run by a [`Session`] -> loss and gradients ->
//! [`Optimizer`]. [`train()`] is that loop, written once, with evaluation, checkpoints and
//! early stopping; [`task`] holds the ready-made tasks the `recur` command line trains.
//!
//! Modules:
//! - [`model`]: the architecture ([`ModelConfig`]), parameters ([`Model`]) and the batched,
//!   threaded passes ([`Session`]: forward, evaluate, loss and gradients);
//! - [`optim`]: SGD, Adam, AdamW and RMSProp with PyTorch's update rules;
//! - [`train`]: the training loop and its [`Task`] trait;
//! - [`data`]: format readers (IDX, CSV/TSV, JSON Lines, `.npy` rows, text tokens);
//! - [`io`]: model files (safetensors with PyTorch `state_dict` names) and `.npy` arrays;
//! - [`task`]: bitcount, addition, text, mnist, classify, regress, label, forecast.

pub mod cell;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod data;
pub mod error;
pub mod float;
pub mod io;
pub mod model;
pub(crate) mod ops;
pub mod optim;
pub mod task;
pub mod train;

#[cfg(feature = "cli")]
mod bench;
#[cfg(feature = "cli")]
mod plot;

pub use cell::CellKind;
pub use error::{Error, Result};
pub use float::Float;
pub use io::model_file::{ModelFile, load, save};
pub use model::{
    GradOptions, HeadKind, LossKind, LossSum, Model, ModelConfig, Output, Seqs, Session, State, Targets,
};
pub use optim::{OptimConfig, Optimizer, OptimizerKind};
pub use train::{Batch, Observer, Schedule, Task, TrainConfig, TrainReport, train};

/// The kernels behind the passes, for recur's own micro-benchmarks (`examples/bench_*.rs`).
/// Not part of the library's interface: they may change at any time.
#[doc(hidden)]
pub mod kernels {
    pub use crate::cell::lstm::{backward_step, forward_step};
    pub use crate::ops::packed::{Packed, gemm_packed};
    pub use crate::ops::{MatMut, MatRef, gemm};
}
