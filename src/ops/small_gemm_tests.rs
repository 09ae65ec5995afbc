//! Tests of [`super`], the small-GEMM kernels, in their own file to keep theirs short.

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
                assert!((a - b).abs() < 1e-5 * (k as f32).sqrt(), "({k},{n}) beta={beta} at {i}: {a} vs {b}");
            }
        }
    }
}

/// Through [`gemm`]'s dispatch, on shapes that hit every panel width, row remainder and
/// partial last vector, with and without accumulation, and row strides wider than the rows.
#[test]
fn small_kernel_matches_naive() {
    let shapes = [(1, 1, 1), (3, 5, 7), (13, 1, 9), (17, 31, 2), (16, 20, 80), (9, 24, 96), (500, 96, 24)];
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

use super::{Raw, gemm_dots_cols, gemm_rowmajor};
use crate::ops::vf32::{Width, test_widths};

use crate::ops::test_util::{GUARD, Rng, near};

/// Sizes mostly from the edges of the vector widths.
const EDGES: [usize; 18] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 65, 100];

/// Row-major `[rows, cols]` with row stride `ld`, exactly as long as its extent (so a read
/// past the last element leaves the allocation).
fn exact(rng: &mut Rng, rows: usize, cols: usize, ld: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity((rows - 1) * ld + cols);
    v.extend(rng.vec((rows - 1) * ld + cols));
    v
}

/// The row-major kernel at every width against an f64 triple loop, on random shapes (row
/// strides wider than the rows, operands at the very end of their allocations), with
/// accumulation, a bias row, or neither over NaN in C; every element of C's buffer outside
/// the product (row gaps and a tail) must keep its guard value.
#[test]
fn rowmajor_kernel_property_all_widths() {
    for w in test_widths() {
        let mut rng = Rng(7);
        for case in 0..600 {
            let (m, k, n) = (rng.size(&EDGES, 130), rng.size(&EDGES, 130), rng.size(&EDGES, 130));
            let pad = |rng: &mut Rng| if rng.below(2) == 0 { 0 } else { 1 + rng.below(20) };
            let (lda, ldb, ldc) = (k + pad(&mut rng), n + pad(&mut rng), n + pad(&mut rng));
            let mode = case % 3; // 0: C = AB over NaN, 1: C += AB, 2: C = AB + row
            let a = exact(&mut rng, m, k, lda);
            let b = exact(&mut rng, k, n, ldb);
            let row = rng.vec(n);
            let c_len = (m - 1) * ldc + n;
            let mut c = vec![GUARD; c_len + 17];
            let c0 = rng.vec(m * n);
            for i in 0..m {
                for j in 0..n {
                    c[i * ldc + j] = if mode == 0 { f32::NAN } else { c0[i * n + j] };
                }
            }
            // SAFETY: the buffers hold the extents of their strided matrices.
            let ran = unsafe {
                gemm_rowmajor(
                    w,
                    m,
                    k,
                    n,
                    Raw { ptr: a.as_ptr(), ld: lda },
                    Raw { ptr: b.as_ptr(), ld: ldb },
                    c.as_mut_ptr(),
                    ldc,
                    mode == 1,
                    if mode == 2 { row.as_ptr() } else { std::ptr::null() },
                )
            };
            assert!(ran);
            let tag = format!("{w:?} ({m},{k},{n}) ld ({lda},{ldb},{ldc}) mode {mode}");
            for i in 0..m {
                for j in 0..n {
                    let init = match mode {
                        0 => 0.0,
                        1 => c0[i * n + j] as f64,
                        _ => row[j] as f64,
                    };
                    let (mut s, mut mag) = (init, init.abs());
                    for q in 0..k {
                        let t = a[i * lda + q] as f64 * b[q * ldb + j] as f64;
                        s += t;
                        mag += t.abs();
                    }
                    near(&format!("{tag} C[{i},{j}]"), c[i * ldc + j], s, mag, k);
                }
            }
            for (idx, &x) in c.iter().enumerate() {
                if idx >= c_len || idx % ldc >= n {
                    assert_eq!(x, GUARD, "{tag}: wrote outside C at {idx}");
                }
            }
        }
    }
}

