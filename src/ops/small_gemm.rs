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
/// the CPU lacks the vector features. Runs at vector width `w` (callers pass
/// [`width`]; tests pick one), narrowed to what the CPU supports.
///
/// # Safety
/// `a`, `b` and `c` must address valid `[m, k]`, `[k, n]` and `[m, n]` row-major matrices
/// with their leading dimensions, and `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_rowmajor(
    w: Width,
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
    let p = Problem { m, k, n, a, b, c, ldc, accumulate, row, k2: 0, a2: a, b2: b };
    // SAFETY: forwarded contract.
    unsafe { run_width(w, &p) }
}

/// [`gemm_rowmajor`] plus a second product in the same pass: `C[m, n] = row + A B + A2 B2`
/// (A2 `[m, k2]`, B2 `[k2, n]`), C never read. Each element sums `row`, then A B's terms, then
/// A2 B2's, one FMA each, as `gemm_rowmajor` with `row` and then with `accumulate` would.
///
/// # Safety
/// As [`gemm_rowmajor`], for both products; `row` must hold n floats.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_rowmajor_sum(
    w: Width,
    m: usize,
    n: usize,
    (a, b, k): (Raw, Raw, usize),
    (a2, b2, k2): (Raw, Raw, usize),
    c: *mut f32,
    ldc: usize,
    row: *const f32,
) -> bool {
    let p = Problem { m, k, n, a, b, c, ldc, accumulate: false, row, k2, a2, b2 };
    // SAFETY: forwarded contract.
    unsafe { run_width(w, &p) }
}

/// Runs `p` at width `w`, narrowed to the detected features; false when there are none.
///
/// # Safety
/// `p` describes valid matrices (see [`gemm_rowmajor`]).
unsafe fn run_width(w: Width, p: &Problem) -> bool {
    // SAFETY: forwarded contract; `w` narrowed to the detected features.
    match w.min(width()) {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { run_avx512(p) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { run_avx2(p) },
        _ => return false,
    }
    true
}

/// `c[j * cs] = dot(x[..k], b[j * ldb..][..k])` for j in 0..n (plus the old value when
/// `accumulate`): a row vector times a matrix whose columns are contiguous, i.e. `x W^T` for a
/// row-major W (a recurrent step's `h W_hh^T` at batch size 1). Returns false without the
/// vector features. Runs at vector width `w`, narrowed to what the CPU supports.
///
/// # Safety
/// `x` must hold k floats, `b` n columns of k floats `ldb` apart, `c` n floats `cs` apart, not
/// overlapping the inputs.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_dots_cols(
    w: Width,
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
    // SAFETY: forwarded contract; `w` narrowed to the detected features.
    match w.min(width()) {
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
    /// A second product `A2 [m, k2] x B2 [k2, n]` summed after the first (k2 = 0: none).
    k2: usize,
    a2: Raw,
    b2: Raw,
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
        for (a, b, k) in [(p.a, p.b, p.k), (p.a2, p.b2, p.k2)] {
            // One pointer per row of A, so that no broadcast address waits on another's.
            let a_rows: [*const f32; MR] = std::array::from_fn(|r| a.ptr.add((i0 + r) * a.ld));
            let mut brow = b.ptr.add(j0);
            for q in 0..k {
                let mut bv = [W::splat(0.0); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = W::load(brow.add(v * W::N), lanes(v));
                }
                for (row, a) in acc.iter_mut().zip(&a_rows) {
                    let av = W::splat(*a.add(q));
                    for (v, x) in row.iter_mut().enumerate() {
                        *x = av.fma(bv[v], *x);
                    }
                }
                brow = brow.add(b.ld);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                x.store(p.c.add((i0 + r) * p.ldc + j0 + v * W::N), lanes(v));
            }
        }
    }
}

/// Rows in blocks of `MR`, the remainder as one smaller block, for a panel of `NV` vectors.
#[inline(always)]
unsafe fn panel<W: V, const NV: usize, const MR: usize>(p: &Problem, j0: usize, last: usize) {
    unsafe {
        if last == W::N {
            rows::<W, NV, MR, true>(p, j0, last)
        } else {
            rows::<W, NV, MR, false>(p, j0, last)
        }
    }
}

#[inline(always)]
unsafe fn rows<W: V, const NV: usize, const MR: usize, const FULL: bool>(
    p: &Problem,
    j0: usize,
    last: usize,
) {
    unsafe {
        let mut i = 0;
        while i + MR <= p.m {
            block::<W, MR, NV, FULL>(p, i, j0, last);
            i += MR;
        }
        // MR <= 8, so at most 7 rows remain (addition's 16 rows at MR = 6: 6 + 6 + 4).
        match p.m - i {
            0 => {}
            1 => block::<W, 1, NV, FULL>(p, i, j0, last),
            2 => block::<W, 2, NV, FULL>(p, i, j0, last),
            3 => block::<W, 3, NV, FULL>(p, i, j0, last),
            4 => block::<W, 4, NV, FULL>(p, i, j0, last),
            5 => block::<W, 5, NV, FULL>(p, i, j0, last),
            6 => block::<W, 6, NV, FULL>(p, i, j0, last),
            _ => block::<W, 7, NV, FULL>(p, i, j0, last),
        }
    }
}

/// Columns in panels of up to 4 vectors; 8 rows per block for narrow panels, 4 for wide. A
/// single row (a vector times a matrix, aesop's backward `[1, 2048] x [2048, 512]`) takes
/// panels of 16 vectors, so each row of B is read in long contiguous runs.
#[inline(always)]
unsafe fn run<W: V>(p: &Problem) {
    unsafe {
        let mut j = 0;
        if p.m == 1 {
            while j + 16 * W::N <= p.n {
                block::<W, 1, 16, true>(p, 0, j, W::N);
                j += 16 * W::N;
            }
        }
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
#[path = "small_gemm_tests.rs"]
mod tests;
