//! `recur export` against the ONNX Runtime fixtures of `tools/onnx_check.py`
//! (tests/fixtures/onnx/manifest.json): re-exporting each model gives the committed `.onnx`
//! byte for byte, and recur's outputs on the fixture inputs are ONNX Runtime's to 1e-5; then
//! what cannot be exported fails with a message and leaves no file.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use recur::io::npy;

fn dir() -> PathBuf {
    fixture("onnx")
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Case {
    name: String,
    flags: Vec<String>,
    predict_flags: Vec<String>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    let cases: Vec<Case> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            flags: strings(&c["flags"]),
            predict_flags: strings(&c["predict_flags"]),
        })
        .collect();
    assert!(cases.len() >= 16, "{} cases", cases.len());
    cases
}

#[test]
fn re_exporting_each_fixture_model_gives_the_committed_onnx_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    for c in cases() {
        let model = dir().join(format!("{}.safetensors", c.name));
        let out = tmp.path().join(format!("{}.onnx", c.name));
        let mut args = vec!["export", "--model", arg(&model), "-o", arg(&out)];
        args.extend(c.flags.iter().map(String::as_str));
        recur(tmp.path(), &args).ok();
        let want = std::fs::read(dir().join(format!("{}.onnx", c.name))).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == want,
            "{}: the export differs from the committed file",
            c.name
        );
    }
}

#[test]
fn recur_predicts_what_onnx_runtime_computed_on_every_real_step() {
    let tmp = tempfile::tempdir().unwrap();
    for c in cases() {
        let file = |suffix: &str| dir().join(format!("{}{suffix}", c.name));
        let (model, input, lengths) = (file(".safetensors"), file("_input.npy"), file("_lengths.npy"));
        let out = tmp.path().join(format!("{}.npy", c.name));
        let mut args = vec!["predict", "--model", arg(&model), "--input", arg(&input)];
        args.extend(["--lengths", arg(&lengths), "--output", arg(&out), "--threads", "2"]);
        args.extend(c.predict_flags.iter().map(String::as_str));
        recur(tmp.path(), &args).ok();
        let (shape, got) = npy::read_f32(&out).unwrap();
        let (want_shape, want) = npy::read_f32(&file("_ort.npy")).unwrap();
        let (_, lens) = npy::read_ints(&lengths).unwrap();
        assert_eq!(shape, want_shape, "{}", c.name);
        // Per-step outputs count on real steps only: at padded ones ONNX Runtime's head reads
        // zeros and recur's the last real step.
        let row = got.len() / shape[0];
        let per_step = if shape.len() == 3 { shape[2] } else { row };
        let mut worst = 0.0f32;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let (r, step) = (i / row, i % row / per_step);
            if shape.len() == 2 || (step as i64) < lens[r] {
                worst = worst.max((g - w).abs());
            }
        }
        assert!(worst <= 1e-5, "{}: recur and ONNX Runtime differ by {worst}", c.name);
    }
}

/// Runs `recur export` on fixture `model` expecting it to fail with `want`; the output path
/// stays absent.
fn export_fails(model: &str, out: &Path, flags: &[&str], want: &[&str]) {
    let model = dir().join(format!("{model}.safetensors"));
    let mut args = vec!["export", "--model", arg(&model), "-o", arg(out)];
    args.extend_from_slice(flags);
    recur(&std::env::temp_dir(), &args).fails_with_all(want);
    assert!(!out.exists(), "{} was written", out.display());
}

#[test]
fn what_onnx_cannot_express_is_refused_by_name_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.onnx");
    // h0 is one [layers*dirs, batch, H] tensor: layers of 7, 5 and 3 units do not fit it.
    let want = ["cannot export to ONNX", "--stateful", "[7, 5, 3]"];
    export_fails("classify_gru_l3_bi_init", &out, &["--stateful"], &want);
    // A regression model has no probabilities.
    export_fails("regress_rnn", &out, &["--probs"], &["cannot export to ONNX", "--probs", "mse"]);
    // --head and --loss are for files without recur's metadata.
    let want = ["--head and --loss are for PyTorch-saved files"];
    export_fails("regress_rnn", &out, &["--head", "step"], &want);
    // A directory that does not exist: the error names the path, and nothing is left behind.
    let missing = tmp.path().join("no/such/dir/m.onnx");
    export_fails("lstm_l1_step_bce", &missing, &[], &["no/such/dir/m.onnx"]);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