/// The dots kernel (`x W^T`) at every width: random k and n, column stride >= k, output
/// stride >= 1, inputs at the end of their allocations, guards around the output.
#[test]
fn dots_kernel_property_all_widths() {
    for w in test_widths() {
        let mut rng = Rng(11);
        for case in 0..600 {
            let (k, n) = (rng.size(&EDGES, 130) * (1 + rng.below(3)), rng.size(&EDGES, 130));
            let ldb = k + if rng.below(2) == 0 { 0 } else { 1 + rng.below(9) };
            let cs = 1 + rng.below(3);
            let acc = case % 2 == 1;
            let x = exact(&mut rng, 1, k, k);
            let b = exact(&mut rng, n, k, ldb);
            let c_len = (n - 1) * cs + 1;
            let mut c = vec![GUARD; c_len + 17];
            let c0 = rng.vec(n);
            for j in 0..n {
                c[j * cs] = if acc { c0[j] } else { f32::NAN };
            }
            // SAFETY: x holds k floats, b n columns of k floats ldb apart, c n floats cs apart.
            let ran =
                unsafe { gemm_dots_cols(w, k, n, x.as_ptr(), b.as_ptr(), ldb, c.as_mut_ptr(), cs, acc) };
            assert!(ran);
            let tag = format!("{w:?} k={k} n={n} ldb={ldb} cs={cs} acc={acc}");
            for j in 0..n {
                let init = if acc { c0[j] as f64 } else { 0.0 };
                let (mut s, mut mag) = (init, init.abs());
                for q in 0..k {
                    let t = x[q] as f64 * b[j * ldb + q] as f64;
                    s += t;
                    mag += t.abs();
                }
                near(&format!("{tag} c[{j}]"), c[j * cs], s, mag, k);
            }
            for (idx, &v) in c.iter().enumerate() {
                if idx >= c_len || idx % cs != 0 {
                    assert_eq!(v, GUARD, "{tag}: wrote outside c at {idx}");
                }
            }
        }
    }
}

/// [`gemm`]'s f32 dispatch (`f32_kernels`) at every width, including the two-thread column
/// split (n not a multiple of 16) for both kernels, views into the ends of larger buffers,
/// m = 1 with `b.rs == 1`, and NaN in C with beta = 0; compared with [`gemm_naive`].
#[test]
fn dispatch_matches_naive_all_widths_and_splits() {
    use crate::ops::f32_kernels;
    // (m, k, n, transposed B): the last four are over the split threshold (m k n >= 2^18).
    let shapes = [
        (1, 1, 1, true),
        (1, 17, 9, true),
        (1, 33, 65, true),
        (1, 1, 40, true),
        (3, 1, 33, false),
        (9, 63, 17, false),
        (1, 64, 31, false),
        (64, 128, 100, false),
        (33, 80, 97, false),
        (1, 600, 457, true),
        (1, 513, 1001, true),
        // One row times a row-major B, split by rows of B (an odd k too).
        (1, 600, 457, false),
        (1, 513, 1001, false),
    ];
    for w in test_widths().into_iter().chain([Width::None]) {
        for &(m, k, n, bt) in &shapes {
            for beta in [0.0f32, 1.0] {
                let mut rng = Rng((m * 1000 + k * 10 + n) as u64);
                let (lda, ldc) = (k + 3, n + 5);
                let a = exact(&mut rng, m, k, lda);
                let bbuf = if bt { exact(&mut rng, n, k, k + 2) } else { exact(&mut rng, k, n, n + 1) };
                let av = MatRef::strided(&a, m, k, lda, 1);
                let bv = if bt {
                    MatRef::strided(&bbuf, n, k, k + 2, 1).t()
                } else {
                    MatRef::strided(&bbuf, k, n, n + 1, 1)
                };
                let c_len = (m - 1) * ldc + n;
                let mut c1 = vec![GUARD; c_len + 9];
                let c0 = rng.vec(c_len);
                for i in 0..c_len {
                    c1[i] = if beta == 0.0 && i % ldc < n { f32::NAN } else { c0[i] };
                }
                let mut c2 = c1.clone();
                let done = f32_kernels(w, av, bv, beta, &mut MatMut::strided(&mut c1[..c_len], m, n, ldc, 1));
                let tag = format!("{w:?} ({m},{k},{n}) bt={bt} beta={beta}");
                assert_eq!(done, w != Width::None, "{tag}");
                if !done {
                    continue;
                }
                gemm_naive(1.0, av, bv, beta, MatMut::strided(&mut c2[..c_len], m, n, ldc, 1));
                for (i, (x, y)) in c1.iter().zip(&c2).enumerate() {
                    if i >= c_len || i % ldc >= n {
                        assert_eq!(x.to_bits(), y.to_bits(), "{tag}: wrote outside C at {i}");
                    } else {
                        let tol = 4e-7 * (k as f32 + 2.0) * (k as f32).sqrt().max(1.0);
                        assert!((x - y).abs() < tol, "{tag} at {i}: {x} vs {y}");
                    }
                }
            }
        }
    }
}

