//! Model files: save/load round trip, PyTorch-saved files (architecture inferred from shapes,
//! logits equal to PyTorch's), and one adversarial test per way a file can be wrong.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::io::model_file::{ModelFile, load, parse, save};
use recur::io::npy;
use recur::model::{HeadKind, LossKind, Model, ModelConfig, Seqs, Session};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn sample_model() -> Model<f32> {
    let cfg = ModelConfig::new(CellKind::Gru, 3, vec![5, 4], 6, HeadKind::Step, LossKind::Bce);
    Model::new(cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap()
}

#[test]
fn save_then_load_gives_the_same_model_and_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let task = serde_json::json!({"name": "bitcount", "bits": 20});
    let m = sample_model();
    save(&path, &ModelFile { model: m.clone(), task: Some(task.clone()), inferred: false }).unwrap();
    let back = load(&path).unwrap();
    assert_eq!(back.model.config, m.config);
    assert_eq!(back.model.params, m.params);
    assert_eq!(back.task, Some(task));
    assert!(!back.inferred);
}

#[test]
fn pytorch_saved_models_load_and_give_pytorchs_logits() {
    // `bilstm`: nn.LSTM(bidirectional=True), its head on cat(h_n[-2], h_n[-1]).
    for (cell, stem) in [("lstm", "lstm"), ("gru", "gru"), ("lstm", "bilstm")] {
        let file = load(&fixture(&format!("torch_model_{stem}.safetensors"))).unwrap();
        assert!(file.inferred);
        let c = &file.model.config;
        assert_eq!(
            (c.cell.name(), c.input_size, c.hidden_sizes.clone(), c.output_size, c.bidirectional),
            (cell, 3, vec![6, 6], 5, stem == "bilstm")
        );
        let cell = stem;
        let (shape, x) = npy::read_f32(&fixture(&format!("torch_model_{cell}_input.npy"))).unwrap();
        let (_, want) = npy::read_f32(&fixture(&format!("torch_model_{cell}_logits.npy"))).unwrap();
        let out = Session::new(2).forward(&file.model, Seqs::new(&x, shape[0], shape[1]), None).unwrap();
        for (g, w) in out.logits.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{cell}: {g} vs {w}");
        }
    }
}

/// Rewrites a fixture's tensors through `edit` and returns the error text of loading it.
fn broken(edit: impl FnOnce(&mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>)) -> String {
    let bytes = std::fs::read(fixture("torch_model_lstm.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut ts: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    ts.sort_by(|a, b| a.0.cmp(&b.0));
    edit(&mut ts);
    let views: Vec<_> = ts
        .iter()
        .map(|(k, d, s, b)| (k.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let out = safetensors::serialize(views, None).unwrap();
    parse(&out, Path::new("bad.safetensors")).unwrap_err().to_string()
}

#[test]
fn a_missing_tensor_is_named() {
    let e = broken(|ts| ts.retain(|t| t.0 != "rnn.bias_hh_l1"));
    assert!(e.contains("bad.safetensors") && e.contains("missing tensor rnn.bias_hh_l1"), "{e}");
}

#[test]
fn a_transposed_weight_is_reported_with_both_shapes() {
    // A recur file (with its config in the metadata) whose weight_hh_l1 was transposed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(&path, &ModelFile { model: sample_model(), task: None, inferred: false }).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| {
            let mut shape = v.shape().to_vec();
            if k == "rnn.weight_ih_l1" {
                shape.reverse();
            }
            (k, safetensors::tensor::TensorView::new(v.dtype(), shape, v.data()).unwrap())
        })
        .collect();
    let out = safetensors::serialize(views, meta.metadata().clone()).unwrap();
    let e = parse(&out, Path::new("t.safetensors")).unwrap_err().to_string();
    assert!(e.contains("rnn.weight_ih_l1 has shape [5, 12], expected [12, 5]"), "{e}");
    assert!(e.contains("gru 3 -> 5/4 [6] (step, bce)"), "{e}");
}

#[test]
fn a_pytorch_file_with_a_non_matching_head_says_so() {
    let e = broken(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "head.weight").unwrap();
        t.2 = vec![t.2[1], t.2[0]];
    });
    assert!(e.contains("cannot find the head") && e.contains("[classes, 6]"), "{e}");
}

#[test]
fn a_wrong_dtype_is_named() {
    let e = broken(|ts| {
        let t = ts.iter_mut().find(|t| t.0 == "rnn.bias_ih_l0").unwrap();
        t.1 = safetensors::Dtype::I32;
    });
    assert!(e.contains("rnn.bias_ih_l0 has dtype I32, expected F32 or F64"), "{e}");
}

#[test]
fn an_unexpected_tensor_is_listed() {
    let e = broken(|ts| {
        let extra = ts[0].clone();
        ts.push(("rnn.extra".into(), extra.1, extra.2, extra.3));
    });
    assert!(e.contains("unexpected tensor rnn.extra"), "{e}");
}

