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
//! - [`io`]: model files (safetensors with PyTorch `state_dict` names), ONNX export
//!   ([`io::onnx`]) and `.npy` arrays;
//! - [`task`]: bitcount, addition, text, mnist, classify, regress, label, forecast.
//!
//! # Examples
//!
//! An LSTM learns to count the 1s in 8-bit strings (`examples/bitcount.rs` is the full
//! tutorial program):
//!
//! ```
//! use rand::SeedableRng;
//! use recur::{
//!     CellKind, GradOptions, HeadKind, LossKind, Model, ModelConfig, OptimConfig, Optimizer,
//!     OptimizerKind, Seqs, Session, Targets,
//! };
//!
//! # fn main() -> recur::Result<()> {
//! // Every 8-bit string as 8 steps of one feature, its count of 1s as the class.
//! let numbers: Vec<u32> = (0..256).collect();
//! let x: Vec<f32> = numbers.iter().flat_map(|&n| (0..8).rev().map(move |b| (n >> b & 1) as f32)).collect();
//! let y: Vec<u32> = numbers.iter().map(|n| n.count_ones()).collect();
//! let batch = Seqs::new(&x, 256, 8); // [batch, time, features] = [256, 8, 1]
//!
//! // nn.LSTM(1, 16) with nn.Linear(16, 9) on the last step, cross-entropy loss.
//! let config = ModelConfig::new(CellKind::Lstm, 1, vec![16], 9, HeadKind::Last, LossKind::CrossEntropy);
//! let mut model = Model::<f32>::new(config, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))?;
//! let mut opt = Optimizer::new(OptimConfig::new(OptimizerKind::Adam, 1e-2));
//! let mut sess = Session::new(1);
//! for _ in 0..300 {
//!     sess.loss_and_grad(&model, batch, None, Targets::Classes(&y), GradOptions::default())?;
//!     opt.step(&mut model.params, sess.param_grads());
//! }
//! let scored = sess.evaluate(&model, batch, None, Targets::Classes(&y))?;
//! assert!(scored.accuracy() > 0.9, "accuracy {}", scored.accuracy());
//! println!("mean loss {:.4}, accuracy {:.1}%", scored.mean(), 100.0 * scored.accuracy());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

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
/// Pictures of a run, for the `recur plot` command; public only so that recur's fuzzer can
/// reach the metrics reader. Not part of the library's interface.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod plot;

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
