//! Which of recur's own f32 kernels computes a product, and the splits of one product over
//! two threads: [`f32_kernels`] picks [`small_gemm`] (row-major B, or a row vector times
//! contiguous columns), [`gemm_tn`] (A transposed: the weight gradients) or neither (the
//! `gemm` crate then runs it), and splits a big product called outside the thread pool.

use super::{MatMut, MatRef, gemm_tn, small_gemm, vf32};
use crate::float::Float;

/// Largest `k * n` (B's size) sent to [`small_gemm`]: B (64 KiB) stays in L2 while every
/// block of A's rows streams it.
pub(super) const SMALL_KN: usize = 1 << 14;

/// Raw f32 views of a product, sendable to another thread (each part writes its own columns,
/// or its own partial row).
#[derive(Clone, Copy)]
struct Part {
    a: *const f32,
    b: *const f32,
    c: *mut f32,
}
// SAFETY: the parts of one product write disjoint outputs (columns of C, or C and this
// thread's scratch row) and only read A and B.
unsafe impl Send for Part {}
unsafe impl Sync for Part {}

thread_local! {
    /// The second thread's partial row of a product split by rows of B (see `f32_kernels`).
    static SPLIT_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Products worth splitting over two threads (aesop's `[1, 512] x [512, 2048]` step GEMV):
/// memory-bound on a matrix that does not fit one core's cache.
const SPLIT_MIN: usize = 1 << 18;

/// `C = A B (+ C)` in f32 by [`small_gemm`]'s kernels when the layout fits one of them; false
/// if not (the caller then uses the `gemm` crate). T must be f32. `w`: the vector width to
/// run (narrowed to what the CPU has).
pub(crate) fn f32_kernels<T: Float>(
    w: vf32::Width,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: &mut MatMut<T>,
) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    // A single column's (row's) stride is never used, so it counts as unit stride.
    let unit = |cols: usize, cs: usize| cs == 1 || cols == 1;
    // Row-major with B small (a recurrent step at any batch size), or one row of A (aesop's
    // backward `[1, 2048] x [2048, 512]`, split by rows of B over two threads below). A large B
    // with several rows is left to the crate, whose blocking streams it better.
    let rowmajor = unit(k, a.cs) && unit(n, b.cs) && unit(n, c.cs) && (k * n <= SMALL_KN || m == 1);
    // One row times column-contiguous B: `x W^T` at batch size 1.
    let dots = m == 1 && unit(k, a.cs) && (b.rs == 1 || k == 1);
    if !rowmajor && !dots {
        // A transposed from a row-major [k, m] and B row-major: a weight gradient over many
        // rows. Both m and n large (MNIST's dW_hh, [512, 1792] x [1792, 128]) run faster in
        // the crate, whose packing keeps both operands contiguous (146 vs 120 GFLOP/s), and
        // so does a sum of a few outer products (aesop's K = 2), which is all writing C.
        let big = m >= 128 && n >= 128;
        let tn = unit(m, a.rs) && unit(n, b.cs) && unit(n, c.cs) && k > 16 && !big;
        return tn && tn_product(w, a, b, beta == T::ONE, c);
    }
    let acc = beta == T::ONE;
    let (lda, ldb, ldc) = (a.rs, b.rs, c.rs);
    let (bcs, ccs) = (b.cs, c.cs);
    // Columns j0..j1 of the product (row-major: B and C advance by their column strides).
    let run = move |p: Part, j0: usize, j1: usize| -> bool {
        // SAFETY: the constructors checked the extents; T is f32; `c` is a unique borrow and
        // the parts of a split write disjoint columns.
        unsafe {
            let (b0, c0) = (p.b.add(j0 * bcs), p.c.add(j0 * ccs));
            if rowmajor {
                let (ar, br) = (small_gemm::Raw { ptr: p.a, ld: lda }, small_gemm::Raw { ptr: b0, ld: ldb });
                small_gemm::gemm_rowmajor(w, m, k, j1 - j0, ar, br, c0, ldc, acc, std::ptr::null())
            } else {
                small_gemm::gemm_dots_cols(w, k, j1 - j0, p.a, b0, bcs, c0, ccs, acc)
            }
        }
    };
    let part = Part { a: a.data.as_ptr().cast(), b: b.data.as_ptr().cast(), c: c.data.as_mut_ptr().cast() };
    let big = m * k * n >= SPLIT_MIN;
    let split = big && rayon::current_thread_index().is_none() && rayon::current_num_threads() > 1;
    if big && rowmajor && m == 1 && k >= 64 {
        // A row times a big row-major B (aesop's backward `[1, 2048] x [2048, 512]`): split
        // the rows of B, so each thread streams one contiguous half of it, and add the two
        // partial rows (split by columns, each thread read 1 KiB of every 2 KiB row). Each
        // sum is `(first half) + (second half)` whether or not the halves run in parallel
        // (inside the pool, or with one thread, they run in turn), so the bits never depend
        // on where the product is called from.
        let kmid = k / 2;
        return SPLIT_SCRATCH.with_borrow_mut(|s| {
            s.clear();
            s.resize(n, 0.0);
            // The second half's A, B, and output (this thread's scratch).
            let rest =
                Part { a: part.a.wrapping_add(kmid), b: part.b.wrapping_add(kmid * ldb), c: s.as_mut_ptr() };
            let half = |p: Part, k: usize, out_ld: usize, acc: bool| {
                let (ar, br) = (small_gemm::Raw { ptr: p.a, ld: lda }, small_gemm::Raw { ptr: p.b, ld: ldb });
                // SAFETY: rows 0..kmid (or kmid..k) of A and B, which the constructors checked;
                // C (or the scratch of n floats) written by this part alone.
                unsafe { small_gemm::gemm_rowmajor(w, 1, k, n, ar, br, p.c, out_ld, acc, std::ptr::null()) }
            };
            let (ok0, ok1) = if split {
                rayon::join(move || half(part, kmid, ldc, acc), move || half(rest, k - kmid, n, false))
            } else {
                (half(part, kmid, ldc, acc), half(rest, k - kmid, n, false))
            };
            if ok0 && ok1 {
                for (j, &v) in s.iter().enumerate() {
                    // SAFETY: C's n columns, `ccs` apart (unit here); both parts are done.
                    unsafe { *part.c.add(j * ccs) += v };
                }
            }
            ok0 && ok1
        });
    }
    // Split by columns over two threads when called outside the pool (a single batch chunk)
    // and the product is big: each element is computed identically either way.
    if split && n >= 32 {
        let mid = (n / 2).next_multiple_of(16).min(n);
        let (x, y) = rayon::join(move || run(part, 0, mid), move || run(part, mid, n));
        return x && y;
    }
    run(part, 0, n)
}

/// `C = A B (+ C)` with A the transpose of a row-major `[k, m]` and B row-major, by
/// [`gemm_tn`]; false without the vector features. When C's rows fill the kernel's column
/// panels better than its columns (bitcount's `dW_hh` is `[96, 24]` over K = 9500), it computes `C^T = B^T A`
/// into a per-thread buffer and transposes.
fn tn_product<T: Float>(w: vf32::Width, a: MatRef<T>, b: MatRef<T>, acc: bool, c: &mut MatMut<T>) -> bool {
    let w = w.min(vf32::width());
    if w == vf32::Width::None {
        return false;
    }
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let (lda, ldb, ldc) = (a.cs, b.rs, c.rs);
    let panel = if w == vf32::Width::Avx512 { 32 } else { 16 };
    let fill = |x: usize| x as f64 / x.next_multiple_of(panel) as f64;
    let part = Part { a: a.data.as_ptr().cast(), b: b.data.as_ptr().cast(), c: c.data.as_mut_ptr().cast() };
    // Over a short K (addition's 144 rows) the two transposes cost what the lanes save.
    if fill(m) > fill(n) + 0.1 && k >= 256 {
        thread_local!(static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) });
        return SCRATCH.with_borrow_mut(|ct| {
            ct.clear();
            ct.resize(n * m, 0.0);
            // SAFETY: T is f32 (checked by the caller); the views' constructors checked the
            // extents; `ct` is this thread's own `[n, m]` buffer; `c` is a unique borrow.
            unsafe {
                let cp = part.c;
                if acc {
                    for i in 0..m {
                        for j in 0..n {
                            ct[j * m + i] = *cp.add(i * ldc + j);
                        }
                    }
                }
                gemm_tn::gemm_tn(w, n, k, m, part.b, ldb, part.a, lda, ct.as_mut_ptr(), m, acc);
                for i in 0..m {
                    for j in 0..n {
                        *cp.add(i * ldc + j) = ct[j * m + i];
                    }
                }
            }
            true
        });
    }
    // SAFETY: as above.
    unsafe { gemm_tn::gemm_tn(w, m, k, n, part.a, lda, part.b, ldb, part.c, ldc, acc) }
}
