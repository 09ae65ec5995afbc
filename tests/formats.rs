//! The data formats of your own sequences, through the real `recur` binary in a temp dir: several
//! numeric features per step (CSV, JSON Lines, `.npy`), held-out rows from files of their own,
//! and predictions as JSON Lines; one test per way an input can be malformed, its message
//! checked.
//!
//! The two-feature task (`examples/data/pairs.*`, from `tools/make_format_examples.py`): the
//! class is `more` when the first feature's sum exceeds the second's. Either feature alone
//! predicts it at most 75% of the time (the sums' difference correlates 1/sqrt(2) with
//! either sum, and 1/2 + asin(1/sqrt(2))/pi = 3/4), so the 90% asked for below needs both.

mod common;
use common::*;

use std::path::Path;

/// Writes a version 1.0 `.npy` file with this dtype, shape and little-endian data.
fn npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

fn f4(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i8s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small deterministic generator (64-bit LCG), uniform in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// `n` sequences of 3-10 steps of two features in [-1, 1], rounded to 2 decimals.
fn pair_sequences(n: usize, seed: u64) -> Vec<Vec<[f64; 2]>> {
    let mut g = Lcg(seed);
    (0..n)
        .map(|_| {
            let len = 3 + ((g.next() + 1.0) * 4.0) as usize;
            (0..len)
                .map(|_| [(g.next() * 100.0).round() / 100.0, (g.next() * 100.0).round() / 100.0])
                .collect()
        })
        .collect()
}

fn csv_seq(s: &[[f64; 2]]) -> String {
    s.iter().map(|[a, b]| format!("{a} {b}")).collect::<Vec<_>>().join(";")
}

#[test]
fn two_features_learned_from_csv_jsonl_and_npy_alike() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (x, y, len) = (example("pairs_x.npy"), example("pairs_y.npy"), example("pairs_len.npy"));
    let runs = [
        vec!["--data".to_string(), example("pairs.csv")],
        vec!["--data".to_string(), example("pairs.jsonl")],
        vec!["--data".into(), x.clone(), "--targets".into(), y.clone(), "--lengths".into(), len.clone()],
    ];
    let mut accs = Vec::new();
    for (k, data) in runs.iter().enumerate() {
        let out = format!("m{k}.safetensors");
        let mut args = vec!["train", "classify", "-q", "-o", &out];
        args.extend(data.iter().map(String::as_str));
        let o = recur(d, &args).ok().stdout();
        assert!(o.contains("lstm 2 -> ") && o.contains("on 120 sequences"), "input size 2: {o}");
        accs.push(last_number(&o, "accuracy"));
    }
    // The same rows, the same seeded split and the same values: the same model.
    assert!(accs[0] >= 90.0 && accs[0] == accs[1] && accs[1] == accs[2], "{accs:?}");

    // Predicting the training file reports the accuracy; the npy model's classes are the ids.
    let r = recur(d, &["predict", "-m", "m0.safetensors", "--input", &example("pairs.csv")]).ok();
    assert!(r.stdout().starts_with("line,predicted,probability\n2,"), "{}", r.stdout());
    assert!(last_number(&r.stderr(), "accuracy") >= 95.0, "{}", r.stderr());
    let r = recur(d, &["predict", "-m", "m2.safetensors", "--input", &x, "--lengths", &len]).ok();
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "index,predicted,probability");
    assert_eq!(lines.len(), 601);
    assert!(lines[1].starts_with("0,1,") || lines[1].starts_with("0,0,"), "{}", lines[1]);
    assert!(r.stderr().is_empty(), "no targets, no score: {}", r.stderr());
    // With --targets, the array's predictions are scored like a labelled file's.
    let r = recur(d, &["predict", "-m", "m2.safetensors", "--input", &x, "--lengths", &len, "--targets", &y])
        .ok();
    assert_eq!(r.stdout(), out, "the same predictions");
    assert!(
        last_number(&r.stderr(), "accuracy") >= 95.0 && r.stderr().contains("on 600 labelled rows"),
        "{}",
        r.stderr()
    );
    let e = recur(d, &["predict", "-m", "m0.safetensors", "--input", &example("pairs.csv"), "--targets", &y]);
    e.fails_with("--targets is for .npy inputs");
    // A CSV model runs on the array and the array model on the CSV: both read two features.
    let a = recur(d, &["predict", "-m", "m0.safetensors", "--input", &x, "--lengths", &len]).ok().stdout();
    let b = recur(d, &["predict", "-m", "m0.safetensors", "--input", &example("pairs.jsonl")]).ok().stdout();
    let names =
        |s: &str| s.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "same rows, same predictions");
}

