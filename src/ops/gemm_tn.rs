//! `C = A^T B (+ C)` for tall row-major A (`[K, m]`) and B (`[K, n]`): the sum over K rows
//! of outer products, which is how every weight gradient of a recurrent layer is formed
//! (`dW_hh = sum_t da_t^T h_{t-1}` over all steps and batch rows, K = T b).
//!
//! Why: the `gemm` crate handles this shape (small m and n, K in the thousands, A transposed)
//! at 40-100 GFLOP/s, and packs both operands first. Here a block of `R x 2N` of C stays in
//! registers for a whole block of K: each row q of the block is R broadcasts of `A[q, i..i+R]`
//! (consecutive floats of one row of A), two loads of `B[q, j..j+2N]`, and 2R FMAs. K is
//! cut into blocks so that a column panel of B stays in L1 while all of C's row blocks use it.
//!
//! The sum over K runs in order, one FMA per term, starting from the old C when accumulating.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

use crate::ops::vf32::{V, Width, width};

/// Floats of one K block of a column panel of B: 24 KiB, half of L1.
const PANEL_FLOATS: usize = 6 * 1024;

/// `C[m, n] = sum_q A[q, :]^T B[q, :]`, plus the old C when `accumulate`. Returns false
/// (doing nothing) without the vector features. Runs at width `w`, narrowed to what the CPU
/// has.
///
/// # Safety
/// `a` must address `[k, m]` floats with row stride `lda`, `b` `[k, n]` with `ldb`, `c`
/// `[m, n]` with `ldc`, and `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_tn(
    w: Width,
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) -> bool {
    let p = Problem { m, k, n, a, lda, b, ldb, c, ldc };
    // SAFETY: forwarded contract; `w` narrowed to the detected features.
    match w.min(width()) {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { run_avx512(&p, accumulate) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { run_avx2(&p, accumulate) },
        _ => return false,
    }
    true
}

struct Problem {
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
}

/// Rows `i0..i0+R` of C, columns `j0..j0+cols` (`cols <= 2N`), over rows `q0..q0+kc` of A
/// and B; starts from the old C when `accumulate`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<W: V, const R: usize>(
    p: &Problem,
    i0: usize,
    j0: usize,
    cols: usize,
    q0: usize,
    kc: usize,
    accumulate: bool,
) {
    unsafe {
        let (l0, l1) = (cols.min(W::N), cols.saturating_sub(W::N));
        let c0 = p.c.add(i0 * p.ldc + j0);
        let mut acc = [[W::splat(0.0); 2]; R];
        if accumulate {
            for (r, x) in acc.iter_mut().enumerate() {
                x[0] = W::load(c0.add(r * p.ldc), l0);
                x[1] = W::load(c0.add(r * p.ldc + W::N), l1);
            }
        }
        let mut a = p.a.add(q0 * p.lda + i0);
        let mut b = p.b.add(q0 * p.ldb + j0);
        for _ in 0..kc {
            let (b0, b1) = (W::load(b, l0), W::load(b.add(W::N), l1));
            for (r, x) in acc.iter_mut().enumerate() {
                let av = W::splat(*a.add(r));
                x[0] = av.fma(b0, x[0]);
                x[1] = av.fma(b1, x[1]);
            }
            a = a.add(p.lda);
            b = b.add(p.ldb);
        }
        for (r, x) in acc.iter().enumerate() {
            x[0].store(c0.add(r * p.ldc), l0);
            if l1 > 0 {
                x[1].store(c0.add(r * p.ldc + W::N), l1);
            }
        }
    }
}

