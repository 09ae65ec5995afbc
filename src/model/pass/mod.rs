//! Whole-model passes over a batch: forward, loss, and backward through all layers and time,
//! split across threads by batch rows.
//!
//! Batch rows of a recurrent model never interact, so a batch is cut into contiguous chunks,
//! one per thread, and each chunk runs the entire forward and backward on its own
//! [`Workspace`] with its own gradient buffer; the buffers are then summed in chunk order.
//! A training batch too big for the cores' caches is cut into more tiles than threads
//! instead; each thread runs one tile after another on its own workspace, which stays in
//! cache, taking the next free tile, and the tiles' gradients are summed in tile order. There
//! is no synchronisation inside the time loop, and the result depends only on the cut, which
//! the batch shape and the thread count fix, so a seed and a thread count reproduce a run
//! bit for bit.
//!
//! Shapes at this level are batch-first, as in PyTorch with `batch_first=True`: input
//! `[B, T, I]`, logits `[B, C]` (last-step head) or `[B, T, C]` (per-step head), initial and
//! final states per layer `[B, H_k]`.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::model::layer::LayerCache;
use crate::model::loss::{LossKind, LossSum};
use crate::model::{HeadKind, Model, ModelConfig};
use crate::ops::add_assign;
use chunk::{Job, Workspace};

mod bidirectional;
pub(crate) mod chunk;
mod grads;
mod run;
mod types;

pub use types::{GradOptions, Gradients, Output, Seqs, State, Targets};

/// Reusable buffers and the thread count for passes over one model architecture.
///
/// # Examples
///
/// Two sequences padded to 3 steps: the second is 1 step long, and its final state is that
/// of its one real step, as PyTorch's packed sequences give.
///
/// ```
/// use rand::SeedableRng;
/// use recur::{CellKind, HeadKind, LossKind, Model, ModelConfig, Seqs, Session};
///
/// let config = ModelConfig::new(CellKind::Gru, 2, vec![4], 3, HeadKind::Last, LossKind::CrossEntropy);
/// let model = Model::<f64>::new(config, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0)).unwrap();
/// let x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, /* second row: */ 0.7, 0.8, 9.0, 9.0, 9.0, 9.0];
/// let mut sess = Session::new(1);
/// let padded = sess.forward(&model, Seqs::padded(&x, 2, 3, &[3, 1]), None).unwrap();
/// let alone = sess.forward(&model, Seqs::new(&x[6..8], 1, 1), None).unwrap();
/// assert_eq!(padded.logits.len(), 2 * 3); // [batch, classes]
/// assert_eq!(&padded.state.h[0][4..], &alone.state.h[0][..]);
/// ```
#[derive(Debug)]
pub struct Session<T> {
    threads: usize,
    chunk_rows: usize,
    /// Seed of the next training pass's dropout masks; advanced by every `loss_and_grad`.
    pub dropout_seed: u64,
    /// Per-class weights of the cross-entropy (PyTorch's `weight=`): each row's loss is
    /// scaled by its class's weight and the mean divides by the sum of those weights.
    pub class_weights: Option<Vec<f64>>,
    work: Vec<Workspace<T>>,
    chunks: usize,
    /// Chunks and tiles of the last pass: how many pieces its batch ran as.
    pieces: usize,
    /// Per tile of the last tiled pass: its parameter gradients and loss.
    tile_out: Vec<(Vec<T>, LossSum)>,
    /// The last pass left some weight gradients as factors (see [`GradOptions::fused_update`]).
    deferred: bool,
    /// Input and state gradients of the last `loss_and_grad`, when asked for.
    pub grads: Gradients<T>,
}

/// Fewest rows worth giving a thread of its own.
const MIN_ROWS_PER_CHUNK: usize = 16;

impl<T: Float> Session<T> {
    /// `threads`: how many chunks a batch may be split into (results depend on it, bit for bit).
    pub fn new(threads: usize) -> Self {
        Session {
            threads: threads.max(1),
            chunk_rows: MIN_ROWS_PER_CHUNK,
            dropout_seed: 0,
            class_weights: None,
            work: Vec::new(),
            chunks: 0,
            pieces: 0,
            tile_out: Vec::new(),
            deferred: false,
            grads: Gradients::default(),
        }
    }