#[test]
fn regress_and_label_read_several_features_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Regression: the first feature's sum minus the second's, from JSON Lines.
    let mut jsonl = String::new();
    for s in pair_sequences(400, 7) {
        let t: f64 = s.iter().map(|[a, b]| a - b).sum();
        let steps: Vec<String> = s.iter().map(|[a, b]| format!("[{a}, {b}]")).collect();
        jsonl += &format!("{{\"x\": [{}], \"y\": {t:.4}}}\n", steps.join(", "));
    }
    std::fs::write(d.join("r.jsonl"), jsonl).unwrap();
    let o = recur(d, &["train", "regress", "--data", "r.jsonl", "-q", "-o", "r.safetensors"]).ok().stdout();
    let rmse = last_number(&o, "RMSE");
    let sd = last_number(&o.replace("deviation is", "deviation"), "deviation");
    assert!(rmse < 0.25 * sd, "RMSE {rmse} vs deviation {sd}: {o}");
    std::fs::write(d.join("q.jsonl"), "{\"x\": [[1, 0], [0.5, 0], [0, -0.5]], \"y\": 2}\n").unwrap();
    let r = recur(d, &["predict", "-m", "r.safetensors", "--input", "q.jsonl", "--output", "p.jsonl"]).ok();
    assert!(r.stdout().contains("wrote 1 predictions to p.jsonl"), "{}", r.stdout());
    let p: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(d.join("p.jsonl")).unwrap().trim()).unwrap();
    assert_eq!(p["line"], 1);
    assert!((p["predicted"].as_f64().unwrap() - 2.0).abs() < 0.5, "{p}");

    // Labelling: a step is H while the first feature's running sum leads, from CSV.
    let mut csv = String::from("label,sequence\n");
    for s in pair_sequences(400, 9) {
        let mut lead = 0.0;
        let tags: String = s
            .iter()
            .map(|[a, b]| {
                lead += a - b;
                if lead > 0.0 { 'H' } else { 'o' }
            })
            .collect();
        csv += &format!("{tags},{}\n", csv_seq(&s));
    }
    std::fs::write(d.join("l.csv"), csv).unwrap();
    let o = recur(d, &["train", "label", "--data", "l.csv", "-q", "-o", "l.safetensors"]).ok().stdout();
    assert!(o.contains("2 features per step"), "{o}");
    assert!(last_number(&o, "accuracy") >= 90.0, "{o}");
    // Leads 1, 1.5, 0.5, -0.5, -1.5.
    std::fs::write(d.join("q.csv"), "sequence\n1 0;0.5 0;0 1;0 1;0 1\n").unwrap();
    let r = recur(d, &["predict", "-m", "l.safetensors", "--input", "q.csv"]).ok().stdout();
    assert_eq!(r, "line,labels\n2,HHHoo\n");
}

