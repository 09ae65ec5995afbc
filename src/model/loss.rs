//! Losses on the head's logits, each computing its value and its gradient in one pass.
//!
//! All three match PyTorch's functional losses with `reduction="mean"`:
//! - `ce`: `F.cross_entropy(logits, class)`, log-softmax with the max subtracted, mean over rows;
//! - `bce`: `F.binary_cross_entropy_with_logits`, computed as
//!   `max(x, 0) - x y + log(1 + e^-|x|)` so it never takes the log of 0, mean over elements;
//! - `mse`: `F.mse_loss`, mean over elements.
//!
//! The gradient is written over the logits in place, already divided by the global count N
//! (the whole batch, not this thread's chunk), so chunk gradients simply add.

use serde::{Deserialize, Serialize};

use crate::float::Float;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
/// The head's loss, as PyTorch's functional losses with `reduction="mean"`.
pub enum LossKind {
    /// Softmax cross-entropy against a class index.
    #[serde(rename = "ce")]
    CrossEntropy,
    /// Sigmoid binary cross-entropy against targets in [0, 1].
    #[serde(rename = "bce")]
    Bce,
    /// Mean squared error against real targets.
    #[serde(rename = "mse")]
    Mse,
}

impl LossKind {
    /// Its name in model files and on the command line: `ce`, `bce`, `mse`.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "ce",
            LossKind::Bce => "bce",
            LossKind::Mse => "mse",
        }
    }
}

impl std::str::FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ce" => Ok(LossKind::CrossEntropy),
            "bce" => Ok(LossKind::Bce),
            "mse" => Ok(LossKind::Mse),
            _ => Err(format!("unknown loss `{s}` (expected ce, bce or mse)")),
        }
    }
}

/// Sum of loss terms and of correct predictions over a block of rows, and what
/// `reduction="mean"` divides that sum by. Sums of several batches add up (`+=`), and
/// [`LossSum::mean`] of the total is then the mean over all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSum {
    /// Sum of per-element (or per-row, for `ce`) losses, before dividing by N.
    pub loss: f64,
    /// Correct predictions: argmax == class (`ce`), thresholded at 0.5 (`bce`); 0 for `mse`.
    pub correct: usize,
    /// Number of predictions `correct` is out of.
    pub count: usize,
    /// N, the mean's denominator: rows (`ce`) or elements (`bce`, `mse`) that count, or the
    /// sum of their class weights for a weighted cross-entropy. Filled in by the passes.
    pub normalizer: f64,
}

impl LossSum {
    /// The mean loss, as PyTorch's `reduction="mean"` reports it (NaN for an empty sum).
    pub fn mean(&self) -> f64 {
        self.loss / self.normalizer
    }
    /// The fraction of predictions that were right (NaN when none were scored, e.g. `mse`).
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count as f64
    }
}

impl std::ops::AddAssign for LossSum {
    fn add_assign(&mut self, o: Self) {
        self.loss += o.loss;
        self.correct += o.correct;
        self.count += o.count;
        self.normalizer += o.normalizer;
    }
}

/// Softmax cross-entropy over `[rows, C]` logits, optionally weighted per class. Overwrites the logits: with
/// dL/dlogits = (softmax - onehot) / N when `scale` is `Some(1/N)`, else with scratch values.
pub fn cross_entropy<T: Float>(
    logits: &mut [T],
    classes: usize,
    target: &[u32],
    mask: Option<&[bool]>,
    weights: Option<&[f64]>,
    scale: Option<T>,
) -> LossSum {
    let mut sum = LossSum::default();
    for (i, (row, &y)) in logits.chunks_exact_mut(classes).zip(target).enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            row.fill(T::ZERO);
            continue;
        }
        let y = y as usize;
        let (mut arg, mut max) = (0, row[0]);
        for (j, &v) in row.iter().enumerate() {
            if v > max {
                max = v;
                arg = j;
            }
        }
        // One exp per logit, used for both the loss and the gradient.
        let mut z = 0.0f64;
        let vy = row[y];
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            z += v.to_f64();
        }
        // A class weight scales the row's loss and gradient (PyTorch's `weight=`).
        let w = weights.map_or(1.0, |w| w[y]);
        sum.loss += w * (z.ln() - (vy - max).to_f64());
        sum.correct += (arg == y) as usize;
        sum.count += 1;
        if let Some(s) = scale {
            let s = s * T::from_f64(w);
            let inv = T::from_f64(1.0 / z) * s;
            for v in row.iter_mut() {
                *v *= inv;
            }
            row[y] -= s;
        }
    }
    sum
}

