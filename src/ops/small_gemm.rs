//! `C = A B (+ C)` for the small row-major f32 products of a recurrent step, in explicit
//! AVX-512 / AVX2+FMA vectors ([`crate::ops::vf32`]).
//!
//! Why: the `gemm` crate packs both operands and sets up its blocking on every call, which
//! costs ~10-20k instructions; a recurrent step makes one such call per time step with
//! matrices of a few kilobytes (addition: `[16, 20] x [20, 80]`, 24 calls a step), where that
//! overhead is most of the time. Here `B` is read in place (row `p` of B is contiguous and
//! small enough to stay in L1), C is held in registers as a block of up to 8 rows by 4
//! vectors, and every step over the inner dimension is one broadcast of `A[i, p]` per row and
//! one FMA per accumulator. [`crate::ops::gemm`] dispatches here for f32 when all three
//! matrices have unit column stride; the crate's kernel handles everything else.
//!
//! The sum over p runs in order, one FMA per term, so a result can differ from the `gemm`
//! crate's in the last bits; tests compare with the naive reference.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

use crate::ops::vf32::{V, Width, width};

/// A row-major matrix: element (i, j) at `p + i * ld + j`.
#[derive(Clone, Copy)]
pub struct Raw {
    pub ptr: *const f32,
    pub ld: usize,
}