#[test]
fn feature_counts_must_agree_and_name_line_column_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (
            "a.csv",
            "label,sequence\nx,1 2;3 4\ny,1 2;3 4;5 6 7\n",
            "a.csv: line 3, column sequence, step 3: 3 features; expected 2",
        ),
        (
            "b.csv",
            "label,sequence\nx,1 2;3 4\ny,1;2\n",
            "b.csv: line 3, column sequence, step 1: 1 feature; expected 2",
        ),
        (
            "c.csv",
            "label,sequence\nx,1 2;3 4\ny,1 2;3 z\n",
            "c.csv: line 3, column 2: value 4 `z` is not a number",
        ),
        (
            "d.jsonl",
            "{\"x\": [[1, 2], [3, 4]], \"y\": \"x\"}\n{\"x\": [[1, 2], [3]], \"y\": \"y\"}\n",
            "d.jsonl: line 2, column x, step 2: 1 feature; expected 2",
        ),
        (
            "e.jsonl",
            "{\"x\": [[1, 2], [3, \"4\"]], \"y\": \"x\"}\n",
            "e.jsonl: line 1: x[1][1] = \"4\" is not a number",
        ),
        ("f.jsonl", "{\"x\": [], \"y\": \"x\"}\n", "f.jsonl: line 1: the sequence is empty"),
        (
            "g.jsonl",
            "{\"x\": [[], []], \"y\": \"x\"}\n{\"x\": [[1]], \"y\": \"y\"}\n",
            "g.jsonl: line 1, column x, step 1: a step with no numbers",
        ),
        (
            "h.csv",
            "label,sequence\nx,ABC\ny,1 2\n",
            "h.csv: line 3, column 2: numbers where symbol strings are expected",
        ),
    ];
    for (name, text, msg) in cases {
        std::fs::write(d.join(name), text).unwrap();
        recur(d, &["train", "classify", "--data", name, "--valid-fraction", "0", "-q"]).fails_with(msg);
    }
    // Against a model: two features expected, three given, or a symbol string.
    let o = recur(
        d,
        &["train", "classify", "--data", &example("pairs.csv"), "--epochs", "1", "-q", "-o", "m.safetensors"],
    );
    o.ok();
    std::fs::write(d.join("p.csv"), "sequence\n1 2;3 4\n1 2 3;3 4 5\n").unwrap();
    recur(d, &["predict", "-m", "m.safetensors", "--input", "p.csv"])
        .fails_with("p.csv: line 3, column sequence, step 1: 3 features; expected 2");
    std::fs::write(d.join("s.csv"), "sequence\nABC\n").unwrap();
    recur(d, &["predict", "-m", "m.safetensors", "--input", "s.csv"])
        .fails_with("s.csv: line 2, column 1: value 1 `ABC` is not a number");
    // One step of two features needs its `;`; without, it reads as two steps of one.
    std::fs::write(d.join("o.csv"), "sequence\n1 2\n").unwrap();
    recur(d, &["predict", "-m", "m.safetensors", "--input", "o.csv"])
        .fails_with("step 1: 1 feature; expected 2 (separate steps by `;`");
    std::fs::write(d.join("o.csv"), "sequence\n1 2;\n").unwrap();
    recur(d, &["predict", "-m", "m.safetensors", "--input", "o.csv"]).ok();
}