/// [`tile`] with R = `rows` (1..=12).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_tile<W: V>(
    p: &Problem,
    rows: usize,
    i: usize,
    j: usize,
    cols: usize,
    q0: usize,
    kc: usize,
    acc: bool,
) {
    unsafe {
        match rows {
            12 => tile::<W, 12>(p, i, j, cols, q0, kc, acc),
            11 => tile::<W, 11>(p, i, j, cols, q0, kc, acc),
            10 => tile::<W, 10>(p, i, j, cols, q0, kc, acc),
            9 => tile::<W, 9>(p, i, j, cols, q0, kc, acc),
            8 => tile::<W, 8>(p, i, j, cols, q0, kc, acc),
            7 => tile::<W, 7>(p, i, j, cols, q0, kc, acc),
            6 => tile::<W, 6>(p, i, j, cols, q0, kc, acc),
            5 => tile::<W, 5>(p, i, j, cols, q0, kc, acc),
            4 => tile::<W, 4>(p, i, j, cols, q0, kc, acc),
            3 => tile::<W, 3>(p, i, j, cols, q0, kc, acc),
            2 => tile::<W, 2>(p, i, j, cols, q0, kc, acc),
            _ => tile::<W, 1>(p, i, j, cols, q0, kc, acc),
        }
    }
}