    /// How many pieces (chunks, and tiles within them) the last pass cut its batch into.
    pub fn pieces(&self) -> usize {
        self.pieces
    }

    /// Sets the fewest rows a chunk may have (default 16), e.g. to force a tiny batch across
    /// several chunks in tests. A value above the batch size runs it as one chunk.
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// How many chunks a batch may be cut into.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn check(&self, m: &Model<T>, x: &Seqs<T>, init: Option<&State<T>>) -> Result<()> {
        let cfg = &m.config;
        let Seqs { input, batch, steps, lengths } = *x;
        if let Some(l) = lengths {
            if l.len() != batch {
                return Err(Error::ShapeMismatch {
                    what: "lengths".into(),
                    expected: vec![batch],
                    got: vec![l.len()],
                });
            }
            if let Some(bad) = l.iter().find(|&&n| n == 0 || n > steps) {
                return Err(Error::Input(format!(
                    "sequence length {bad} is not in 1..={steps} (the padded length)"
                )));
            }
        }
        if batch == 0 || steps == 0 {
            return Err(Error::Input(format!(
                "empty input: {batch} sequences of {steps} steps; need at least one sequence of one step"
            )));
        }
        crate::model::memory::check_fits(cfg, batch, steps)?;
        let want = batch * steps * cfg.features();
        if input.len() != want {
            return Err(Error::ShapeMismatch {
                what: "input [batch, time, features]".into(),
                expected: vec![batch, steps, cfg.features()],
                got: vec![input.len()],
            });
        }
        if let Some(v) = cfg.vocab_size {
            let ok = |x: &T| *x >= T::ZERO && x.to_f64() < v as f64 && x.to_f64().fract() == 0.0;
            if let Some(bad) = input.iter().find(|x| !ok(x)) {
                return Err(Error::Input(format!(
                    "token id {bad:?} is not an integer in 0..{v} (the model's vocabulary)"
                )));
            }
        }
        if let Some(s) = init {
            let units = cfg.unit_hidden();
            let c_units = if cfg.cell.has_cell_state() { units.len() } else { 0 };
            let ok_h = s.h.len() == units.len() && s.h.iter().zip(&units).all(|(h, &n)| h.len() == batch * n);
            let ok_c = s.c.len() == c_units && s.c.iter().zip(&units).all(|(c, &n)| c.len() == batch * n);
            if !ok_h || !ok_c {
                return Err(Error::ShapeMismatch {
                    what: "initial state (per layer and direction [batch, hidden])".into(),
                    expected: units.iter().map(|&n| batch * n).collect(),
                    got: s.h.iter().map(|h| h.len()).collect(),
                });
            }
        }
        Ok(())
    }

    fn targets_len(cfg: &ModelConfig, batch: usize, steps: usize, t: &Targets<T>) -> Result<()> {
        let rows = match cfg.head {
            HeadKind::Last => batch,
            HeadKind::Step => batch * steps,
        };
        let (len, want, what) = match (cfg.loss, t) {
            (LossKind::CrossEntropy, Targets::Classes(c)) => {
                if let Some(&bad) = c.iter().find(|&&y| y as usize >= cfg.output_size) {
                    return Err(Error::Input(format!(
                        "target class {bad} is out of range: the model has {} classes",
                        cfg.output_size
                    )));
                }
                (c.len(), rows, "class targets")
            }
            (LossKind::Bce | LossKind::Mse, Targets::Dense(d)) => {
                (d.len(), rows * cfg.output_size, "targets")
            }
            (loss, _) => {
                return Err(Error::Input(format!(
                    "loss {} needs {} targets",
                    loss.name(),
                    if loss == LossKind::CrossEntropy { "class" } else { "real-valued" }
                )));
            }
        };
        if len != want {
            return Err(Error::ShapeMismatch { what: what.into(), expected: vec![want], got: vec![len] });
        }
        Ok(())
    }

    /// Forward pass; fills logits, top-layer outputs and the final state. On padded sequences
    /// (`x.lengths`), a padded step leaves the state unchanged, so the final state (and a
    /// last-step head) is that of each sequence's last real step; outputs at padded steps
    /// repeat the last real one.
    pub fn forward(&mut self, m: &Model<T>, x: Seqs<T>, init: Option<&State<T>>) -> Result<Output<T>> {
        self.check(m, &x, init)?;
        self.run(m, |b0, rows| Job::forward(&x, b0, rows, init), x.batch, false);
        Ok(self.collect_output(m, x.batch, x.steps))
    }

    /// Loss (and accuracy counts) without gradients, e.g. for evaluation; padded steps add
    /// nothing. [`LossSum::mean`] is the mean loss.
    pub fn evaluate(
        &mut self,
        m: &Model<T>,
        x: Seqs<T>,
        init: Option<&State<T>>,
        targets: Targets<T>,
    ) -> Result<LossSum> {
        self.check(m, &x, init)?;
        Self::targets_len(&m.config, x.batch, x.steps, &targets)?;
        let weights = self.weights(m)?;
        let job = |b0, rows| Job {
            class_weights: weights.as_deref(),
            targets: Some(targets),
            ..Job::forward(&x, b0, rows, init)
        };
        self.run(m, job, x.batch, true);
        let mut sum = self.sum();
        sum.normalizer = loss_normalizer(&m.config, &x, targets, weights.as_deref());
        Ok(sum)
    }

    /// The loss and its gradients: parameter gradients in [`Session::param_grads`], input and
    /// state gradients (when `opts` asks) in `self.grads`. Padded steps add nothing to the
    /// loss (the mean is over real steps) or to any gradient, so a padded batch gives exactly
    /// the loss and gradients of its sequences run at their own lengths. [`LossSum::mean`]
    /// is the mean loss that the gradients are of.
    pub fn loss_and_grad(
        &mut self,
        m: &Model<T>,
        x: Seqs<T>,
        init: Option<&State<T>>,
        targets: Targets<T>,
        opts: GradOptions,
    ) -> Result<LossSum> {
        self.check(m, &x, init)?;
        Self::targets_len(&m.config, x.batch, x.steps, &targets)?;
        let weights = self.weights(m)?;
        let norm = loss_normalizer(&m.config, &x, targets, weights.as_deref());
        let scale = T::from_f64(1.0 / norm);
        let (batch, steps) = (x.batch, x.steps);
        let seed = self.dropout_seed;
        self.dropout_seed = self.dropout_seed.wrapping_add(1);
        let job = |b0, rows| Job {
            seed,
            class_weights: weights.as_deref(),
            targets: Some(targets),
            scale: Some(scale),
            want_dx: opts.input,
            want_dh0: opts.state,
            defer_outer: opts.fused_update,
            ..Job::forward(&x, b0, rows, init)
        };
        self.run(m, job, batch, !opts.input && !opts.state && !opts.final_state);
        // Reduce the chunk gradients in chunk order.
        let n = self.chunks;
        let (first, rest) = self.work.split_at_mut(1);
        for ws in &rest[..n - 1] {
            add_assign(&mut first[0].grads, &ws.grads);
        }
        if opts.input {
            self.grads.input = self.gather_rows(batch, |ws| &ws.dx, steps, m.config.input_size, true);
        }
        if opts.state {
            let cfg = &m.config;
            let units = cfg.num_layers() * cfg.directions();
            self.grads.state.h = (0..units).map(|u| self.gather_state(u, |c| &c.dh_rec)).collect();
            self.grads.state.c = if cfg.cell.has_cell_state() {
                (0..units).map(|u| self.gather_state(u, |c| &c.dc)).collect()
            } else {
                Vec::new()
            };
        }
        let mut sum = self.sum();
        sum.normalizer = norm;
        Ok(sum)
    }

    /// The class weights that apply to this model's loss, checked against its classes.
    fn weights(&self, m: &Model<T>) -> Result<Option<Vec<f64>>> {
        if let Some(w) = &self.class_weights
            && (w.len() != m.config.output_size || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)))
        {
            return Err(Error::Input(format!(
                "{} class weights for {} classes (each must be a number >= 0)",
                w.len(),
                m.config.output_size
            )));
        }
        Ok(self.class_weights.clone().filter(|_| m.config.loss == LossKind::CrossEntropy))
    }

    fn sum(&self) -> LossSum {
        let mut s = LossSum::default();
        for ws in &self.work[..self.chunks] {
            s += ws.sum;
        }
        s
    }

    /// Concatenates per-chunk `[b, n]` state buffers of unit u into `[B, n]`.
    fn gather_state(&self, u: usize, f: impl Fn(&LayerCache<T>) -> &[T]) -> Vec<T> {
        let mut out = Vec::new();
        for ws in &self.work[..self.chunks] {
            out.extend_from_slice(f(&ws.layers[u]));
        }
        out
    }

    /// Turns per-chunk time-major `[T, b, n]` buffers into one batch-first `[B, T, n]`.
    fn gather_rows(
        &self,
        batch: usize,
        f: impl Fn(&Workspace<T>) -> &[T],
        steps: usize,
        n: usize,
        time_major: bool,
    ) -> Vec<T> {
        let mut out = vec![T::ZERO; batch * steps * n];
        let mut b0 = 0;
        for ws in &self.work[..self.chunks] {
            let buf = f(ws);
            let rows = buf.len() / (steps * n);
            for t in 0..steps {
                for r in 0..rows {
                    let src = if time_major { (t * rows + r) * n } else { (r * steps + t) * n };
                    let dst = ((b0 + r) * steps + t) * n;
                    out[dst..dst + n].copy_from_slice(&buf[src..src + n]);
                }
            }
            b0 += rows;
        }
        out
    }

    /// The final state of the last pass: after [`Session::forward`], or after
    /// [`Session::loss_and_grad`] with [`GradOptions::final_state`] (other passes may have
    /// cut their batch into tiles and kept only the last tile's). Per unit `[B, H]`; a padded
    /// row's is that of its last real step.
    pub fn final_state(&self, m: &Model<T>) -> State<T> {
        let cfg = &m.config;
        let units = cfg.num_layers() * cfg.directions();
        let h = (0..units).map(|u| self.gather_state(u, |l| l.last_output())).collect();
        let c = if cfg.cell.has_cell_state() {
            (0..units).map(|u| self.gather_state(u, |l| l.last_cell())).collect()
        } else {
            Vec::new()
        };
        State { h, c }
    }

    fn collect_output(&self, m: &Model<T>, batch: usize, steps: usize) -> Output<T> {
        let cfg = &m.config;
        let c = cfg.output_size;
        let logits = match cfg.head {
            HeadKind::Last => {
                self.work[..self.chunks].iter().flat_map(|ws| ws.logits.iter().copied()).collect()
            }
            HeadKind::Step => self.gather_rows(batch, |ws| &ws.logits, steps, c, true),
        };
        let top = cfg.num_layers() - 1;
        let outputs = match cfg.directions() {
            1 => self.gather_rows(batch, |ws| ws.layers[top].outputs(), steps, cfg.top_hidden(), true),
            _ => self.gather_rows(batch, |ws| &ws.cat[top], steps, cfg.top_output(), true),
        };
        Output { logits, outputs, state: self.final_state(m) }
    }
}

