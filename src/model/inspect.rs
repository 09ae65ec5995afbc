//! What a model holds: per-tensor statistics, for `recur inspect` (the tutorial readers'
//! "how can I find the variables' values after training").

use serde::Serialize;

use crate::float::Float;
use crate::model::Model;

/// Summary of one named tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorSummary {
    /// PyTorch `state_dict` name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// The mean of its finite values.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// The smallest finite value.
    pub min: f64,
    /// The largest finite value.
    pub max: f64,
    /// Elements that are NaN or infinite (a diverged model has some).
    pub non_finite: usize,
}

/// Statistics of `values` (the finite ones; `non_finite` counts the rest).
pub fn summarize_values<T: Float>(name: &str, shape: &[usize], values: &[T]) -> TensorSummary {
    let (mut n, mut sum, mut sq) = (0usize, 0.0f64, 0.0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.iter().map(|v| v.to_f64()).filter(|v| v.is_finite()) {
        n += 1;
        sum += v;
        sq += v * v;
        min = min.min(v);
        max = max.max(v);
    }
    let mean = if n > 0 { sum / n as f64 } else { f64::NAN };
    let std = if n > 0 { (sq / n as f64 - mean * mean).max(0.0).sqrt() } else { f64::NAN };
    if n == 0 {
        (min, max) = (f64::NAN, f64::NAN);
    }
    TensorSummary {
        name: name.into(),
        shape: shape.to_vec(),
        mean,
        std,
        min,
        max,
        non_finite: values.len() - n,
    }
}

/// One summary per tensor, in the parameter table's order.
pub fn summarize<T: Float>(m: &Model<T>) -> Vec<TensorSummary> {
    m.specs.iter().map(|s| summarize_values(&s.name, &s.shape, &m.params[s.range()])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_small_tensor() {
        let s = summarize_values("w", &[2, 2], &[1.0f32, -1.0, 3.0, f32::NAN]);
        assert_eq!((s.mean, s.min, s.max, s.non_finite), (1.0, -1.0, 3.0, 1));
        assert!((s.std - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let e = summarize_values::<f64>("e", &[0], &[]);
        assert!(e.mean.is_nan() && e.min.is_nan() && e.non_finite == 0);
    }
}