#[test]
fn npy_inputs_check_shapes_dtypes_and_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 6 sequences of 4 steps x 2 features; class 1 when the first feature's sum is larger.
    let x: Vec<f32> = (0..48).map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0).collect();
    let y: Vec<i64> =
        x.chunks(8).map(|s| (s.chunks(2).map(|p| p[0] - p[1]).sum::<f32>() > 0.0) as i64).collect();
    npy(&d.join("x.npy"), "<f4", &[6, 4, 2], &f4(&x));
    npy(&d.join("y.npy"), "<i8", &[6], &i8s(&y));
    npy(&d.join("y5.npy"), "<i8", &[5], &i8s(&y[..5]));
    npy(&d.join("yf.npy"), "<f8", &[6], &f4(&[0.0; 12]));
    npy(&d.join("l.npy"), "<i8", &[6], &i8s(&[4, 3, 2, 1, 4, 4]));
    npy(&d.join("l0.npy"), "<i8", &[6], &i8s(&[4, 3, 0, 1, 4, 4]));
    npy(&d.join("l5.npy"), "<i8", &[6], &i8s(&[4, 3, 5, 1, 4, 4]));
    npy(&d.join("x1.npy"), "<f4", &[48], &f4(&x));
    npy(&d.join("xs.npy"), "<U1", &[6, 4], &[0; 96]);
    let train = |extra: &[&str]| {
        let mut a =
            vec!["train", "classify", "--data", "x.npy", "--valid-fraction", "0", "--epochs", "2", "-q"];
        a.extend_from_slice(extra);
        recur(d, &a)
    };
    train(&["--targets", "y.npy", "--lengths", "l.npy", "-o", "m.safetensors"]).ok();
    train(&["--targets", "y5.npy"])
        .fails_with("y5.npy has shape [5] but x.npy has shape [6, 4, 2]; expected [6]");
    train(&["--targets", "yf.npy"]).fails_with("yf.npy: dtype is float64 but integers are needed");
    train(&["--targets", "y.npy", "--lengths", "l0.npy"])
        .fails_with("l0.npy: index 2: length 0; expected 1 to 4");
    train(&["--targets", "y.npy", "--lengths", "l5.npy"])
        .fails_with("l5.npy: index 2: length 5; expected 1 to 4");
    train(&["--targets", "y.npy", "--lengths", "y5.npy"])
        .fails_with("y5.npy has shape [5] but x.npy has shape [6, 4, 2]; expected [6] (one length");
    train(&[]).fails_with("x.npy is an array; give its targets too (--targets Y.npy");
    recur(d, &["train", "classify", "--data", "x1.npy", "--targets", "y.npy", "-q"])
        .fails_with("x1.npy: shape [48]; expected [sequences, steps, features]");
    recur(d, &["train", "classify", "--data", "xs.npy", "--targets", "y.npy", "-q"])
        .fails_with("unsupported dtype \"<U1\"");
    // Label targets are per step: [N, T].
    recur(d, &["train", "label", "--data", "x.npy", "--targets", "y.npy", "-q"])
        .fails_with("y.npy has shape [6] but x.npy has shape [6, 4, 2]; expected [6, 4] (a label per step)");
    // Label: per-step integer targets [N, T], lengths honoured; regress: float targets [N].
    let tags: Vec<i64> = x.chunks(2).map(|p| (p[0] > p[1]) as i64 * 7).collect();
    npy(&d.join("t.npy"), "<i8", &[6, 4], &i8s(&tags));
    let o = recur(
        d,
        &[
            "train",
            "label",
            "--data",
            "x.npy",
            "--targets",
            "t.npy",
            "--lengths",
            "l.npy",
            "--valid-fraction",
            "0",
            "--epochs",
            "2",
            "-q",
            "-o",
            "t.safetensors",
        ],
    )
    .ok()
    .stdout();
    assert!(o.contains("2 features per step, 2 labels"), "{o}");
    let p =
        recur(d, &["predict", "-m", "t.safetensors", "--input", "x.npy", "--lengths", "l.npy"]).ok().stdout();
    let lines: Vec<&str> = p.lines().collect();
    assert_eq!(lines[0], "index,labels");
    // Labels 0 and 7 print run together; index 3 has length 1.
    assert!(lines[4].len() == "3,0".len() && lines[1].len() == "0,0707".len(), "{p}");
    npy(&d.join("yr.npy"), "<f4", &[6], &f4(&[0.5, -1.0, 2.0, 0.0, 1.5, -0.5]));
    let o = recur(
        d,
        &[
            "train",
            "regress",
            "--data",
            "x.npy",
            "--targets",
            "yr.npy",
            "--valid-fraction",
            "0",
            "--epochs",
            "2",
            "-q",
        ],
    )
    .ok()
    .stdout();
    assert!(o.contains("targets mean 0.4167"), "{o}");
    // Predicting: the features must be the model's.
    npy(&d.join("x3.npy"), "<f4", &[2, 4, 3], &f4(&[0.5; 24]));
    recur(d, &["predict", "-m", "m.safetensors", "--input", "x3.npy"])
        .fails_with("x3.npy: index 0, step 1: 3 features; expected 2");
    let r = recur(
        d,
        &["predict", "-m", "m.safetensors", "--input", "x.npy", "--lengths", "l.npy", "--output", "p.jsonl"],
    )
    .ok();
    assert!(r.stdout().contains("wrote 6 predictions"), "{}", r.stdout());
    let first = std::fs::read_to_string(d.join("p.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(v["index"], 0);
    // Raw logits for PyTorch interop still come out of an .npy output.
    recur(d, &["predict", "-m", "m.safetensors", "--input", "x.npy", "--output", "logits.npy"]).ok();
    assert!(d.join("logits.npy").exists());
}

#[test]
fn separate_valid_and_test_files_use_the_training_spec() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let all = std::fs::read_to_string(example("pairs.csv")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let part = |r: std::ops::Range<usize>| format!("label,sequence\n{}\n", lines[r].join("\n"));
    std::fs::write(d.join("train.csv"), part(1..401)).unwrap();
    std::fs::write(d.join("valid.csv"), part(401..501)).unwrap();
    std::fs::write(d.join("test.csv"), part(501..601)).unwrap();
    let args = [
        "train",
        "classify",
        "--data",
        "train.csv",
        "--valid-data",
        "valid.csv",
        "--test-data",
        "test.csv",
        "-q",
        "-o",
        "m.safetensors",
    ];
    let o = recur(d, &args).ok().stdout();
    assert!(o.contains("400 training / 100 held-out"), "no rows taken from train.csv: {o}");
    assert!(last_number(&o.replace("; test", "\n"), "accuracy") >= 85.0, "{o}");
    assert!(o.contains("test accuracy") && o.contains("on 100 after"), "{o}");
    // A label, a symbol or a feature count the training file does not have is an error there.
    std::fs::write(d.join("v1.csv"), "label,sequence\nmore,1 2;3 4\nsame,1 2;\n").unwrap();
    recur(d, &["train", "classify", "--data", "train.csv", "--valid-data", "v1.csv", "-q"])
        .fails_with("v1.csv: line 3: label `same` was not seen in training (known: less, more)");
    std::fs::write(d.join("v2.csv"), "label,sequence\nmore,1 2 3;3 4 5\n").unwrap();
    recur(d, &["train", "classify", "--data", "train.csv", "--valid-data", "v2.csv", "-q"])
        .fails_with("v2.csv: line 2, column sequence, step 1: 3 features; expected 2");
    recur(
        d,
        &[
            "train",
            "classify",
            "--data",
            "train.csv",
            "--valid-data",
            "v1.csv",
            "--valid-fraction",
            "0.1",
            "-q",
        ],
    )
    .fails_with("give --valid-data or --valid-fraction, not both");
    // Symbol labelling: a symbol only in the validation file.
    std::fs::write(d.join("t.csv"), "label,sequence\nHo,AB\noH,BA\nHH,AA\n").unwrap();
    std::fs::write(d.join("tv.csv"), "label,sequence\nHo,AB\nHo,AZ\n").unwrap();
    recur(d, &["train", "label", "--data", "t.csv", "--valid-data", "tv.csv", "-q", "--epochs", "1"])
        .fails_with("tv.csv: line 3, column 2: symbol `Z` was not in the training data");
    std::fs::write(d.join("tv.csv"), "label,sequence\nHx,AB\n").unwrap();
    recur(d, &["train", "label", "--data", "t.csv", "--valid-data", "tv.csv", "-q", "--epochs", "1"])
        .fails_with("tv.csv: line 2: label `x` was not seen in training (known: H o)");
    // A forecast scores the windows of a series of its own.
    let sine = std::fs::read_to_string(example("sine.csv")).unwrap();
    let rows: Vec<&str> = sine.lines().collect();
    std::fs::write(d.join("s1.csv"), format!("{}\n", rows[..1601].join("\n"))).unwrap();
    std::fs::write(d.join("s2.csv"), format!("{}\n{}\n", rows[0], rows[1601..].join("\n"))).unwrap();
    let o = recur(
        d,
        &["train", "forecast", "--data", "s1.csv", "--valid-data", "s2.csv", "-q", "-o", "f.safetensors"],
    )
    .ok()
    .stdout();
    assert!(last_number(&o, "RMSE") < 0.05, "{o}");
    std::fs::write(d.join("s3.csv"), "t,value\n0,1\n").unwrap();
    recur(d, &["train", "forecast", "--data", "s1.csv", "--valid-data", "s3.csv", "-q"])
        .fails_with("s3.csv: 1 rows; a window of 20 and a horizon of 1 need 21 to score one");
    // .npy held-out files bring their own targets.
    let (x, y, l) = (example("pairs_x.npy"), example("pairs_y.npy"), example("pairs_len.npy"));
    let o = recur(
        d,
        &[
            "train",
            "classify",
            "--data",
            &x,
            "--targets",
            &y,
            "--lengths",
            &l,
            "--valid-data",
            &x,
            "--valid-targets",
            &y,
            "--valid-lengths",
            &l,
            "--epochs",
            "2",
            "-q",
        ],
    )
    .ok()
    .stdout();
    assert!(o.contains("600 training / 600 held-out"), "{o}");
}

#[test]
fn predictions_as_json_lines_for_every_task() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recur(
        d,
        &[
            "train",
            "classify",
            "--data",
            &example("proteins.csv"),
            "--epochs",
            "3",
            "-q",
            "-o",
            "c.safetensors",
        ],
    )
    .ok();
    std::fs::write(d.join("q.csv"), "label,sequence\nbinder,ACDCNLKWW\nother,AAAAGGGHHK\n").unwrap();
    let r = recur(d, &["predict", "-m", "c.safetensors", "--input", "q.csv", "--output", "p.jsonl"]).ok();
    assert!(r.stderr().contains("on 2 labelled rows"), "{}", r.stderr());
    let text = std::fs::read_to_string(d.join("p.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["line"], 2);
    assert_eq!(rows[1]["line"], 3);
    let probs = rows[0]["probs"].as_object().unwrap();
    assert_eq!(probs.keys().collect::<Vec<_>>(), ["binder", "other"]);
    let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-5, "{text}");
    let name = rows[0]["predicted"].as_str().unwrap();
    assert_eq!(rows[0]["probability"], probs[name], "{text}");
    // Left alone when the CSV default is asked for; no temp files left behind.
    let r = recur(d, &["predict", "-m", "c.safetensors", "--input", "q.csv", "--output", "p.csv"]).ok();
    assert!(r.stdout().contains("wrote 2 predictions to p.csv"));
    assert!(std::fs::read_to_string(d.join("p.csv")).unwrap().starts_with("line,predicted,probability\n2,"));
    let names: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");

    recur(
        d,
        &["train", "label", "--data", &example("tags.csv"), "--epochs", "2", "-q", "-o", "l.safetensors"],
    )
    .ok();
    std::fs::write(d.join("t.jsonl"), "{\"x\": \"AABBA\"}\n").unwrap();
    recur(d, &["predict", "-m", "l.safetensors", "--input", "t.jsonl", "--output", "t.out.jsonl"]).ok();
    let v: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(d.join("t.out.jsonl")).unwrap().trim()).unwrap();
    assert_eq!(v["line"], 1);
    assert_eq!(v["predicted"].as_str().unwrap().len(), 5, "{v}");

    recur(
        d,
        &["train", "forecast", "--data", &example("sine.csv"), "--epochs", "1", "-q", "-o", "f.safetensors"],
    )
    .ok();
    recur(
        d,
        &[
            "predict",
            "-m",
            "f.safetensors",
            "--input",
            &example("sine.csv"),
            "--ahead",
            "3",
            "--output",
            "f.jsonl",
        ],
    )
    .ok();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(d.join("f.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["step"], 3);
    assert!(rows[0]["value"].as_f64().unwrap().abs() < 3.0, "{:?}", rows[0]);
}

#[test]
fn forecast_valid_fraction_outside_0_to_1_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sine = example("sine.csv");
    for vf in ["1.5", "1"] {
        recur(dir.path(), &["train", "forecast", "--data", &sine, "--valid-fraction", vf, "-q"])
            .fails_with(&format!("invalid valid-fraction = {vf}: must be at least 0 and below 1"));
    }
}

/// Reads a little-endian `<f4` `.npy` file written by recur: its values.
fn read_f4(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap();
    let header = u16::from_le_bytes([b[8], b[9]]) as usize;
    b[10 + header..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn raw_npy_output_gives_the_same_predictions_as_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Features far from 0 (mean 50), so a missing normalization changes the answers; padded.
    let x: Vec<f32> = (0..48).map(|i| 50.0 + ((i * 37 % 17) as f32 - 8.0)).collect();
    let y: Vec<i64> = x.chunks(8).map(|s| (s[0] > s[1]) as i64).collect();
    npy(&d.join("x.npy"), "<f4", &[6, 4, 2], &f4(&x));
    npy(&d.join("y.npy"), "<i8", &[6], &i8s(&y));
    npy(&d.join("l.npy"), "<i8", &[6], &i8s(&[4, 3, 2, 1, 4, 4]));
    npy(&d.join("l0.npy"), "<i8", &[6], &i8s(&[4, 3, 0, 1, 4, 4]));
    let mut nan = x.clone();
    nan[2 * 8 + 2 * 2 + 1] = f32::NAN;
    npy(&d.join("nan.npy"), "<f4", &[6, 4, 2], &f4(&nan));
    let data = ["--data", "x.npy", "--targets", "y.npy", "--valid-fraction", "0", "--epochs", "5", "-q"];
    recur(d, &[&["train", "classify"], &data[..], &["-o", "m.safetensors"]].concat()).ok();
    let predict = |extra: &[&str]| {
        recur(
            d,
            &[&["predict", "-m", "m.safetensors", "--input", "x.npy", "--lengths", "l.npy"], extra].concat(),
        )
    };
    predict(&["--output", "p.jsonl"]).ok();
    predict(&["--output", "p.npy", "--probs"]).ok();
    let raw = read_f4(&d.join("p.npy"));
    let text = std::fs::read_to_string(d.join("p.jsonl")).unwrap();
    for (line, p) in text.lines().zip(raw.chunks(2)) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let want = v["probs"]["1"].as_f64().unwrap();
        assert!((want - p[1] as f64).abs() < 1e-5, "row {line}: the .npy output says {p:?}");
    }
    recur(
        d,
        &["predict", "-m", "m.safetensors", "--input", "x.npy", "--lengths", "l0.npy", "--output", "q.npy"],
    )
    .fails_with("l0.npy: index 2: length 0; expected 1 to 4");
    recur(d, &["predict", "-m", "m.safetensors", "--input", "nan.npy", "--output", "q.npy"])
        .fails_with("nan.npy: index 2, step 3: NaN is not a finite number");
    // A symbol model reads token ids [batch, time].
    let csv = "label,sequence\na,ABAB\nb,BBA\na,AAB\nb,BAB\n";
    std::fs::write(d.join("s.csv"), csv).unwrap();
    recur(
        d,
        &[
            "train",
            "classify",
            "--data",
            "s.csv",
            "--valid-fraction",
            "0",
            "--epochs",
            "1",
            "-q",
            "-o",
            "s.safetensors",
        ],
    )
    .ok();
    npy(&d.join("ids.npy"), "<f4", &[2, 3], &f4(&[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]));
    recur(d, &["predict", "-m", "s.safetensors", "--input", "ids.npy", "--output", "s.npy"]).ok();
    assert_eq!(read_f4(&d.join("s.npy")).len(), 4);
}

#[test]
fn values_too_large_to_normalize_are_an_error_not_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let series: String = (0..60).map(|i| format!("{i},{}e200\n", i % 7)).collect();
    std::fs::write(d.join("s.csv"), format!("t,value\n{series}")).unwrap();
    recur(d, &["train", "forecast", "--data", "s.csv", "--window", "5", "-q"])
        .fails_with("s.csv: column `value`: values too large to normalize");
    let rows: String = (0..20).map(|i| format!("{}e200,{} 1\n", i % 5, i % 3)).collect();
    std::fs::write(d.join("r.csv"), format!("target,sequence\n{rows}")).unwrap();
    recur(d, &["train", "regress", "--data", "r.csv", "--label-column", "target", "-q"])
        .fails_with("r.csv: the targets: values too large to normalize");
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jsonl = std::fs::read_to_string(example("pairs.jsonl")).unwrap().replace('\n', "\r\n");
    std::fs::write(d.join("p.jsonl"), format!("\u{feff}{jsonl}")).unwrap();
    let csv = std::fs::read_to_string(example("pairs.csv")).unwrap().replace('\n', "\r\n");
    std::fs::write(d.join("p.csv"), format!("\u{feff}{csv}")).unwrap();
    for f in ["p.jsonl", "p.csv"] {
        let o = recur(d, &["train", "classify", "--data", f, "--epochs", "1", "-q"]).ok().stdout();
        assert!(o.contains("2 classes, 480 training / 120 held-out"), "{f}: {o}");
    }
}

