//! Reading a head's logits: probabilities, the most likely class, the k most likely.

use crate::model::LossKind;

/// Probabilities from logits, computed in f64 after subtracting the largest logit.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

/// What a head's logits mean under its loss: softmax for `ce`, elementwise sigmoid for
/// `bce`, the values themselves for `mse`.
pub fn probabilities(loss: LossKind, logits: &[f32]) -> Vec<f32> {
    match loss {
        LossKind::CrossEntropy => softmax(logits).into_iter().map(|p| p as f32).collect(),
        LossKind::Bce => logits.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        LossKind::Mse => logits.to_vec(),
    }
}

/// The index of the largest value, the first on ties (0 for an empty slice).
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// The `k` largest entries (at least one) as (index, value), largest first, ties by index.
pub fn top_k(p: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<(usize, f32)> = p.iter().copied().enumerate().collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    idx.truncate(k.max(1));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_argmax_takes_the_first_of_ties() {
        let p = softmax(&[1.0, 3.0, 3.0, -1000.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(argmax(&p), 1);
        assert_eq!(argmax(&[2.0f32, 1.0, 2.0]), 0);
        assert_eq!(top_k(&[0.1, 0.7, 0.2], 2), vec![(1, 0.7), (2, 0.2)]);
        assert_eq!(probabilities(LossKind::Bce, &[0.0]), vec![0.5]);
    }
}