/// `C[m, n] = A[m, k] B[k, n]`, plus the old C when `accumulate`, else plus the row vector
/// `row[..n]` (broadcast over the rows) when it is not null. Returns false (doing nothing) if
/// the CPU lacks the vector features.
///
/// # Safety
/// `a`, `b` and `c` must address valid `[m, k]`, `[k, n]` and `[m, n]` row-major matrices
/// with their leading dimensions, and `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_rowmajor(
    m: usize,
    k: usize,
    n: usize,
    a: Raw,
    b: Raw,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    row: *const f32,
) -> bool {
    let p = Problem { m, k, n, a, b, c, ldc, accumulate, row };
    // SAFETY: forwarded contract; features detected.
    match width() {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { run_avx512(&p) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { run_avx2(&p) },
        _ => return false,
    }
    true
}

/// `c[j * cs] = dot(x[..k], b[j * ldb..][..k])` for j in 0..n (plus the old value when
/// `accumulate`): a row vector times a matrix whose columns are contiguous, i.e. `x W^T` for a
/// row-major W (a recurrent step's `h W_hh^T` at batch size 1). Returns false without the
/// vector features.
///
/// # Safety
/// `x` must hold k floats, `b` n columns of k floats `ldb` apart, `c` n floats `cs` apart, not
/// overlapping the inputs.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_dots_cols(
    k: usize,
    n: usize,
    x: *const f32,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    cs: usize,
    accumulate: bool,
) -> bool {
    let p = Dots { k, n, x, b, ldb, c, cs, accumulate };
    // SAFETY: forwarded contract; features detected.
    match width() {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { dots_avx512(&p) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { dots_avx2(&p) },
        _ => return false,
    }
    true
}

struct Dots {
    k: usize,
    n: usize,
    x: *const f32,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    cs: usize,
    accumulate: bool,
}

/// Four columns at a time (four independent accumulator chains), then the rest one by one.
#[inline(always)]
unsafe fn dots<W: V>(p: &Dots) {
    unsafe {
        let col = |j: usize| p.b.add(j * p.ldb);
        let finish = |j: usize, acc: W| {
            let mut s = acc.hsum();
            if p.accumulate {
                s += *p.c.add(j * p.cs);
            }
            *p.c.add(j * p.cs) = s;
        };
        let mut j = 0;
        while j + 4 <= p.n {
            let mut acc = [W::splat(0.0); 4];
            let mut q = 0;
            while q < p.k {
                let len = (p.k - q).min(W::N);
                let xv = W::load(p.x.add(q), len);
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = W::load(col(j + r).add(q), len).fma(xv, *a);
                }
                q += W::N;
            }
            for (r, a) in acc.into_iter().enumerate() {
                finish(j + r, a);
            }
            j += 4;
        }
        while j < p.n {
            let mut acc = W::splat(0.0);
            let mut q = 0;
            while q < p.k {
                let len = (p.k - q).min(W::N);
                acc = W::load(col(j).add(q), len).fma(W::load(p.x.add(q), len), acc);
                q += W::N;
            }
            finish(j, acc);
            j += 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dots_avx512(p: &Dots) {
    unsafe { dots::<__m512>(p) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_avx2(p: &Dots) {
    unsafe { dots::<__m256>(p) }
}

struct Problem {
    m: usize,
    k: usize,
    n: usize,
    a: Raw,
    b: Raw,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    row: *const f32,
}

/// One block: rows `i0..i0+MR`, columns `j0..j0 + (NV-1)*N + last` (`last` lanes in the final
/// vector; `FULL`: last == N, so every load is a plain one).
#[inline(always)]
unsafe fn block<W: V, const MR: usize, const NV: usize, const FULL: bool>(
    p: &Problem,
    i0: usize,
    j0: usize,
    last: usize,
) {
    unsafe {
        let lanes = |v: usize| if FULL || v + 1 < NV { W::N } else { last };
        let mut acc = [[W::splat(0.0); NV]; MR];
        if p.accumulate {
            for (r, row) in acc.iter_mut().enumerate() {
                for (v, x) in row.iter_mut().enumerate() {
                    *x = W::load(p.c.add((i0 + r) * p.ldc + j0 + v * W::N), lanes(v));
                }
            }
        } else if !p.row.is_null() {
            for row in acc.iter_mut() {
                for (v, x) in row.iter_mut().enumerate() {
                    *x = W::load(p.row.add(j0 + v * W::N), lanes(v));
                }
            }
        }
        let a0 = p.a.ptr.add(i0 * p.a.ld);
        let mut brow = p.b.ptr.add(j0);
        for q in 0..p.k {
            let mut bv = [W::splat(0.0); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = W::load(brow.add(v * W::N), lanes(v));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = W::splat(*a0.add(r * p.a.ld + q));
                for (v, x) in row.iter_mut().enumerate() {
                    *x = av.fma(bv[v], *x);
                }
            }
            brow = brow.add(p.b.ld);
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                x.store(p.c.add((i0 + r) * p.ldc + j0 + v * W::N), lanes(v));
            }
        }
    }
}

/// Rows in blocks of `MR` (the remainder one by one size), for a panel of `NV` vectors.
#[inline(always)]
unsafe fn panel<W: V, const NV: usize, const MR: usize>(p: &Problem, j0: usize, last: usize) {
    unsafe {
        let mut i = 0;
        if last == W::N {
            while i + MR <= p.m {
                block::<W, MR, NV, true>(p, i, j0, last);
                i += MR;
            }
            while i < p.m {
                block::<W, 1, NV, true>(p, i, j0, last);
                i += 1;
            }
        } else {
            while i + MR <= p.m {
                block::<W, MR, NV, false>(p, i, j0, last);
                i += MR;
            }
            while i < p.m {
                block::<W, 1, NV, false>(p, i, j0, last);
                i += 1;
            }
        }
    }
}

/// Columns in panels of up to 4 vectors; 8 rows per block for narrow panels, 4 for wide.
#[inline(always)]
unsafe fn run<W: V>(p: &Problem) {
    unsafe {
        let mut j = 0;
        while j < p.n {
            let rest = p.n - j;
            let nv = rest.div_ceil(W::N).min(4);
            let width = (nv * W::N).min(rest);
            let last = width - (nv - 1) * W::N;
            match nv {
                1 => panel::<W, 1, 8>(p, j, last),
                2 => panel::<W, 2, 6>(p, j, last),
                3 => panel::<W, 3, 4>(p, j, last),
                _ => panel::<W, 4, 4>(p, j, last),
            }
            j += width;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(p: &Problem) {
    // H = 24 too: a 16-lane and a half-masked 16-lane vector beat three 8-lane ones.
    unsafe { run::<__m512>(p) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(p: &Problem) {
    unsafe { run::<__m256>(p) }
}

#[cfg(test)]
mod tests {
    use crate::ops::{MatMut, MatRef, gemm, gemm_naive};

    fn pseudo(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) as f32
            })
            .collect()
    }

    /// `x W^T` with W row-major (the batch-size-1 step), through [`gemm`]'s dispatch.
    #[test]
    fn dot_kernel_matches_naive() {
        for &(k, n) in &[(1, 1), (7, 3), (16, 4), (33, 9), (512, 70), (300, 600), (512, 601)] {
            for beta in [0.0f32, 1.0] {
                let x = pseudo(k, 1);
                let w = pseudo(n * (k + 1), 2);
                let mut c1 = pseudo(n, 3);
                let mut c2 = c1.clone();
                let xv = MatRef::new(&x, 1, k);
                let wt = MatRef::strided(&w, n, k, k + 1, 1).t();
                gemm(1.0, xv, wt, beta, MatMut::new(&mut c1, 1, n));
                gemm_naive(1.0, xv, wt, beta, MatMut::new(&mut c2, 1, n));
                for (i, (a, b)) in c1.iter().zip(&c2).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-5 * (k as f32).sqrt(),
                        "({k},{n}) beta={beta} at {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// Through [`gemm`]'s dispatch, on shapes that hit every panel width, row remainder and
    /// partial last vector, with and without accumulation, and row strides wider than the rows.
    #[test]
    fn small_kernel_matches_naive() {
        let shapes =
            [(1, 1, 1), (3, 5, 7), (13, 1, 9), (17, 31, 2), (16, 20, 80), (9, 24, 96), (500, 96, 24)];
        let more = [(7, 3, 33), (5, 2, 130), (1, 512, 70), (11, 8, 16), (1, 300, 200), (2, 200, 130)];
        for &(m, k, n) in shapes.iter().chain(&more) {
            for beta in [0.0f32, 1.0] {
                let (lda, ldb, ldc) = (k + 3, n + 1, n + 2);
                let a = pseudo(m * lda, 1);
                let b = pseudo(k * ldb, 2);
                let mut c1 = pseudo(m * ldc, 3);
                let mut c2 = c1.clone();
                let av = MatRef::strided(&a, m, k, lda, 1);
                let bv = MatRef::strided(&b, k, n, ldb, 1);
                gemm(1.0, av, bv, beta, MatMut::strided(&mut c1, m, n, ldc, 1));
                gemm_naive(1.0, av, bv, beta, MatMut::strided(&mut c2, m, n, ldc, 1));
                for (i, (x, y)) in c1.iter().zip(&c2).enumerate() {
                    let tol = 1e-5 * (k as f32).sqrt().max(1.0);
                    assert!((x - y).abs() < tol, "({m},{k},{n}) beta={beta} at {i}: {x} vs {y}");
                }
            }
        }
    }
}
