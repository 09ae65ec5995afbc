//! Tests of [`crate::ops`]'s GEMM dispatch and reductions, in their own file to keep
//! `ops/mod.rs` short.

use super::*;

fn pseudo(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn gemm_agrees_with_naive_on_odd_shapes_and_transposes() {
    for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (13, 1, 9), (17, 31, 2), (64, 24, 96), (5, 0, 3)] {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = pseudo(m * k, 1);
                let b = pseudo(k * n, 2);
                let av = if ta { MatRef::new(&a, k, m).t() } else { MatRef::new(&a, m, k) };
                let bv = if tb { MatRef::new(&b, n, k).t() } else { MatRef::new(&b, k, n) };
                let mut c1 = pseudo(m * n, 3);
                let mut c2 = c1.clone();
                gemm(0.5, av, bv, 2.0, MatMut::new(&mut c1, m, n));
                gemm_naive(0.5, av, bv, 2.0, MatMut::new(&mut c2, m, n));
                for (x, y) in c1.iter().zip(&c2) {
                    assert!((x - y).abs() < 1e-12, "({m},{k},{n}) ta={ta} tb={tb}: {x} vs {y}");
                }
            }
        }
    }
}

#[test]
fn colsum_matches_a_plain_sum_in_row_order() {
    for n in [1, 7, 8, 24, 65, 96, 130] {
        let src = pseudo(n * 37, 4);
        let mut got = pseudo(n, 5);
        let mut want = got.clone();
        add_colsum(&mut got, &src);
        for row in src.chunks_exact(n) {
            for (d, s) in want.iter_mut().zip(row) {
                *d += s;
            }
        }
        assert_eq!(got, want, "n={n}");
    }
}

/// Every width 1..=140 (all block counts and partial blocks) and 0..=9 rows, src at the
/// end of its allocation, bit-exact against the row-order sum.
#[test]
fn colsum_property_all_widths_and_rows() {
    for n in 1..=140 {
        for rows in 0..=9 {
            let mut src = Vec::with_capacity(n * rows);
            src.extend(pseudo(n * rows, (n * 10 + rows) as u64).iter().map(|&x| x as f32));
            let mut got: Vec<f32> = pseudo(n, 5).iter().map(|&x| x as f32).collect();
            let mut want = got.clone();
            add_colsum(&mut got, &src);
            for row in src.chunks_exact(n) {
                for (d, s) in want.iter_mut().zip(row) {
                    *d += s;
                }
            }
            assert_eq!(got, want, "n={n} rows={rows}");
            set_colsum(&mut got, &src);
            let mut zero = vec![0.0f32; n];
            add_colsum(&mut zero, &src);
            assert_eq!(got, zero, "set n={n} rows={rows}");
        }
    }
}

#[test]
fn gemm_beta_zero_ignores_nan_in_output() {
    let a = [1.0f32, 2.0];
    let b = [3.0f32, 4.0];
    let mut c = [f32::NAN];
    gemm(1.0, MatRef::new(&a, 1, 2), MatRef::new(&b, 2, 1), 0.0, MatMut::new(&mut c, 1, 1));
    assert_eq!(c, [11.0]);
}

#[test]
#[should_panic(expected = "inner dimensions")]
fn gemm_rejects_mismatched_shapes() {
    let a = [0.0f32; 6];
    let mut c = [0.0f32; 4];
    gemm(1.0, MatRef::new(&a, 2, 3), MatRef::new(&a, 2, 3), 0.0, MatMut::new(&mut c, 2, 2));
}
