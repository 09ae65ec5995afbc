//! How generation picks each next symbol from the head's logits: greedy, or a draw from the
//! softmax at a temperature over the top-k / top-p most likely symbols. Shared by the
//! window model and the language model.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// How `generate` picks each next symbol.
#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    /// 0 = greedy (the most likely symbol); otherwise softmax(logits / temperature).
    pub temperature: f64,
    /// Sample only among the k most likely symbols (0 = all).
    pub top_k: usize,
    /// Sample only among the most likely symbols whose probabilities reach p (1 = all).
    pub top_p: f64,
    /// Seed of the draws.
    pub seed: u64,
}

/// The next symbol: the most likely (temperature 0), or one drawn from
/// softmax(logits / temperature) over the `top_k` most likely whose probabilities reach
/// `top_p`.
pub fn pick(logits: &[f32], how: Sampling, rng: &mut ChaCha8Rng) -> u32 {
    if how.temperature <= 0.0 {
        return crate::model::probs::argmax(logits) as u32;
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if how.top_k > 0 {
        idx.truncate(how.top_k);
    }
    let max = logits[idx[0]] as f64;
    let mut p: Vec<f64> = idx.iter().map(|&i| ((logits[i] as f64 - max) / how.temperature).exp()).collect();
    if how.top_p < 1.0 {
        let (total, mut sum) = (p.iter().sum::<f64>(), 0.0);
        let keep = p.iter().position(|&pk| {
            sum += pk;
            sum >= how.top_p * total
        });
        p.truncate(keep.map_or(p.len(), |k| k + 1));
    }
    let mut u = rng.random_range(0.0..p.iter().sum::<f64>());
    for (k, &pk) in p.iter().enumerate() {
        if u < pk {
            return idx[k] as u32;
        }
        u -= pk;
    }
    idx[p.len() - 1] as u32
}
