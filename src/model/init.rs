//! How a model's parameters start: PyTorch's initializers ([`Model::new`]) or TensorFlow 1.x's
//! ([`Model::init_tf1`]), for reproducing a TF 1.x program's figures.

use std::ops::Range;

use rand::{Rng, RngExt};

use super::{Model, layer_index};
use crate::cell::CellKind;
use crate::float::Float;

/// Whose initializers a model starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's, as `nn.LSTM`/`nn.GRU`/`nn.RNN` and `nn.Linear` ([`Model::new`]).
    #[default]
    PyTorch,
    /// TensorFlow 1.x's, as its cells and a `tf.random_normal` output layer
    /// ([`Model::init_tf1`]).
    Tf1,
}

/// A sample of N(0, 1), by Box-Muller.
pub(crate) fn normal<R: Rng>(rng: &mut R) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A TF 1.x cell's kernels, as blocks of recur's gate rows (in units of H): each block's
/// glorot_uniform fan (fan_in + fan_out of its TF kernel) and where its bias starts.
fn tf1_blocks(cell: CellKind, i: usize, h: usize) -> Vec<(Range<usize>, usize, f64)> {
    match cell {
        // BasicRNNCell: kernel [I + H, H], bias 0.
        CellKind::Rnn => vec![(0..1, i + 2 * h, 0.0)],
        // BasicLSTMCell: one kernel [I + H, 4H], bias 0, and forget_bias = 1.0 added to the
        // forget gate (gate f of i, f, g, o here), which is a forget bias starting at 1.
        CellKind::Lstm => vec![(0..1, i + 5 * h, 0.0), (1..2, i + 5 * h, 1.0), (2..4, i + 5 * h, 0.0)],
        // GRUCell: gates kernel [I + H, 2H] (r, z) with bias 1.0, candidate kernel [I + H, H]
        // with bias 0.
        CellKind::Gru => vec![(0..2, i + 3 * h, 1.0), (2..3, i + 2 * h, 0.0)],
    }
}

impl<T: Float> Model<T> {
    /// Draws the parameters again as TensorFlow 1.x starts them:
    ///
    /// - each layer's TF kernel `[I + H, G*H]` (recur's `weight_ih` and `weight_hh` of that
    ///   layer together) from `tf.get_variable`'s default, glorot_uniform: U(-a, a) with
    ///   a = sqrt(6 / (I + H + G*H)), e.g. sqrt(6 / (I + 5H)) for `BasicLSTMCell` (GRUCell's
    ///   gates and candidate are two kernels, each with its own bound);
    /// - biases 0, except `BasicLSTMCell`'s `forget_bias=1.0`, which TF adds to the forget
    ///   gate's pre-activation: `bias_ih`'s forget rows (H..2H) start at 1, which gives the
    ///   same outputs and gradients; and GRUCell's gate bias, 1 (`bias_ih`'s r and z rows);
    /// - the head's weight and bias N(0, 1), as `tf.Variable(tf.random_normal(...))`.
    ///
    /// TF's gate order (i, j, f, o for LSTM) differs from PyTorch's, which does not matter to
    /// an initializer the same for all gates. An embedding keeps its N(0, 1), a learned
    /// initial state its zeros.
    pub fn init_tf1<R: Rng>(&mut self, rng: &mut R) {
        let cfg = &self.config;
        for spec in &self.specs {
            let p = &mut self.params[spec.range()];
            if spec.name.starts_with("head.") {
                p.iter_mut().for_each(|x| *x = T::from_f64(normal(rng)));
                continue;
            }
            let Some(k) = spec.name.strip_prefix("rnn.").and_then(layer_index) else { continue };
            let (i, h) = (cfg.layer_input(k), cfg.hidden_sizes[k]);
            let cols = spec.shape.get(1).copied().unwrap_or(1);
            for (rows, fan, bias) in tf1_blocks(cfg.cell, i, h) {
                let block = &mut p[rows.start * h * cols..rows.end * h * cols];
                if spec.name.contains(".weight_") {
                    let a = (6.0 / fan as f64).sqrt();
                    block.iter_mut().for_each(|x| *x = T::from_f64(rng.random_range(-a..a)));
                } else {
                    let b = if spec.name.contains(".bias_ih") { bias } else { 0.0 };
                    block.fill(T::from_f64(b));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::model::{HeadKind, LossKind, ModelConfig};

    fn tf1_model(cell: CellKind, hidden: Vec<usize>) -> Model<f32> {
        let cfg = ModelConfig::new(cell, 1, hidden, 112, HeadKind::Last, LossKind::CrossEntropy);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut m = Model::new(cfg, &mut rng).unwrap();
        m.init_tf1(&mut rng);
        m
    }

    /// All within (-a, a) and some near a: drawn from U(-a, a).
    fn uniform_within(w: &[f32], a: f64) -> bool {
        w.iter().all(|&x| (x as f64).abs() < a) && w.iter().any(|&x| (x as f64).abs() > 0.95 * a)
    }

    #[test]
    fn tf1_lstm_is_glorot_with_forget_bias_one_and_a_standard_normal_head() {
        let m = tf1_model(CellKind::Lstm, vec![64, 64]);
        let h = 64;
        for (k, i) in [(0, 1), (1, h)] {
            let a = (6.0 / (i + h + 4 * h) as f64).sqrt(); // sqrt(6 / (fan_in + fan_out))
            assert!(uniform_within(m.param(&format!("rnn.weight_ih_l{k}")).unwrap(), a), "layer {k}");
            assert!(uniform_within(m.param(&format!("rnn.weight_hh_l{k}")).unwrap(), a), "layer {k}");
            let b_ih = m.param(&format!("rnn.bias_ih_l{k}")).unwrap();
            let forget = |r: usize| (h..2 * h).contains(&r);
            assert!(b_ih.iter().enumerate().all(|(r, &b)| b == if forget(r) { 1.0 } else { 0.0 }));
            assert!(m.param(&format!("rnn.bias_hh_l{k}")).unwrap().iter().all(|&b| b == 0.0));
        }
        for name in ["head.weight", "head.bias"] {
            let w: Vec<f64> = m.param(name).unwrap().iter().map(|&x| x as f64).collect();
            let n = w.len() as f64;
            let mean = w.iter().sum::<f64>() / n;
            let sd = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            // 7168 and 112 samples of N(0, 1): mean within 4 standard errors, sd near 1.
            assert!(mean.abs() < 4.0 / n.sqrt() && (sd - 1.0).abs() < 0.2, "{name}: {mean} {sd}");
            assert!(w.iter().any(|x| x.abs() > 2.0), "{name}: no tail");
        }
    }

    #[test]
    fn tf1_gru_and_rnn_follow_their_cells() {
        let (i, h) = (1, 32);
        let m = tf1_model(CellKind::Gru, vec![h]);
        let w = m.param("rnn.weight_hh_l0").unwrap();
        assert!(uniform_within(&w[..2 * h * h], (6.0 / (i + 3 * h) as f64).sqrt()));
        assert!(uniform_within(&w[2 * h * h..], (6.0 / (i + 2 * h) as f64).sqrt()));
        let b = m.param("rnn.bias_ih_l0").unwrap();
        assert!(b[..2 * h].iter().all(|&x| x == 1.0) && b[2 * h..].iter().all(|&x| x == 0.0));
        let m = tf1_model(CellKind::Rnn, vec![h]);
        assert!(uniform_within(m.param("rnn.weight_hh_l0").unwrap(), (6.0 / (i + 2 * h) as f64).sqrt()));
        assert!(m.param("rnn.bias_ih_l0").unwrap().iter().all(|&x| x == 0.0));
    }
}
