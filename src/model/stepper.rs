//! One symbol at a time at batch 1, for generation: the state stays inside, each step costs
//! one matrix-vector product per weight matrix and nothing is allocated.
//!
//! A model with an embedding has only `V` possible inputs, so the first layer's input
//! projection is computed once for all of them, `table = E W_ih^T + b` (`[V, G*H]`); a step
//! then starts from the row of its id instead of reading `W_ih`. For the character model of
//! `recur bench` (256-wide embedding, 2x256 LSTM) that is a quarter of the weights a step
//! would read.
//!
//! The sums are those of [`crate::model::Session::forward`] up to rounding (the table's products run
//! in another order), so a test holds the two to 1e-5.

use crate::cell::{CellKind, gru, lstm, rnn};
use crate::error::{Error, Result};
use crate::model::{Model, State, split};
use crate::ops::{MatMut, MatRef, fill_rows, gemm, gemm_bias};

/// A unidirectional model stepped one input at a time.
pub struct Stepper<'m> {
    model: &'m Model<f32>,
    /// `[V, G*H_0]`: every id's first-layer input projection with its biases (embedding
    /// models; empty otherwise).
    table: Vec<f32>,
    /// Per layer: the bias folded into the input projection (LSTM/RNN: b_ih + b_hh; GRU:
    /// b_ih).
    bias: Vec<Vec<f32>>,
    state: State<f32>,
    /// Next state per layer (swapped with `state` after each layer's step).
    next_h: Vec<Vec<f32>>,
    next_c: Vec<Vec<f32>>,
    gates: Vec<f32>,
    /// GRU: the hidden projection `b_hh + W_hh h`.
    hidden: Vec<f32>,
    /// LSTM: tanh(c); GRU: the n gate's hidden part.
    aux: Vec<f32>,
    logits: Vec<f32>,
}

impl<'m> Stepper<'m> {
    /// A stepper at the model's initial state (zeros, or the learned one).
    pub fn new(model: &'m Model<f32>) -> Result<Self> {
        let cfg = &model.config;
        if cfg.bidirectional {
            return Err(Error::BadConfig {
                field: "bidirectional".into(),
                value: "true".into(),
                reason: "a bidirectional model reads whole sequences, not one step at a time".into(),
            });
        }
        let p = split(cfg, &model.params);
        let cell = cfg.cell;
        let bias: Vec<Vec<f32>> = p
            .layers
            .iter()
            .map(|l| match cell {
                CellKind::Gru => l.b_ih.to_vec(),
                _ => l.b_ih.iter().zip(l.b_hh).map(|(a, b)| a + b).collect(),
            })
            .collect();
        let mut table = Vec::new();
        if let Some(v) = cfg.vocab_size {
            let g = cell.gates() * cfg.hidden_sizes[0];
            table.resize(v * g, 0.0);
            let e = MatRef::new(p.embedding, v, cfg.input_size);
            let w = MatRef::new(p.layers[0].w_ih, g, cfg.input_size).t();
            gemm_bias(e, w, &bias[0], MatMut::new(&mut table, v, g));
        }
        let widest = cfg.hidden_sizes.iter().max().copied().unwrap_or(0) * cell.gates();
        let mut s = Stepper {
            model,
            table,
            bias,
            state: State::zeros(cfg, 1),
            next_h: cfg.hidden_sizes.iter().map(|&h| vec![0.0; h]).collect(),
            next_c: cfg.hidden_sizes.iter().map(|&h| vec![0.0; h]).collect(),
            gates: vec![0.0; widest],
            hidden: vec![0.0; widest],
            aux: vec![0.0; widest],
            logits: vec![0.0; cfg.output_size],
        };
        s.reset();
        Ok(s)
    }

    /// Back to the model's initial state.
    pub fn reset(&mut self) {
        let cfg = &self.model.config;
        let p = split(cfg, &self.model.params);
        for (k, h) in self.state.h.iter_mut().enumerate() {
            match p.init_h.get(k) {
                Some(init) => h.copy_from_slice(init),
                None => h.fill(0.0),
            }
        }
        for (k, c) in self.state.c.iter_mut().enumerate() {
            match p.init_c.get(k) {
                Some(init) => c.copy_from_slice(init),
                None => c.fill(0.0),
            }
        }
    }

    /// The state after the last step, as [`crate::model::Session::forward`] returns it.
    pub fn state(&self) -> &State<f32> {
        &self.state
    }

