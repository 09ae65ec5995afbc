//! Shared by the kernel tests: a seeded generator (no crates), the guard value written around
//! outputs, and the f32 error bound of a sequential FMA sum.

/// Marks the memory around and between the used elements of an output.
pub(crate) const GUARD: f32 = 12345.0;

/// A seeded linear congruential generator of sizes and values.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [-1, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next() as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) as f32
    }

    pub(crate) fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.unit()).collect()
    }

    /// A size: three times in four one of `edges` (the edges of the vector widths and
    /// register blocks under test), else uniform in `1..=max`.
    pub(crate) fn size(&mut self, edges: &[usize], max: usize) -> usize {
        if self.below(4) == 0 { 1 + self.below(max) } else { edges[self.below(edges.len())] }
    }
}

/// Asserts `got` is within the f32 error bound of a sequential FMA sum: `(terms + 1) eps`
/// times the sum of the magnitudes.
pub(crate) fn near(what: &str, got: f32, want: f64, mag: f64, terms: usize) {
    let tol = 2.0 * (terms as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30;
    assert!((got as f64 - want).abs() <= tol, "{what}: {got} vs {want} (tol {tol})");
}

/// Checks `c` (`[m, n]`, row stride `ldc`, then a tail) against the f64 product
/// `sum_q a(i, q) b(q, j)`, plus `old[i * n + j]` when given, within [`near`]'s bound; and that
/// the gap after each row and the tail still hold [`GUARD`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_product(
    tag: &str,
    c: &[f32],
    ldc: usize,
    (m, k, n): (usize, usize, usize),
    old: Option<&[f32]>,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
) {
    for i in 0..m {
        for j in 0..n {
            let start = old.map_or(0.0, |o| o[i * n + j] as f64);
            let (mut want, mut mag) = (start, start.abs());
            for q in 0..k {
                let t = a(i, q) as f64 * b(q, j) as f64;
                want += t;
                mag += t.abs();
            }
            near(&format!("{tag} at ({i},{j})"), c[i * ldc + j], want, mag, k);
        }
        assert!(
            c[i * ldc + n..(i + 1) * ldc].iter().all(|&g| g == GUARD),
            "{tag}: gap after row {i} written"
        );
    }
    assert!(c[m * ldc..].iter().all(|&g| g == GUARD), "{tag}: tail written");
}
