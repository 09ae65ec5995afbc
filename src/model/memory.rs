//! How much memory a pass will need, checked before anything of that size is allocated, so
//! that a batch of very long sequences (a CSV row of a 10 MB string, `--bptt 10000000`) is
//! refused with the figure instead of aborting on allocation.
//!
//! The estimate counts the buffers that grow with batch x steps (each layer's gates, states
//! and their gradients, the input and the logits) and the parameters with their gradient and
//! the optimizer's two moments; it is meant to be right within a factor of two, which is
//! what a refusal needs.

use crate::error::{Error, Result};
use crate::model::{HeadKind, ModelConfig};

/// Estimated bytes of one training pass over `batch` sequences of `steps` steps.
pub fn training_bytes(cfg: &ModelConfig, batch: usize, steps: usize) -> u128 {
    let g = cfg.cell.gates() as u128;
    let d = cfg.directions() as u128;
    let layers: u128 = cfg.hidden_sizes.iter().map(|&h| d * (g + 6) * h as u128).sum();
    let head = match cfg.head {
        HeadKind::Step => 2 * cfg.output_size as u128,
        HeadKind::Last => 0,
    };
    let per_step = layers + 2 * cfg.input_size as u128 + cfg.features() as u128 + head;
    let rows = batch as u128 * steps as u128 * per_step + batch as u128 * 2 * cfg.output_size as u128;
    4 * (rows + 4 * parameters(cfg))
}

/// Parameters of `cfg`, counted without allocating them.
fn parameters(cfg: &ModelConfig) -> u128 {
    let g = cfg.cell.gates() as u128;
    let d = cfg.directions() as u128;
    let mut n = cfg.vocab_size.unwrap_or(0) as u128 * cfg.input_size as u128
        + (cfg.output_size as u128 + 1) * cfg.top_output() as u128;
    for (k, &h) in cfg.hidden_sizes.iter().enumerate() {
        n += d * g * h as u128 * (cfg.layer_input(k) as u128 + h as u128 + 2);
    }
    n
}

/// This machine's memory in bytes (`MemTotal`), or 64 GiB where it cannot be read.
pub fn machine_bytes() -> u128 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u128>().ok()
    });
    total.map_or(1 << 36, |kb| kb * 1024)
}

/// Refuses a pass over `batch` x `steps` that would need more memory than the machine has.
pub fn check_fits(cfg: &ModelConfig, batch: usize, steps: usize) -> Result<()> {
    let need = training_bytes(cfg, batch, steps);
    let have = machine_bytes();
    if need <= have {
        return Ok(());
    }
    let gb = |b: u128| b as f64 / 1e9;
    Err(Error::Input(format!(
        "{batch} sequences of {steps} steps need about {:.1} GB for this model's pass, more than this machine's {:.1} GB: use fewer or shorter sequences per batch",
        gb(need),
        gb(have)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;
    use crate::model::LossKind;

    #[test]
    fn long_batches_are_refused_with_the_memory_they_need() {
        let cfg = ModelConfig::new(CellKind::Lstm, 4, vec![32], 2, HeadKind::Last, LossKind::CrossEntropy);
        assert!(check_fits(&cfg, 32, 100).is_ok());
        let e = check_fits(&cfg, 32, 10_000_000).unwrap_err().to_string();
        assert!(e.contains("32 sequences of 10000000 steps need about") && e.contains("GB"), "{e}");
        // 32 x 1e7 x (10 x 32 + 2 x 4 + 4) floats: about 425 GB.
        let b = training_bytes(&cfg, 32, 10_000_000) as f64 / 1e9;
        assert!((420.0..430.0).contains(&b), "{b}");
        assert!(check_fits(&cfg, usize::MAX, usize::MAX).is_err());
    }
}
