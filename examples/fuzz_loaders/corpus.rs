//! The seed corpus, `fuzz/corpus/<target>/`: small valid files cut from recur's test fixtures
//! and example data, and a few made by hand for the corners of each format (other dtypes and
//! versions, empty arrays, quoting, byte-order marks, several gzip members). `--make-corpus`
//! writes it again; the files are committed, so a campaign needs no fixtures.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

type Seeds = Vec<(String, Vec<u8>)>;

fn read(root: &Path, rel: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(root.join(rel)).map_err(|e| std::io::Error::new(e.kind(), format!("{rel}: {e}")))
}

/// The first `n` lines of a text file.
fn head(root: &Path, rel: &str, n: usize) -> std::io::Result<Vec<u8>> {
    let text = read(root, rel)?;
    Ok(text.split_inclusive(|&b| b == b'\n').take(n).flatten().copied().collect())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// A `.npy` file: `header` is the dict's text, padded as NumPy pads it.
fn npy(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let ls = if major == 1 { 2 } else { 4 };
    let mut h = header.to_string();
    while !(8 + ls + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if ls == 2 {
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

fn dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// An IDX file of unsigned bytes.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A model file with every tensor as F64 (recur reads those too), or without its metadata
/// (a PyTorch-style file whose architecture is inferred).
fn resave(bytes: &[u8], f64s: bool, keep_meta: bool) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).expect("a fixture is a safetensors file");
    let (_, meta) = SafeTensors::read_metadata(bytes).expect("a fixture is a safetensors file");
    let mut names = st.names();
    names.sort();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let t = st.tensor(n).expect("listed");
            let d = if f64s {
                t.data()
                    .chunks_exact(4)
                    .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
                    .collect()
            } else {
                t.data().to_vec()
            };
            (n.to_string(), t.shape().to_vec(), d)
        })
        .collect();
    let dtype = if f64s { Dtype::F64 } else { Dtype::F32 };
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(dtype, s.clone(), d).expect("consistent")))
        .collect();
    let meta = if keep_meta { meta.metadata().clone() } else { None };
    let out = safetensors::serialize(views, meta).expect("serializes");
    // The header again with its keys sorted, so the corpus is the same on every run.
    let n = u64::from_le_bytes(out[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&out[8..8 + n]).expect("JSON");
    let mut text = serde_json::to_vec(&header).expect("serializes");
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    [&(text.len() as u64).to_le_bytes()[..], &text, &out[8 + n..]].concat()
}