/// Binary cross-entropy with logits, elementwise over equal-length `logits` and `target`
/// (rows of `width`; a row whose `mask` entry is false is skipped, its gradient zero).
pub fn bce_with_logits<T: Float>(
    logits: &mut [T],
    target: &[T],
    width: usize,
    mask: Option<&[bool]>,
    scale: Option<T>,
) -> LossSum {
    let mut sum = LossSum::default();
    for (i, (x, &y)) in logits.iter_mut().zip(target).enumerate() {
        if mask.is_some_and(|m| !m[i / width]) {
            *x = T::ZERO;
            continue;
        }
        let (xf, yf) = (x.to_f64(), y.to_f64());
        // One exponential serves the loss and the gradient: with e = exp(-|x|),
        // log(1 + exp(-|x|)) = ln_1p(e) and sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) else.
        let e = (-xf.abs()).exp();
        sum.loss += xf.max(0.0) - xf * yf + e.ln_1p();
        sum.correct += ((xf > 0.0) == (yf > 0.5)) as usize;
        sum.count += 1;
        if let Some(s) = scale {
            let sigmoid = if xf >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
            *x = T::from_f64(sigmoid - yf) * s;
        }
    }
    sum
}

/// Mean squared error, elementwise (rows of `width`, masked like [`bce_with_logits`]).
pub fn mse<T: Float>(
    pred: &mut [T],
    target: &[T],
    width: usize,
    mask: Option<&[bool]>,
    scale: Option<T>,
) -> LossSum {
    let mut sum = LossSum::default();
    for (i, (x, &y)) in pred.iter_mut().zip(target).enumerate() {
        if mask.is_some_and(|m| !m[i / width]) {
            *x = T::ZERO;
            continue;
        }
        let d = *x - y;
        sum.loss += d.to_f64() * d.to_f64();
        if let Some(s) = scale {
            *x = (d + d) * s;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_is_stable_and_its_gradient_sums_to_zero() {
        let mut x = [1000.0f64, 0.0, -1000.0, 1.0, 2.0, 3.0];
        let s = cross_entropy(&mut x, 3, &[2, 2], None, None, Some(0.5));
        // Row 0: log-sum-exp = 1000, loss = 1000 - (-1000) = 2000.
        // Row 1: log(e^1 + e^2 + e^3) - 3 = 0.40760596.
        assert!((s.loss - (2000.0 + 0.4076059644443804)).abs() < 1e-9, "{}", s.loss);
        assert_eq!((s.correct, s.count), (1, 2));
        assert!((x[0] - 0.5).abs() < 1e-12 && (x[2] + 0.5).abs() < 1e-12);
        assert!((x[3] + x[4] + x[5]).abs() < 1e-15);
    }

    #[test]
    fn bce_never_takes_log_of_zero() {
        let mut x = [100.0f32, -100.0, 0.0];
        let s = bce_with_logits(&mut x, &[0.0, 1.0, 1.0], 1, None, Some(1.0));
        assert!((s.loss - (200.0 + std::f64::consts::LN_2)).abs() < 1e-4, "{}", s.loss);
        assert_eq!(s.correct, 0);
        assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6 && (x[2] + 0.5).abs() < 1e-6);
    }

    #[test]
    fn mse_gradient_is_two_diff_over_n() {
        let mut x = [3.0f64, 1.0];
        let s = mse(&mut x, &[1.0, 1.0], 1, None, Some(0.5));
        assert_eq!(s.loss, 4.0);
        assert_eq!(x, [2.0, 0.0]);
    }
}
