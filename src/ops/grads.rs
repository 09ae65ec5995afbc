//! Gradient arithmetic that the model and the optimizer share: norms, clipping, and a
//! weight gradient given as a sum of outer products ([`OuterSum`]), which a pass may hand to
//! whatever applies its gradients ([`ApplyGrads`]) instead of forming it in memory.

use crate::float::Float;

/// What applies a model's gradients to its parameters: an optimizer. The model computes
/// gradients and knows no optimizer; it hands them over through this.
pub trait ApplyGrads<T> {
    /// One update of `params` with `grads` (same layout), where the ranges of `outer` are
    /// not read from `grads` but formed from their factors.
    fn apply(&mut self, params: &mut [T], grads: &[T], outer: &[OuterSum<T>]);
}

/// A gradient tensor given as a sum of K outer products: `G[r, c] = sum_q u[q, r] w[q, c]`,
/// `u` `[K, rows]` and `w` `[K, cols]` row-major, at `offset` in the flat layout.
#[derive(Clone, Copy, Debug)]
pub struct OuterSum<'a, T> {
    /// Where the tensor starts in the flat parameter layout.
    pub offset: usize,
    /// Rows of the tensor.
    pub rows: usize,
    /// Columns of the tensor.
    pub cols: usize,
    /// K: how many outer products are summed.
    pub k: usize,
    /// The left factors, `[K, rows]`.
    pub u: &'a [T],
    /// The right factors, `[K, cols]`.
    pub w: &'a [T],
}

impl<T: Float> OuterSum<'_, T> {
    /// The squared Frobenius norm of the tensor, from the factors alone:
    /// `sum_{q,q'} (u_q . u_q') (w_q . w_q')`, in f64.
    pub fn sum_squares(&self) -> f64 {
        let dot = |a: &[T], b: &[T]| a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum::<f64>();
        let (u, w) = (
            |q: usize| &self.u[q * self.rows..(q + 1) * self.rows],
            |q: usize| &self.w[q * self.cols..(q + 1) * self.cols],
        );
        let mut sq = 0.0;
        for q in 0..self.k {
            for p in 0..self.k {
                sq += dot(u(q), u(p)) * dot(w(q), w(p));
            }
        }
        sq
    }
}

impl<T> OuterSum<'_, T> {
    /// Panics unless the factors have the shapes the sum claims.
    pub fn check(&self) {
        assert!(
            self.u.len() == self.k * self.rows && self.w.len() == self.k * self.cols,
            "outer-product factors: u has {} elements for [{}, {}], w {} for [{}, {}]",
            self.u.len(),
            self.k,
            self.rows,
            self.w.len(),
            self.k,
            self.cols
        );
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm`, exactly as
/// `clip_grad_norm_`: by `max_norm / (norm + 1e-6)` when that is below 1. Returns the norm
/// before clipping (infinite or NaN if a gradient is).
pub fn clip_grad_norm<T: Float>(grads: &mut [T], max_norm: f64) -> f64 {
    let norm = sum_squares(grads).sqrt();
    if let Some(c) = clip_coef(norm, max_norm) {
        scale(grads, T::from_f64(c));
    }
    norm
}

/// What [`clip_grad_norm`] multiplies the gradients by at global norm `norm`, if anything.
pub fn clip_coef(norm: f64, max_norm: f64) -> Option<f64> {
    let coef = max_norm / (norm + 1e-6);
    (coef < 1.0).then_some(coef)
}

/// The sum of the squares of `g`, in f64.
pub fn sum_squares<T: Float>(g: &[T]) -> f64 {
    // Eight independent partial sums (in f64), so the loop is not one chain of dependent adds:
    // a single chain took 1.8 ms over aesop's 1.1M gradients, more than the rest of the step.
    let mut acc = [0.0f64; 8];
    for chunk in g.chunks(8) {
        for (a, x) in acc.iter_mut().zip(chunk) {
            *a += x.to_f64() * x.to_f64();
        }
    }
    acc.iter().sum()
}

/// `g *= c`, elementwise.
pub fn scale<T: Float>(g: &mut [T], c: T) {
    for x in g.iter_mut() {
        *x *= c;
    }
}