/// The sum of the class weights of the rows that count (the weighted mean's denominator).
fn weighted_normalizer<T>(cfg: &ModelConfig, x: &Seqs<T>, y: &[u32], w: &[f64]) -> f64 {
    match cfg.head {
        HeadKind::Last => y.iter().map(|&c| w[c as usize]).sum(),
        HeadKind::Step => y
            .iter()
            .enumerate()
            .filter(|(i, _)| x.lengths.is_none_or(|l| i % x.steps < l[i / x.steps]))
            .map(|(_, &c)| w[c as usize])
            .sum(),
    }
}

/// The N that `reduction="mean"` divides by: the rows (`ce`) or elements that count, only
/// real steps of padded sequences, or the sum of the class weights of the rows that count.
fn loss_normalizer<T>(cfg: &ModelConfig, x: &Seqs<T>, targets: Targets<T>, w: Option<&[f64]>) -> f64 {
    match (w, targets) {
        (Some(w), Targets::Classes(y)) => weighted_normalizer(cfg, x, y, w),
        _ => normalizer(cfg, x) as f64,
    }
}

/// The N that `reduction="mean"` divides by, counting only real steps of padded sequences.
pub fn normalizer<T>(cfg: &ModelConfig, x: &Seqs<T>) -> usize {
    let rows = match (cfg.head, x.lengths) {
        (HeadKind::Last, _) => x.batch,
        (HeadKind::Step, Some(l)) => l.iter().sum(),
        (HeadKind::Step, None) => x.batch * x.steps,
    };
    match cfg.loss {
        LossKind::CrossEntropy => rows,
        LossKind::Bce | LossKind::Mse => rows * cfg.output_size,
    }
}