/// [`crate::ops::gemm_bias`] over NaN in C, with views at the ends of their buffers.
#[test]
fn gemm_bias_matches_fill_then_naive() {
    let mut rng = Rng(5);
    for _ in 0..200 {
        let (m, k, n) = (rng.size(&EDGES, 130), rng.size(&EDGES, 130), rng.size(&EDGES, 130));
        let a = exact(&mut rng, m, k, k);
        let b = exact(&mut rng, k, n, n);
        let bias = rng.vec(n);
        let mut c1 = vec![f32::NAN; m * n];
        let mut c2: Vec<f32> = (0..m).flat_map(|_| bias.iter().copied()).collect();
        let (av, bv) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n));
        crate::ops::gemm_bias(av, bv, &bias, MatMut::new(&mut c1, m, n));
        gemm_naive(1.0, av, bv, 1.0, MatMut::new(&mut c2, m, n));
        for (i, (x, y)) in c1.iter().zip(&c2).enumerate() {
            let tol = 4e-7 * (k as f32 + 2.0) * (k as f32).sqrt().max(1.0);
            assert!((x - y).abs() < tol, "({m},{k},{n}) at {i}: {x} vs {y}");
        }
    }
}

/// [`crate::ops::gemm_bias_sum`] gives bit for bit `gemm_bias` of the first product and
/// then `gemm` of the second with beta = 1, at every width, over NaN in C.
#[test]
fn gemm_bias_sum_matches_two_passes() {
    let mut rng = Rng(9);
    for _ in 0..200 {
        let (m, n) = (rng.size(&EDGES, 70), rng.size(&EDGES, 130));
        let (k, k2) = (rng.size(&[1, 2, 3], 8), rng.size(&EDGES, 40));
        let (a, b, a2, b2) = (rng.vec(m * k), rng.vec(k * n), rng.vec(m * k2), rng.vec(k2 * n));
        let bias = rng.vec(n);
        let (av, bv) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n));
        let (a2v, b2v) = (MatRef::new(&a2, m, k2), MatRef::new(&b2, k2, n));
        let mut c1 = vec![f32::NAN; m * n];
        let mut c2 = vec![f32::NAN; m * n];
        crate::ops::gemm_bias_sum(av, bv, a2v, b2v, &bias, MatMut::new(&mut c1, m, n));
        crate::ops::gemm_bias(av, bv, &bias, MatMut::new(&mut c2, m, n));
        crate::ops::gemm(1.0, a2v, b2v, 1.0, MatMut::new(&mut c2, m, n));
        for (i, (x, y)) in c1.iter().zip(&c2).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "({m},{k}+{k2},{n}) at {i}: {x} vs {y}");
        }
    }
}

/// A row times a big row-major B sums its halves of B's rows separately, in parallel or
/// not, so the bits do not depend on whether the caller is inside the thread pool.
#[test]
fn split_row_product_gives_the_same_bits_inside_and_outside_the_pool() {
    use crate::ops::gemm;
    let mut rng = Rng(31);
    let (k, n) = (700, 450);
    let (a, b) = (rng.vec(k), rng.vec(k * n));
    let run = || {
        let mut c = vec![0.5f32; n];
        gemm(1.0, MatRef::new(&a, 1, k), MatRef::new(&b, k, n), 1.0, MatMut::new(&mut c, 1, n));
        c
    };
    let outside = run();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let inside = pool.install(run);
    assert!(outside.iter().zip(&inside).all(|(x, y)| x.to_bits() == y.to_bits()));
    // And it is the product.
    let mut want = vec![0.5f32; n];
    gemm_naive(1.0, MatRef::new(&a, 1, k), MatRef::new(&b, k, n), 1.0, MatMut::new(&mut want, 1, n));
    for (x, y) in outside.iter().zip(&want) {
        assert!((x - y).abs() < 1e-3, "{x} vs {y}");
    }
}