/// K in blocks whose column panel of B (`KC x 2N`, 24 KiB) stays in L1 while every block of
/// rows of A's transpose (at most MR, as even as possible) passes over it.
#[inline(always)]
unsafe fn run<W: V, const MR: usize>(p: &Problem, accumulate: bool) {
    unsafe {
        let nr = 2 * W::N;
        let kc_max = PANEL_FLOATS / nr;
        let blocks = p.m.div_ceil(MR);
        let (base, extra) = (p.m / blocks, p.m % blocks);
        if p.k <= kc_max {
            // One block of K (aesop's K = 2): C a block of rows at a time, so that its
            // writes are long runs.
            let mut i = 0;
            for blk in 0..blocks {
                let rows = base + (blk < extra) as usize;
                let mut j = 0;
                while j < p.n {
                    let cols = (p.n - j).min(nr);
                    rows_tile::<W>(p, rows, i, j, cols, 0, p.k, accumulate);
                    j += cols;
                }
                i += rows;
            }
            return;
        }
        let mut q0 = 0;
        while q0 < p.k {
            let kc = (p.k - q0).min(kc_max);
            let acc = accumulate || q0 > 0;
            let mut j = 0;
            while j < p.n {
                let cols = (p.n - j).min(nr);
                let mut i = 0;
                for blk in 0..blocks {
                    let rows = base + (blk < extra) as usize;
                    rows_tile::<W>(p, rows, i, j, cols, q0, kc, acc);
                    i += rows;
                }
                j += cols;
            }
            q0 += kc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(p: &Problem, accumulate: bool) {
    // 24 accumulators, 2 vectors of B and a broadcast: 27 of the 32 registers.
    unsafe { run::<__m512, 12>(p, accumulate) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(p: &Problem, accumulate: bool) {
    // 12 accumulators, 2 vectors of B and a broadcast: 15 of the 16 registers.
    unsafe { run::<__m256, 6>(p, accumulate) }
}

#[cfg(test)]
mod tests {
    use super::gemm_tn;
    use crate::ops::vf32::test_widths;

    use crate::ops::test_util::{GUARD, Rng, check_product};

    const EDGES: [usize; 14] = [1, 2, 5, 8, 11, 12, 13, 16, 17, 24, 31, 32, 33, 96];

    /// Both widths against an f64 loop on random shapes (K up to several blocks), row
    /// strides wider than the rows, C = A^T B over NaN or C += A^T B; C's gaps and tail keep
    /// their guard values; the error bound is that of a sequential FMA sum.
    #[test]
    fn tn_kernel_property_all_widths() {
        for w in test_widths() {
            let mut rng = Rng(5);
            for case in 0..400 {
                let (m, n) = (rng.size(&EDGES, 140), rng.size(&EDGES, 140));
                let k = match case % 4 {
                    0 => 1 + rng.below(4),
                    1 => rng.size(&EDGES, 140),
                    2 => 500 + rng.below(3000),
                    _ => 4000 + rng.below(6000),
                };
                let (lda, ldb, ldc) = (m + rng.below(3), n + rng.below(3), n + rng.below(3));
                let a = rng.vec((k - 1) * lda + m);
                let b = rng.vec((k - 1) * ldb + n);
                let accumulate = case % 3 == 0;
                let old = rng.vec(m * n);
                let mut c = vec![GUARD; m * ldc + 3];
                for i in 0..m {
                    for j in 0..n {
                        c[i * ldc + j] = if accumulate { old[i * n + j] } else { f32::NAN };
                    }
                }
                // SAFETY: the buffers hold exactly the extents passed.
                let ran = unsafe {
                    gemm_tn(w, m, k, n, a.as_ptr(), lda, b.as_ptr(), ldb, c.as_mut_ptr(), ldc, accumulate)
                };
                assert!(ran);
                let tag = format!("{w:?} case {case} ({m},{k},{n}) acc={accumulate}");
                let old = accumulate.then_some(&old[..]);
                check_product(&tag, &c, ldc, (m, k, n), old, |i, q| a[q * lda + i], |q, j| b[q * ldb + j]);
            }
        }
    }

    /// Through [`crate::ops::gemm`]'s f32 dispatch with A given transposed (as the layers pass
    /// `da^T`): the direct path, the transposed-output path (`C` narrower than a panel), and
    /// the shapes left to the `gemm` crate (`false`), over NaN in C (beta = 0) or adding to
    /// it, with row strides wider than the rows; nothing outside C is written.
    #[test]
    fn dispatch_matches_naive_on_weight_gradient_shapes() {
        use crate::ops::vf32::Width;
        use crate::ops::{MatMut, MatRef, f32_kernels, gemm_naive};
        let shapes = [
            (96, 3000, 24),
            (24, 100, 96),
            (512, 300, 28),
            (1, 50, 7),
            (5, 17, 1),
            (33, 20, 1),
            (100, 40, 127),
        ];
        // Not sent here: a few outer products, and both sides large.
        let elsewhere = [(2048, 2, 512), (128, 100, 128)];
        for w in test_widths().into_iter().chain([Width::None]) {
            for &(m, k, n) in shapes.iter().chain(&elsewhere) {
                for beta in [0.0f32, 1.0] {
                    let mut rng = Rng((m * 7 + k * 3 + n) as u64);
                    let (lda, ldb, ldc) = (m + 2, n + 1, n + 3);
                    let a = rng.vec((k - 1) * lda + m);
                    let b = rng.vec((k - 1) * ldb + n);
                    let at = MatRef::strided(&a, k, m, lda, 1).t();
                    let bv = MatRef::strided(&b, k, n, ldb, 1);
                    let c_len = (m - 1) * ldc + n;
                    let old = rng.vec(c_len);
                    let mut c1: Vec<f32> = (0..c_len + 4)
                        .map(|i| match i {
                            _ if i >= c_len || i % ldc >= n => GUARD,
                            _ if beta == 0.0 => f32::NAN,
                            _ => old[i],
                        })
                        .collect();
                    let mut c2 = c1.clone();
                    let done =
                        f32_kernels(w, at, bv, beta, &mut MatMut::strided(&mut c1[..c_len], m, n, ldc, 1));
                    let tag = format!("{w:?} ({m},{k},{n}) beta={beta}");
                    assert_eq!(done, w != Width::None && !elsewhere.contains(&(m, k, n)), "{tag}");
                    if !done {
                        continue;
                    }
                    gemm_naive(1.0, at, bv, beta, MatMut::strided(&mut c2[..c_len], m, n, ldc, 1));
                    for (i, (x, y)) in c1.iter().zip(&c2).enumerate() {
                        if i >= c_len || i % ldc >= n {
                            assert_eq!(x.to_bits(), GUARD.to_bits(), "{tag}: wrote outside C at {i}");
                        } else {
                            let tol = 4e-7 * (k as f32 + 2.0) * (k as f32).sqrt().max(1.0);
                            assert!((x - y).abs() < tol, "{tag} at {i}: {x} vs {y}");
                        }
                    }
                }
            }
        }
    }
}