#[test]
fn truncated_and_garbage_files_fail_cleanly() {
    let bytes = std::fs::read(fixture("torch_model_lstm.safetensors")).unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = parse(&bytes[..cut], Path::new("cut.safetensors")).unwrap_err().to_string();
        assert!(e.contains("cut.safetensors") && e.contains("not a valid safetensors file"), "{cut}: {e}");
    }
    let e = load(Path::new("/nonexistent/model.safetensors")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/model.safetensors"), "{e}");
}

#[test]
fn a_file_without_rnn_tensors_says_what_it_expected() {
    let e = broken(|ts| ts.retain(|t| t.0.starts_with("head.")));
    assert!(e.contains("weight_ih_l0"), "{e}");
}

#[test]
fn pytorch_module_names_other_than_rnn_and_head_are_mapped() {
    // The same LSTM fixture saved as {lstm: ..., fc: ...}: same logits.
    let bytes = std::fs::read(fixture("torch_model_lstm.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k.replace("rnn.", "lstm.").replace("head.", "fc."), v))
        .collect();
    let out = safetensors::serialize(views, None).unwrap();
    let file = parse(&out, Path::new("renamed.safetensors")).unwrap();
    let orig = load(&fixture("torch_model_lstm.safetensors")).unwrap();
    assert_eq!(file.model.params, orig.model.params);
    assert_eq!(file.model.config, orig.model.config);
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(&path, &ModelFile { model: sample_model(), task: None, inferred: false }).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    meta.insert("format_version".into(), "99".into());
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let out = safetensors::serialize(st.tensors(), Some(meta)).unwrap();
    let e = parse(&out, Path::new("new.safetensors")).unwrap_err().to_string();
    assert!(e.contains("model format version 99 is newer than this recur reads (1)"), "{e}");
}

#[test]
fn absurd_sizes_in_a_config_are_rejected_before_allocating() {
    let mut cfg = sample_model().config;
    cfg.hidden_sizes = vec![1 << 19; 3];
    let e = Model::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err().to_string();
    assert!(e.contains("more than 2^31 parameters"), "{e}");
}

#[test]
fn passes_reject_bad_shapes_with_what_they_expected() {
    let m = sample_model();
    let mut s = Session::<f32>::new(1);
    let e = s.forward(&m, Seqs::new(&[], 0, 4), None).unwrap_err().to_string();
    assert!(e.contains("empty input: 0 sequences of 4 steps"), "{e}");
    let e = s.forward(&m, Seqs::new(&[0.0; 10], 2, 2), None).unwrap_err().to_string();
    assert!(e.contains("expected shape [2, 2, 3]"), "{e}");
    let bad = recur::model::State { h: vec![vec![0.0; 5]], c: vec![] };
    let e = s.forward(&m, Seqs::new(&[0.0; 12], 2, 2), Some(&bad)).unwrap_err().to_string();
    assert!(e.contains("initial state"), "{e}");
}

/// Every prefix and many single-byte corruptions of a valid file load or fail with an error;
/// none panics (a cheap stand-in for a fuzz target on the loader).
#[test]
fn corrupted_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(
        &path,
        &ModelFile { model: sample_model(), task: Some(serde_json::json!({"name": "x"})), inferred: false },
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in 0..bytes.len() {
        let _ = parse(&bytes[..cut], Path::new("cut"));
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = bytes.clone();
        let i = (x % b.len() as u64) as usize;
        b[i] = (x >> 32) as u8;
        if let Ok(f) = parse(&b, Path::new("flip")) {
            // A corruption that still parses must still be a consistent model.
            assert_eq!(f.model.params.len(), f.model.specs.iter().map(|s| s.len()).sum::<usize>());
        }
    }
}

/// A tied model's file lists the shared table under both names, as PyTorch's state_dict does;
/// it loads back to the same model, and a file whose two copies differ is refused.
#[test]
fn tied_weights_are_saved_under_both_names_and_must_agree() {
    let cfg = ModelConfig {
        vocab_size: Some(6),
        tie_weights: true,
        ..ModelConfig::new(CellKind::Lstm, 4, vec![5, 4], 6, HeadKind::Step, LossKind::CrossEntropy)
    };
    let m = Model::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    assert!(m.specs.iter().all(|s| s.name != "head.weight"), "the table is held once");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tied.safetensors");
    save(&path, &ModelFile { model: m.clone(), task: None, inferred: false }).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("head.weight").unwrap().data(), st.tensor("embedding.weight").unwrap().data());
    let back = load(&path).unwrap();
    assert_eq!((back.model.config, back.model.params), (m.config.clone(), m.params.clone()));

    // Change one element of the head's copy.
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect();
    let meta = st_metadata(&bytes);
    for (n, _, d) in &mut tensors {
        if n == "head.weight" {
            d[0] ^= 0x40;
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())
        })
        .collect();
    let edited = safetensors::serialize(views, Some(meta)).unwrap();
    let err = parse(&edited, Path::new("tied.safetensors")).unwrap_err().to_string();
    assert!(err.contains("head.weight differs from embedding.weight, which it is tied to"), "{err}");
}

fn st_metadata(bytes: &[u8]) -> std::collections::HashMap<String, String> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    meta.metadata().clone().unwrap()
}