fn seeds(root: &Path) -> std::io::Result<Vec<(&'static str, Seeds)>> {
    let fx = |rel: &str| read(root, &format!("tests/fixtures/{rel}"));
    let mut out = Vec::new();

    let mut st = Seeds::new();
    for f in [
        "regress_rnn",
        "forecast_rnn_l2",
        "lstm_l1_step_bce",
        "rnn_l2_bi_last_ce_stateful",
        "classify_lstm_emb",
        "gru_l3_bi_last_bce_emb_init",
        "lstm_l2_step_ce_init_stateful",
    ] {
        st.push((format!("{f}.safetensors"), fx(&format!("onnx/{f}.safetensors"))?));
    }
    st.push(("torch_gru.safetensors".into(), fx("torch_model_gru.safetensors")?));
    st.push(("torch_bilstm.safetensors".into(), fx("torch_model_bilstm.safetensors")?));
    let small = fx("onnx/regress_rnn.safetensors")?;
    st.push(("regress_rnn_f64.safetensors".into(), resave(&small, true, true)));
    st.push(("regress_rnn_no_metadata.safetensors".into(), resave(&small, false, false)));
    out.push(("safetensors", st));

    let f4 = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let x: Seeds = vec![
        ("torch_gru_input.npy".into(), fx("torch_model_gru_input.npy")?),
        ("regress_rnn_input.npy".into(), fx("onnx/regress_rnn_input.npy")?),
        (
            "f8.npy".into(),
            npy(
                1,
                &dict("<f8", "(2, 3)"),
                &[1.5f64, -2.0, 0.0, 1e300, -1e-300, 7.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("u1.npy".into(), npy(1, &dict("|u1", "(4,)"), &[0, 1, 128, 255])),
        ("b1.npy".into(), npy(1, &dict("|b1", "(3,)"), &[0, 1, 2])),
        ("i2.npy".into(), npy(1, &dict("<i2", "(2, 2)"), &[1, 0, 0xff, 0xff, 0, 0x80, 0xff, 0x7f])),
        ("scalar.npy".into(), npy(1, &dict("<f4", "()"), &f4(&[3.5]))),
        ("empty.npy".into(), npy(1, &dict("<f4", "(0, 5)"), &[])),
        ("v2.npy".into(), npy(2, &dict("<f4", "(2,)"), &f4(&[1.0, 2.0]))),
        ("v3.npy".into(), npy(3, &dict("<f4", "(1,)"), &f4(&[1.0]))),
        (
            "double_quotes_long.npy".into(),
            npy(1, "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<f4\",}", &f4(&[1.0, 2.0])),
        ),
        (
            "fortran_1d.npy".into(),
            npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", &f4(&[1.0, 2.0, 3.0])),
        ),
    ];
    out.push(("npy", x));

    let mut y = Seeds::new();
    y.push(("regress_rnn_lengths.npy".into(), fx("onnx/regress_rnn_lengths.npy")?));
    let ints: [(&str, usize, &[u8]); 9] = [
        ("|u1", 1, &[0, 7, 255]),
        ("|i1", 1, &[0x80, 0xff, 1]),
        ("<i2", 2, &[1, 0, 0xff, 0xff, 0, 0x80]),
        ("<u2", 2, &[1, 0, 0xff, 0xff, 0, 0x80]),
        ("<i4", 4, &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80]),
        ("<u4", 4, &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80]),
        (
            "<i8",
            8,
            &[
                1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0,
                0x80,
            ],
        ),
        (
            "<u8",
            8,
            &[1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 2, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("|b1", 1, &[1, 0, 1]),
    ];
    for (descr, size, data) in ints {
        let name = format!("{}.npy", descr.trim_start_matches(['<', '|']));
        y.push((name, npy(1, &dict(descr, &format!("({},)", data.len() / size)), data)));
    }
    y.push((
        "labels_2d.npy".into(),
        npy(
            1,
            &dict("<i8", "(2, 2)"),
            &[1u64, 0, 2, 1].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
        ),
    ));
    y.push(("floats.npy".into(), npy(1, &dict("<f4", "(2,)"), &f4(&[1.0, 2.0]))));
    out.push(("npy-ints", y));

    let images =
        recur::data::idx::read_idx(&root.join("tests/fixtures/mnist_small/t10k-images-idx3-ubyte.gz"))
            .map_err(std::io::Error::other)?;
    let labels =
        recur::data::idx::read_idx(&root.join("tests/fixtures/mnist_small/t10k-labels-idx1-ubyte.gz"))
            .map_err(std::io::Error::other)?;
    let images3 = idx(&[3, 28, 28], &images.data[..3 * 784]);
    let labels20 = idx(&[20], &labels.data[..20]);
    let small2d = idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    let four = idx(&[1, 1, 2, 2], &[9, 8, 7, 6]);
    let empty = idx(&[0, 28, 28], &[]);
    out.push((
        "idx",
        vec![
            ("images3-idx3-ubyte".into(), images3.clone()),
            ("labels20-idx1-ubyte".into(), labels20.clone()),
            ("small2d-idx2-ubyte".into(), small2d.clone()),
            ("four-idx4-ubyte".into(), four.clone()),
            ("empty-idx3-ubyte".into(), empty),
        ],
    ));
    let mut two_members = gzip(&small2d[..7]);
    two_members.extend(gzip(&small2d[7..]));
    out.push((
        "idx-gz",
        vec![
            ("images2-idx3-ubyte.gz".into(), gzip(&idx(&[2, 28, 28], &images.data[..2 * 784]))),
            ("labels200-idx1-ubyte.gz".into(), fx("mnist_small/t10k-labels-idx1-ubyte.gz")?),
            ("labels20-idx1-ubyte.gz".into(), gzip(&labels20)),
            ("two-members-idx2-ubyte.gz".into(), two_members),
            ("four-idx4-ubyte.gz".into(), gzip(&four)),
        ],
    ));

    let ex = |rel: &str, n: usize| head(root, &format!("examples/data/{rel}"), n);
    let tabs = |b: Vec<u8>| b.into_iter().map(|c| if c == b',' { b'\t' } else { c }).collect::<Vec<u8>>();
    out.push((
        "csv",
        vec![
            ("proteins.csv".into(), ex("proteins.csv", 8)?),
            ("pairs.csv".into(), ex("pairs.csv", 5)?),
            ("sums.csv".into(), replace_first(&ex("sums.csv", 6)?, b"target", b"label")),
            ("tags.csv".into(), ex("tags.csv", 6)?),
            ("suffix_tags.csv".into(), ex("suffix_tags.csv", 5)?),
            (
                "quoted_crlf_bom.csv".into(),
                b"\xef\xbb\xbf\"label\",\"sequence\",extra\r\nbinder,\"ARTM\",1\r\nother,\"C,NL\",2\r\n"
                    .to_vec(),
            ),
            ("steps.csv".into(), b"label,sequence\n1.5,0.1;0.5;-2\n-3,0.1 2;0.5 3;\n0,7\n".to_vec()),
            ("step_labels.csv".into(), b"sequence,label\nABC,B-PER I-PER O\nAB,HH\n".to_vec()),
        ],
    ));
    out.push((
        "tsv",
        vec![
            ("proteins.tsv".into(), tabs(ex("proteins.csv", 6)?)),
            ("pairs.tsv".into(), tabs(ex("pairs.csv", 4)?)),
            ("tags.tsv".into(), tabs(ex("tags.csv", 4)?)),
        ],
    ));
    out.push((
        "jsonl",
        vec![
            ("proteins.jsonl".into(), ex("proteins.jsonl", 6)?),
            ("sums.jsonl".into(), ex("sums.jsonl", 4)?),
            ("pairs.jsonl".into(), ex("pairs.jsonl", 3)?),
            (
                "lists_bom_blank.jsonl".into(),
                "\u{feff}{\"x\": \"ABC\", \"y\": [\"H\", \"o\", \"H\"]}\n\n{\"x\": [[1, 2], [3, 4]], \"y\": 3}\n  \n{\"y\": 1.5, \"x\": [0.5]}"
                    .as_bytes()
                    .to_vec(),
            ),
        ],
    ));
    out.push((
        "series",
        vec![
            ("sine.csv".into(), ex("sine.csv", 40)?),
            (
                "two_columns.csv".into(),
                b"date,a,b\n2024-01-01,1,2.5\n2024-01-02,2,-1e3\n2024-01-03, 3 ,0\n".to_vec(),
            ),
            ("step_column.csv".into(), b"step,value\n0,0.5\n1,0.25\n2,0.125\n".to_vec()),
        ],
    ));
    out.push((
        "text",
        vec![
            ("belling_the_cat.txt".into(), read(root, "data/belling_the_cat.txt")?),
            (
                "unicode.txt".into(),
                "\u{c7}a va? Don't panic \u{2014} it's 3 o'clock.\r\n\u{65e5}\u{672c}\u{8a9e} \u{1f980} e\u{301}t\u{e9}.\n\tcat's cat's CAT"
                    .as_bytes()
                    .to_vec(),
            ),
            ("two_words.txt".into(), b"a b".to_vec()),
        ],
    ));
    out.push((
        "metrics",
        vec![
            (
                "run.jsonl".into(),
                b"{\"epoch\": 1, \"step\": 10, \"seconds\": 0.5, \"train_loss\": 1.25, \"valid_error\": 12.5}\n\
                  {\"epoch\": 2, \"step\": 20, \"seconds\": 1.0, \"train_loss\": 0.75, \"valid_error\": 8.0, \"valid_rmse\": null}\n\
                  {\"epoch\": 3, \"step\": 30, \"sec"
                    .to_vec(),
            ),
            ("lm.jsonl".into(), b"{\"step\": 250, \"train_loss\": 2.5, \"valid_loss\": 2.4, \"valid_bits\": 3.46}\n".to_vec()),
        ],
    ));
    out.push(("train-state", train_states()));
    Ok(out)
}

/// Training states as checkpoints write them: one with optimizer moments and carried
/// streams, one with an early-stopping best and no moments yet.
fn train_states() -> Seeds {
    use recur::model::State;
    use recur::train::checkpoint::{Checkpoint, Progress, checksum};
    let run =
        serde_json::json!({"task": {"name": "text"}, "model": {"hidden_sizes": [3]}, "train": {"seed": 1}});
    let progress =
        Progress { epoch: 1, next_step: 2, step: 7, rng_word_pos: "448".into(), ..Default::default() };
    let lm = Checkpoint {
        run: run.clone(),
        progress: progress.clone(),
        params: vec![0.5, -1.0, 0.25, 2.0],
        optim_m: vec![0.1, 0.2, 0.3, 0.4],
        optim_v: vec![0.01, 0.02, 0.03, 0.04],
        carried: Some(State { h: vec![vec![0.1, 0.2], vec![0.3]], c: vec![vec![0.4, 0.5], vec![0.6]] }),
        best_params: None,
        model_checksum: Some(checksum(b"model")),
        previous_model_checksum: Some(checksum(b"older")),
    };
    let best = Checkpoint {
        run,
        progress: Progress { best_score: Some(0.5), since_best: 2, ..progress },
        params: vec![1.0, 2.0],
        best_params: Some(vec![3.0, 4.0]),
        ..Checkpoint::default()
    };
    vec![
        ("lm.safetensors.state".into(), lm.to_bytes().expect("serializes")),
        ("best.safetensors.state".into(), best.to_bytes().expect("serializes")),
    ]
}

/// Writes the corpus into `dir` (one folder per target), replacing what was there.
pub fn make(root: &Path, dir: &Path) -> std::io::Result<()> {
    for (target, files) in seeds(root)? {
        let d = dir.join(target);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        std::fs::create_dir_all(&d)?;
        let total: usize = files.iter().map(|f| f.1.len()).sum();
        for (name, bytes) in &files {
            std::fs::write(d.join(name), bytes)?;
        }
        println!("{}: {} files, {total} bytes", d.display(), files.len());
    }
    Ok(())
}

/// `bytes` with the first `from` as `to` (sums.csv's `target` column read as the label).
fn replace_first(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    match bytes.windows(from.len()).position(|w| w == from) {
        Some(i) => [&bytes[..i], to, &bytes[i + from.len()..]].concat(),
        None => bytes.to_vec(),
    }
}
