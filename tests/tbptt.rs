//! PyTorch golden of truncated back-propagation through time (`tools/torch_tbptt_golden.py`):
//! a language model (embedding, LSTM x2 or GRU, per-step head) trained on two consecutive
//! batches of the same streams, the second starting from the first's final state, detached,
//! after one SGD step. Losses, every gradient and the final states match to 1e-10 in f64.

use std::collections::HashMap;

use recur::cell::CellKind;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Seqs, Session, State, Targets};
use recur::optim::{OptimConfig, Optimizer, OptimizerKind};

fn load(name: &str) -> (HashMap<String, String>, HashMap<String, Vec<f64>>) {
    let path = format!("{}/tests/fixtures/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(k, v)| {
            (k, v.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())
        })
        .collect();
    (meta.metadata().clone().unwrap_or_default(), tensors)
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-10 * (1.0 + w.abs()), "{what}[{i}]: {g} vs torch {w}");
    }
}

#[test]
fn two_consecutive_batches_match_pytorch() {
    for name in ["lstm_l2_tbptt", "gru_l1_tbptt"] {
        let (meta, t) = load(name);
        let num = |k: &str| meta[k].parse::<usize>().unwrap();
        let cell: CellKind = meta["cell"].parse().unwrap();
        let (v, b, steps) = (num("vocab"), num("batch"), num("bptt"));
        let cfg = ModelConfig {
            vocab_size: Some(v),
            ..ModelConfig::new(
                cell,
                num("embedding"),
                vec![num("hidden_size"); num("num_layers")],
                v,
                HeadKind::Step,
                LossKind::CrossEntropy,
            )
        };
        let specs = recur::model::param_specs(&cfg);
        let params: Vec<f64> = specs.iter().flat_map(|s| t[&s.name].iter().copied()).collect();
        for threads in [1, 2] {
            let mut model = Model::<f64>::from_params(cfg.clone(), params.clone()).unwrap();
            let mut sess = Session::<f64>::new(threads).with_chunk_rows(1);
            let mut opt = Optimizer::new(OptimConfig::new(OptimizerKind::Sgd, 0.1));
            let mut state: Option<State<f64>> = None;
            for n in 1..=2 {
                let tag = format!("{name} ({threads} threads) batch {n}");
                let y: Vec<u32> = t[&format!("y{n}")].iter().map(|&c| c as u32).collect();
                let opts = GradOptions { final_state: true, ..Default::default() };
                let x = &t[&format!("x{n}")];
                let sum = sess.loss_and_grad(
                    &model,
                    Seqs::new(x, b, steps),
                    state.as_ref(),
                    Targets::Classes(&y),
                    opts,
                );
                close(&[sum.unwrap().mean()], &t[&format!("loss{n}")], &format!("{tag}: loss"));
                let grads = sess.param_grads().to_vec();
                for s in &specs {
                    close(
                        &grads[s.range()],
                        &t[&format!("grad{n}.{}", s.name)],
                        &format!("{tag}: grad {}", s.name),
                    );
                }
                let carried = sess.final_state(&model);
                close(&carried.h.concat(), &t[&format!("h_n{n}")], &format!("{tag}: h_n"));
                if cell == CellKind::Lstm {
                    close(&carried.c.concat(), &t[&format!("c_n{n}")], &format!("{tag}: c_n"));
                }
                opt.step(&mut model.params, &grads);
                state = Some(carried);
            }
        }
    }
}
