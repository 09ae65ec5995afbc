//! The loops every update rule runs in, written once: over a dense gradient, or over a
//! gradient formed row by row from outer-product factors inside the update.
//!
//! A rule is a type ([`Rule`]) whose `update` is one element's arithmetic; the loops take it
//! as a type parameter, so each (loop, rule) pair compiles to one branch-free vectorized loop.

use super::OuterSum;
use crate::float::Float;
use crate::ops::simd_fn;

/// One element's update: parameter `p`, gradient `g`, and the optimizer's two state buffers'
/// values `m` and `v` (each rule says what they hold). `update` is inlined into the loops, so
/// a rule that ignores a buffer never loads or stores it.
pub(super) trait Rule<T: Float>: Copy + Send + Sync {
    fn update(self, p: &mut T, g: T, m: &mut T, v: &mut T);
}

/// A loop to run with the rule of an optimizer's kind and step, whatever its type.
pub(super) trait WithRule<T: Float> {
    fn run<R: Rule<T>>(self, r: R);
}

/// Elements per parallel piece: large enough that a thread streams long runs of the
/// parameters and state, small enough that the faster core takes work from a slower one.
const PIECE: usize = 1 << 15;

/// The update of dense `p` by `g`, in parallel pieces for models large enough to pay for it
/// (aesop's 1M parameters: the update is memory-bound). Every element's update is
/// independent, so the split never changes a bit of the result.
pub(super) fn dense<T: Float, R: Rule<T>>(r: R, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    use rayon::prelude::*;
    if p.len() < 4 * PIECE {
        return dense_kernel(r, p, g, m, v);
    }
    p.par_chunks_mut(PIECE)
        .zip(g.par_chunks(PIECE))
        .zip(m.par_chunks_mut(PIECE))
        .zip(v.par_chunks_mut(PIECE))
        .for_each(|(((p, g), m), v)| dense_kernel(r, p, g, m, v));
}

/// The update of `p`, the tensor of `o`, by its gradient `sum_q u[q, :]^T w[q, :]`, formed
/// inside the update ([`outer_kernel`]) so that it never goes through memory. `ut` is a
/// scratch buffer for `u` transposed (`[rows, K]`).
pub(super) fn outer<T: Float, R: Rule<T>>(
    r: R,
    p: &mut [T],
    o: &OuterSum<T>,
    m: &mut [T],
    v: &mut [T],
    ut: &mut Vec<T>,
) {
    use rayon::prelude::*;
    if o.k == 0 {
        // No factors: a zero gradient (as a GEMM with K = 0 writes).
        return dense(r, p, &vec![T::ZERO; p.len()], m, v);
    }
    ut.clear();
    ut.resize(o.rows * o.k, T::ZERO);
    for q in 0..o.k {
        for row in 0..o.rows {
            ut[row * o.k + q] = o.u[q * o.rows + row];
        }
    }
    let (ut, cols, k) = (&ut[..], o.cols, o.k);
    let piece_rows = (PIECE / cols.max(1)).max(1);
    let piece = piece_rows * cols;
    if p.len() < 4 * piece {
        return outer_kernel(r, p, m, v, ut, o);
    }
    let pieces = p.par_chunks_mut(piece).zip(m.par_chunks_mut(piece)).zip(v.par_chunks_mut(piece));
    pieces.enumerate().for_each(|(i, ((p, m), v))| {
        let rows = i * piece_rows..i * piece_rows + p.len() / cols;
        outer_kernel(r, p, m, v, &ut[rows.start * k..rows.end * k], o)
    });
}

simd_fn! {
    fn dense_kernel<T: Float, R: Rule<T>>(r: R, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            r.update(p, g, m, v);
        }
    }
}

simd_fn! {
    /// Rows of `p` (`[rows, cols]`) with `ut` `[rows, k]` and `o.w` `[k, cols]`: each gradient
    /// element is `sum_q ut[row, q] w[q, col]`, rounded as the GEMMs that form the same
    /// gradient whole round it (so the fused update and the plain step agree bit for bit,
    /// tests/optimizer_bits.rs): for K = 2 two products and one add, else q ascending, one
    /// fused multiply-add each. With one or
    /// two factors (aesop: two steps past h0 = 0) each element is formed in registers in the
    /// update's own loop, so that the loads of parameters and state run on without a pause;
    /// with more, a row's gradient goes through a buffer in L1 first.
    fn outer_kernel<T: Float, R: Rule<T>>(
        r: R,
        p: &mut [T],
        m: &mut [T],
        v: &mut [T],
        ut: &[T],
        o: &OuterSum<T>,
    ) {
        let (w, k, cols) = (o.w, o.k, o.cols);
        let mut g = vec![T::ZERO; if k > 2 { cols } else { 0 }];
        let rows = p.chunks_exact_mut(cols).zip(m.chunks_exact_mut(cols)).zip(v.chunks_exact_mut(cols));
        for (((p, m), v), u) in rows.zip(ut.chunks_exact(k)) {
            let elems = p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut());
            match *u {
                [a] => {
                    for (((p, m), v), &b) in elems.zip(&w[..cols]) {
                        r.update(p, a * b, m, v);
                    }
                }
                [a0, a1] => {
                    for ((((p, m), v), &b0), &b1) in elems.zip(&w[..cols]).zip(&w[cols..2 * cols]) {
                        r.update(p, a0 * b0 + a1 * b1, m, v);
                    }
                }
                _ => {
                    g.fill(T::ZERO);
                    for (&a, wq) in u.iter().zip(w.chunks_exact(cols)) {
                        for (x, &b) in g.iter_mut().zip(wq) {
                            *x = a.mul_add(b, *x);
                        }
                    }
                    for (((p, m), v), &g) in elems.zip(&g) {
                        r.update(p, g, m, v);
                    }
                }
            }
        }
    }
}