    /// Steps on one input: a token id for a model with an embedding (checked to be in
    /// range), else `input_size` features. Returns the head's logits.
    pub fn step(&mut self, input: &[f32]) -> Result<&[f32]> {
        let cfg = &self.model.config;
        let p = split(cfg, &self.model.params);
        let cell = cfg.cell;
        if input.len() != cfg.features() {
            return Err(Error::Input(format!(
                "a step reads {} features, got {}",
                cfg.features(),
                input.len()
            )));
        }
        for k in 0..cfg.num_layers() {
            let hid = cfg.hidden_sizes[k];
            let g = cell.gates() * hid;
            let lp = &p.layers[k];
            let gates = &mut self.gates[..g];
            // The input projection with its bias.
            match (k, cfg.vocab_size) {
                (0, Some(v)) => {
                    let id = input[0];
                    if !(id >= 0.0 && id < v as f32 && id.fract() == 0.0) {
                        return Err(Error::Input(format!("token id {id} is not in 0..{v}")));
                    }
                    let id = id as usize;
                    gates.copy_from_slice(&self.table[id * g..(id + 1) * g]);
                }
                _ => {
                    let x: &[f32] = if k == 0 { input } else { &self.state.h[k - 1] };
                    let w = MatRef::new(lp.w_ih, g, x.len()).t();
                    gemm_bias(MatRef::new(x, 1, x.len()), w, &self.bias[k], MatMut::new(gates, 1, g));
                }
            }
            let h_prev = MatRef::new(&self.state.h[k], 1, hid);
            let w_hh = MatRef::new(lp.w_hh, g, hid).t();
            let h = &mut self.next_h[k];
            match cell {
                CellKind::Rnn => {
                    gemm(1.0, h_prev, w_hh, 1.0, MatMut::new(gates, 1, g));
                    rnn::forward_step(gates, h);
                }
                CellKind::Lstm => {
                    gemm(1.0, h_prev, w_hh, 1.0, MatMut::new(gates, 1, g));
                    let c = &mut self.next_c[k];
                    lstm::forward_step(hid, gates, &self.state.c[k], c, &mut self.aux[..hid], h);
                    std::mem::swap(c, &mut self.state.c[k]);
                }
                CellKind::Gru => {
                    let gh = &mut self.hidden[..g];
                    fill_rows(gh, lp.b_hh);
                    gemm(1.0, h_prev, w_hh, 1.0, MatMut::new(gh, 1, g));
                    gru::forward_step(hid, gates, gh, &mut self.aux[..hid], &self.state.h[k], h);
                }
            }
            std::mem::swap(h, &mut self.state.h[k]);
        }
        let top = &self.state.h[cfg.num_layers() - 1];
        let c = cfg.output_size;
        let w = MatRef::new(p.head_w, c, top.len()).t();
        gemm_bias(MatRef::new(top, 1, top.len()), w, p.head_b, MatMut::new(&mut self.logits, 1, c));
        Ok(&self.logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HeadKind, LossKind, ModelConfig, Seqs, Session};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Stepping through a sequence gives the logits and final state of one forward pass
    /// over it, for every cell, with and without an embedding, tied, with a learned initial
    /// state and with a cell state carried from a first pass.
    #[test]
    fn steps_match_a_forward_pass() {
        let (steps, v) = (7, 6);
        for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            let base = ModelConfig::new(cell, 5, vec![8, 5], v, HeadKind::Step, LossKind::CrossEntropy);
            let configs = [
                ModelConfig { vocab_size: Some(v), ..base.clone() },
                ModelConfig { vocab_size: Some(v), tie_weights: true, ..base.clone() },
                ModelConfig { learn_init: true, ..base.clone() },
                ModelConfig { hidden_sizes: vec![3], ..base.clone() },
            ];
            for cfg in configs {
                let mut rng = ChaCha8Rng::seed_from_u64(5);
                let mut model = Model::<f32>::new(cfg.clone(), &mut rng).unwrap();
                for s in model.specs.clone().iter().filter(|s| s.name.starts_with("init.")) {
                    for p in &mut model.params[s.range()] {
                        *p = rng.random_range(-0.5..0.5);
                    }
                }
                let f = cfg.features();
                let x: Vec<f32> = match cfg.vocab_size {
                    Some(v) => (0..2 * steps).map(|_| rng.random_range(0..v) as f32).collect(),
                    None => (0..2 * steps * f).map(|_| rng.random_range(-1.0..1.0)).collect(),
                };
                let (first, second) = x.split_at(steps * f);
                let mut sess = Session::<f32>::new(1);
                let a = sess.forward(&model, Seqs::new(first, 1, steps), None).unwrap();
                let b = sess.forward(&model, Seqs::new(second, 1, steps), Some(&a.state)).unwrap();
                let mut stepper = Stepper::new(&model).unwrap();
                let mut got = Vec::new();
                for t in 0..2 * steps {
                    got.extend_from_slice(stepper.step(&x[t * f..(t + 1) * f]).unwrap());
                }
                let want: Vec<f32> = a.logits.iter().chain(&b.logits).copied().collect();
                let tag = format!("{cell} {cfg:?}");
                assert_eq!(got.len(), want.len(), "{tag}");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-5, "{tag}: {g} vs {w}");
                }
                let st = stepper.state();
                for (g, w) in
                    st.h.iter().chain(&st.c).flatten().zip(b.state.h.iter().chain(&b.state.c).flatten())
                {
                    assert!((g - w).abs() < 1e-5, "{tag}: state {g} vs {w}");
                }
                stepper.reset();
                let again = stepper.step(&x[..f]).unwrap().to_vec();
                assert!(again.iter().zip(&a.logits).all(|(g, w)| (g - w).abs() < 1e-5), "{tag}: reset");
            }
        }
    }

    #[test]
    fn bad_ids_and_widths_are_refused() {
        let cfg = ModelConfig {
            vocab_size: Some(4),
            ..ModelConfig::new(CellKind::Lstm, 3, vec![5], 4, HeadKind::Step, LossKind::CrossEntropy)
        };
        let model = Model::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let mut s = Stepper::new(&model).unwrap();
        for (x, msg) in [
            (vec![4.0], "token id 4 is not in 0..4"),
            (vec![-1.0], "token id -1 is not in 0..4"),
            (vec![1.5], "token id 1.5 is not in 0..4"),
            (vec![1.0, 2.0], "a step reads 1 features, got 2"),
        ] {
            let e = s.step(&x).unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
    }
}