#[test]
fn an_empty_label_is_an_error_not_a_class() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("e.csv"), "label,sequence\na,AB\nb,BA\n,AA\na,ABB\n").unwrap();
    recur(d, &["train", "classify", "--data", "e.csv", "--valid-fraction", "0", "-q"])
        .fails_with("e.csv: line 4: the label is empty; every row needs its class");
    std::fs::write(d.join("e.jsonl"), "{\"x\": \"AB\", \"y\": \"a\"}\n{\"x\": \"BA\", \"y\": \"\"}\n")
        .unwrap();
    recur(d, &["train", "classify", "--data", "e.jsonl", "--valid-fraction", "0", "-q"])
        .fails_with("e.jsonl: line 2: the label is empty");
    // In a held-out file too (not "label `` was not seen in training").
    std::fs::write(d.join("t.csv"), "label,sequence\na,AB\nb,BA\na,ABB\nb,BBA\n").unwrap();
    std::fs::write(d.join("v.csv"), "label,sequence\na,AB\n,BA\n").unwrap();
    recur(d, &["train", "classify", "--data", "t.csv", "--valid-data", "v.csv", "-q"])
        .fails_with("v.csv: line 3: the label is empty; every row needs its class");
}

#[test]
fn a_tsv_series_is_read_with_tabs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tsv = std::fs::read_to_string(example("sine.csv")).unwrap().replace(',', "\t");
    std::fs::write(d.join("s.tsv"), tsv).unwrap();
    let o = recur(d, &["train", "forecast", "--data", "s.tsv", "--epochs", "1", "-q"]).ok().stdout();
    assert!(o.contains("held-out RMSE"), "{o}");
    let p =
        recur(d, &["predict", "--model", "forecast.safetensors", "--input", "s.tsv", "--ahead", "2"]).ok();
    assert!(p.stdout().starts_with("step,value\n1,"), "{}", p.stdout());
}
